"""The server's unknown_drone rule: off while the whitelist is empty (it would flag every
drone), on once it lists an ID, or always with ``unknown_drone=True``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import ADMIN, VIEWER, make_settings
from tests.server.test_live import feed_capture

from dronewatch.alerts.options import AlertOptions
from dronewatch.server.app import create_app


def _rules(tmp_path: Path, **kw: object) -> set[str]:
    app = create_app(make_settings(tmp_path, **kw))
    try:
        with TestClient(app) as client:
            feed_capture(client)
            alerts = client.get("/api/alerts?status=all", headers=VIEWER).json()
            return {a["rule"] for a in alerts}
    finally:
        app.state.ctx.store.close()


@pytest.mark.parametrize(
    ("kw", "flagged"),
    [
        ({}, False),  # empty whitelist: no rule
        ({"whitelist_ids": ["SOMEONE-ELSE"]}, True),
        ({"alerts": AlertOptions(unknown_drone=True)}, True),
        ({"whitelist_ids": ["SOMEONE-ELSE"], "alerts": AlertOptions(unknown_drone=False)}, False),
    ],
)
def test_unknown_drone_rule(tmp_path: Path, kw: dict[str, object], flagged: bool) -> None:
    rules = _rules(tmp_path, **kw)
    assert "zone_entry" in rules  # the capture did raise alerts
    assert ("unknown_drone" in rules) is flagged


def test_whitelist_edit_turns_the_rule_on(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    try:
        with TestClient(app) as client:
            ctx = app.state.ctx
            assert ctx.processor.pipeline.engine.whitelist is None
            r = client.put("/api/whitelist", headers=ADMIN, json={"ids": ["SOMEONE-ELSE"]})
            assert r.status_code == 200
            ctx.service.idle()
            assert ctx.processor.pipeline.engine.whitelist is not None
            client.put("/api/whitelist", headers=ADMIN, json={"ids": []})
            ctx.service.idle()
            assert ctx.processor.pipeline.engine.whitelist is None
    finally:
        app.state.ctx.store.close()
