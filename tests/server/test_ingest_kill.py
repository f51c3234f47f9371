"""Nothing acknowledged is lost, nothing redelivered is stored twice: sensors publish a scene
through a Mosquitto of our own as fast as it acknowledges; the server (``dronewatch serve
--mqtt``, a process) is killed with SIGKILL when about a fifth is stored and restarted 3 s
later on the same database; later the broker is restarted. Every observation is stored exactly
once, on SQLite and on PostgreSQL. (bench/ingest_durable.py --kill runs each case apart at
acceptance size, >= 100,000 observations.)"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from tests.server.ingestutil import run_kill_case
from tests.store.pgutil import pg_databases


@pytest.mark.mqtt
@pytest.mark.slow
@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_server_killed_and_broker_restarted_every_observation_stored_once(
    database: str, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        if database == "sqlite":
            db = str(tmp_path / "dw.db")
        else:
            db = stack.enter_context(pg_databases())()
        run_kill_case(db, tmp_path, drones=10, seconds=60.0)
