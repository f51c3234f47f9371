"""The server on the real PostgreSQL server: replay, API, restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import CAPTURE, UAS_ID, VIEWER, make_settings, wait_idle
from tests.store.pgutil import pg_databases

from dronewatch.server.app import create_app


@pytest.mark.postgres
def test_replay_into_postgres_and_restart(tmp_path: Path) -> None:
    with pg_databases() as make:
        url = make()
        app = create_app(make_settings(tmp_path, db=url, replay=[CAPTURE]))
        with TestClient(app) as client:
            wait_idle(app.state.ctx)
            assert client.get("/health").json()["db"] == "postgresql"
            drones = client.get("/api/drones", headers=VIEWER).json()
            assert [d["uas_id"] for d in drones] == [UAS_ID]
            n = drones[0]["positions"]
            alerts = client.get("/api/alerts?status=all", headers=VIEWER).json()
            assert "Test field" in {a["zone"] for a in alerts}
            assert client.get("/api/stats", headers=VIEWER).json()["tables"]["observations"] == 105
        app.state.ctx.store.close()
        app2 = create_app(make_settings(tmp_path, db=url))
        with TestClient(app2) as client:
            drones = client.get("/api/drones", headers=VIEWER).json()
            assert drones[0]["uas_id"] == UAS_ID and drones[0]["positions"] == n
            assert drones[0]["state"] == "ended"
            hist = client.get("/api/history", headers=VIEWER).json()
            assert len(hist["tracks"][0]["points"]) == n
        app2.state.ctx.store.close()
