"""Nothing acknowledged is lost, nothing redelivered is stored twice: sensors publish a scene
through a Mosquitto of our own as fast as it acknowledges; the server (``dronewatch serve
--mqtt``, a process) is killed with SIGKILL when about a fifth is stored and restarted 3 s
later on the same database; later the broker is restarted. Every observation is stored exactly
once, on SQLite and on PostgreSQL. (bench/ingest_durable.py --kill runs each case apart at
acceptance size, >= 100,000 observations.)"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tests.server.ingestutil import (
    OwnBroker,
    Sensors,
    ServerProcess,
    count_observations,
    observation_keys,
    scenario_frames,
    stored_keys,
    wait_for,
)
from tests.sources.mqttutil import unique_prefix
from tests.store.pgutil import pg_databases

from dronewatch.store import Store

SENSORS = ["north", "east", "south", "west"]


def health(log: Path) -> tuple[int, dict[str, Any]]:
    ports = re.findall(r"serving on http://127\.0\.0\.1:(\d+)/", log.read_text())
    if not ports:
        return 0, {}
    req = urllib.request.Request(f"http://127.0.0.1:{ports[-1]}/health")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def subscribed(log: Path) -> bool:
    try:
        code, h = health(log)
    except OSError:
        return False
    return bool(code) and all(s["detail"]["subscribed"] for s in h["sources"])


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
        run_kill_case(db, tmp_path)


def run_kill_case(db: str, tmp_path: Path) -> None:
    t0 = time.monotonic()

    def mark(what: str) -> None:
        print(f"{time.monotonic() - t0:6.1f} s  {what}")

    frames = scenario_frames(10, 60.0, SENSORS)
    expected = observation_keys(frames)
    total = sum(expected.values())
    store = Store.open(db)
    prefix = unique_prefix()
    log = tmp_path / "server.log"
    with OwnBroker(tmp_path / "broker") as broker:
        server = ServerProcess(db, broker.url(), prefix, log).start()
        try:
            # The first start makes the server's session at the broker: from then on the
            # broker keeps what the sensors publish, whether the server runs or not.
            wait_for(lambda: server.check_running() or subscribed(log), 120, "the subscription")
            mark("subscribed")
            sensors = Sensors(broker.url(), prefix, frames, batch_frames=32).start()
            stored = lambda: count_observations(store)  # noqa: E731
            wait_for(lambda: server.check_running() or stored() >= total / 5, 120, "a fifth")
            mark("a fifth stored")
            server.kill()
            at_kill = stored()
            assert at_kill < total, "everything was stored before the kill: nothing tested"
            time.sleep(3.0)
            mark("restarting")
            server.start()
            wait_for(lambda: server.check_running() or stored() >= 3 * total / 5, 120, "3/5")
            mark("3/5 stored")
            broker.stop()  # what it accepted and did not deliver is saved ...
            time.sleep(3.0)
            broker.start()  # ... and delivered after it comes back
            mark("broker restarted")
            sensors.join()
            wait_for(lambda: server.check_running() or stored() >= total, 180, "everything")
            mark("all stored")
            # Nothing more comes: the redeliveries were not stored again.
            wait_for(lambda: health(log)[1]["threads"]["writer"]["queued"] == 0, 30, "idle")
            time.sleep(1.0)
            assert stored_keys(store) == expected  # each observation exactly once
            code, h = health(log)
            assert code == 200 and h["status"] in ("ok", "degraded"), h["causes"]
            assert sensors.published == len(frames)
            by_sensor = {s["sensor_id"]: s for s in h["sensors"]}
            print({k: (v["duplicates"], v["messages"]) for k, v in by_sensor.items()})
            assert set(by_sensor) == set(SENSORS)
            assert all(s["batches_missing"] == 0 for s in by_sensor.values())
            assert h["counters"]["db_rows_rejected"] == 0 and h["counters"]["db_rows_lost"] == 0
        finally:
            server.stop()
            store.close()
    print(f"{db.split(':')[0]}: {len(frames)} frames, {total} observations published; killed at "
          f"{at_kill} stored; {total} stored once; after the restart: {h['counters']}")
