"""The store on SQLite and on the real PostgreSQL server: schema, writes, queries, retention."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dronewatch.model import Alert, AlertStatus, Observation, Severity, Track, Transport
from dronewatch.server.service import Counters, Writer
from dronewatch.store import SensorSeen, Store, StoreError, WriteBatch, database_url
from dronewatch.store.models import Base
from dronewatch.store.records import alert_record, observation_row, track_record


def make_track(tid: str, lat: float, lon: float, t: float, **kw: Any) -> Track:
    return Track(
        track_id=tid,
        first_seen=t - 10,
        last_seen=t,
        lat=lat,
        lon=lon,
        transports={"wifi-beacon"},
        sensors={"s1"},
        **kw,
    )


def batch_for(track: Track, n: int, t0: float) -> WriteBatch:
    b = WriteBatch()
    for i in range(n):
        t = t0 + i
        obs = Observation(
            time=t,
            transport=Transport.WIFI_BEACON,
            message_type="location",
            sensor_id="s1",
            uas_id=track.uas_id,
            lat=track.lat,
            lon=track.lon,
        )
        b.observations.append(observation_row(obs, track.track_id))
        b.positions.append(
            (track.track_id, t, track.lat, (track.lon or 0) + i * 1e-4, 100.0 + i, 1.5, 2.5)
        )
    b.tracks[track.track_id] = track_record(track)
    b.sensors["s1"] = SensorSeen(t0, t0 + n - 1, n)
    return b


def make_alert(
    aid: str,
    tid: str,
    t: float,
    status: AlertStatus = AlertStatus.OPEN,
    severity: Severity = Severity.WARNING,
) -> Alert:
    return Alert(
        alert_id=aid,
        rule="zone",
        severity=severity,
        status=status,
        track_id=tid,
        time=t,
        message=f"{tid} in zone",
        zone="Z",
        lat=1.0,
        lon=2.0,
        details={"dist_m": 12.5, "tags": ("a", "b")},
    )


def test_database_url() -> None:
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ValueError, match="unsupported"):
        database_url("mysql://h/db")


def test_migrations_match_models(store: Store) -> None:
    assert store.schema_revision() == "0001"
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrate_is_idempotent(db_url: str) -> None:
    Store.open(db_url).close()
    s = Store.open(db_url)  # second start: nothing to do, no error
    assert s.schema_revision() == "0001"
    s.close()


def test_write_and_read_tracks(store: Store) -> None:
    tr = make_track("t1", 46.5, 6.6, 1000.0, uas_id="UAS-ONE", operator_id="OP-1", product="Mini 4")
    store.write(batch_for(tr, 5, 996.0))
    tr2 = make_track("t2", 10.0, 20.0, 2000.0, serial="SER-2")
    store.write(batch_for(tr2, 3, 1998.0))
    tracks = store.list_tracks()
    assert [t["track_id"] for t in tracks] == ["t2", "t1"]  # newest first
    t1 = tracks[1]
    assert t1["positions"] == 5
    assert t1["transports"] == ["wifi-beacon"]
    assert t1["trail"][0] == [996.0, 46.5, 6.6, 100.0]
    assert len(t1["trail"]) == 5 and t1["trail"][-1][0] == 1000.0
    # the second batch for t1 adds positions and keeps the earliest first_seen
    tr.last_seen = 1010.0
    store.write(batch_for(tr, 2, 1008.0))
    one = store.get_track("t1")
    assert one is not None
    assert one["positions"][-1][0] == 1009.0 and len(one["positions"]) == 7
    assert one["first_seen"] == 990.0 and one["last_seen"] == 1010.0
    assert store.get_track("nope") is None
    assert store.counts() == {"observations": 10, "tracks": 2, "positions": 10, "alerts": 0}
    sensors = store.list_sensors()
    assert sensors[0]["sensor_id"] == "s1" and sensors[0]["frames"] == 10
    assert sensors[0]["first_seen"] == 996.0 and sensors[0]["last_seen"] == 2000.0


def test_track_filters(store: Store) -> None:
    store.write(batch_for(make_track("a", 46.5, 6.6, 1000.0, uas_id="ABC123"), 1, 1000.0))
    b = make_track("b", 10.0, 20.0, 2000.0, serial="XYZ9")
    b.state = "ended"
    store.write(batch_for(b, 1, 2000.0))
    ids = lambda **kw: [t["track_id"] for t in store.list_tracks(**kw)]  # noqa: E731
    assert ids(bbox=(6.0, 46.0, 7.0, 47.0)) == ["a"]
    assert ids(bbox=(0.0, 0.0, 1.0, 1.0)) == []
    assert ids(q="xyz") == ["b"]
    assert ids(q="abc1") == ["a"]
    assert ids(active=True) == ["a"]
    assert ids(active=False) == ["b"]
    assert ids(since=1500.0) == ["b"]
    assert ids(until=1500.0) == ["a"]
    assert ids(limit=1) == ["b"]
    assert store.newest_time() == 2000.0


def test_alert_episode_ack_and_comments(store: Store) -> None:
    store.write(batch_for(make_track("t1", 1.0, 2.0, 100.0), 1, 100.0))
    b = WriteBatch()
    b.alerts.append(alert_record(make_alert("al-1", "t1", 100.0)))
    store.write(b)
    got = store.ack_alert("al-1", "operator-1", "checking")
    assert got is not None and got["acknowledged"] and got["ack_by"] == "operator-1"
    assert [c["text"] for c in got["comments"]] == ["checking"]
    # the episode escalates: the row is updated, acknowledgement and first_time kept
    b = WriteBatch()
    b.alerts.append(
        alert_record(make_alert("al-1", "t1", 130.0, AlertStatus.UPDATE, Severity.CRITICAL))
    )
    store.write(b)
    a = store.get_alert("al-1")
    assert a is not None
    assert (a["status"], a["severity"], a["time"], a["first_time"]) == (
        "update",
        "critical",
        130.0,
        100.0,
    )
    assert a["acknowledged"] and a["details"] == {"dist_m": 12.5, "tags": ["a", "b"]}
    assert store.list_alerts(status="open") == []  # acknowledged
    assert [x["alert_id"] for x in store.list_alerts(status="all")] == ["al-1"]
    store.add_comment("al-1", "admin", "second")
    a = store.get_alert("al-1")
    assert a is not None and [c["text"] for c in a["comments"]] == ["checking", "second"]
    assert store.ack_alert("missing", "x") is None
    assert store.add_comment("missing", "x", "y") is None


def test_zones_whitelist(store: Store) -> None:
    geom = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    z = store.put_zone("z1", geom, {"name": "Prison", "severity": "critical"})
    assert z == {
        "type": "Feature",
        "id": "z1",
        "geometry": geom,
        "properties": {"name": "Prison", "severity": "critical"},
    }
    store.put_zone("z1", geom, {"name": "Prison B"})
    assert [f["properties"]["name"] for f in store.list_zones()] == ["Prison B"]
    assert store.delete_zone("z1") and not store.delete_zone("z1")
    assert store.get_zone("z1") is None
    assert store.set_whitelist([" B ", "A", "A", ""]) == ["A", "B"]
    assert store.get_whitelist() == ["A", "B"]


def test_retention_purge(store: Store) -> None:
    store.write(batch_for(make_track("old", 1.0, 2.0, 100.0), 3, 98.0))
    store.write(batch_for(make_track("new", 1.0, 2.0, 5000.0), 2, 4999.0))
    b = WriteBatch()
    b.alerts.append(alert_record(make_alert("a-old", "old", 100.0)))
    b.alerts.append(alert_record(make_alert("a-new", "new", 5000.0)))
    store.write(b)
    store.add_comment("a-old", "x", "note")
    deleted = store.purge(1000.0)
    assert deleted == {"observations": 3, "positions": 3, "alerts": 1, "tracks": 1}
    assert [t["track_id"] for t in store.list_tracks()] == ["new"]
    assert store.counts() == {"observations": 2, "tracks": 1, "positions": 2, "alerts": 1}


def test_history(store: Store) -> None:
    store.write(batch_for(make_track("t1", 46.0, 6.0, 1004.0, uas_id="U1"), 5, 1000.0))
    h = store.history(1001.0, 1003.0)
    assert len(h) == 1 and [p[0] for p in h[0]["points"]] == [1001.0, 1002.0, 1003.0]
    assert h[0]["operator"] == [[1001.0, 1.5, 2.5]]
    assert store.history(1001.0, 1003.0, bbox=(50.0, 50.0, 51.0, 51.0)) == []
    rows = list(store.iter_observations(1000.0, 1002.0))
    assert [r["time"] for r in rows] == [1000.0, 1001.0, 1002.0]
    assert rows[0]["uas_id"] == "U1" and rows[0]["track_id"] == "t1"


def test_restart_keeps_everything(db_url: str) -> None:
    s = Store.open(db_url)
    s.write(batch_for(make_track("t1", 46.0, 6.0, 1004.0, uas_id="U1"), 5, 1000.0))
    s.set_whitelist(["U1"])
    s.end_live_tracks()
    s.close()
    s = Store.open(db_url)
    t = s.get_track("t1")
    assert t is not None and len(t["positions"]) == 5 and t["state"] == "ended"
    assert s.get_whitelist() == ["U1"]
    s.close()


def test_bulk_write_many_rows(store: Store) -> None:
    b = WriteBatch()
    for i in range(5000):
        obs = Observation(
            time=float(i), transport=Transport.BLE_LEGACY, message_type="location", lat=1.0, lon=2.0
        )
        b.observations.append(observation_row(obs, f"t{i % 10}"))
    t0 = time.perf_counter()
    store.write(b)
    assert time.perf_counter() - t0 < 5.0
    assert store.counts()["observations"] == 5000


def test_locked_sqlite_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = Store.open(path, busy_timeout_s=0.05)
    locker = sqlite3.connect(path, timeout=0.05)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            store.write(batch_for(make_track("t", 1.0, 2.0, 5.0), 1, 5.0))
        # The writer thread retries, counts the failures and reports itself degraded ...
        counters = Counters()
        writer = Writer(store, counters, retries=50)
        writer.start()
        writer.put(batch_for(make_track("t", 1.0, 2.0, 5.0), 2, 5.0))
        deadline = time.monotonic() + 5
        while counters.db_errors < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert counters.degraded and counters.db_errors >= 2
        assert "locked" in (counters.last_db_error or "")
    finally:
        locker.rollback()
        locker.close()
    # ... and recovers when the lock goes: nothing was lost.
    assert writer.flush(10.0)
    writer.stop()
    assert not counters.degraded and counters.db_rows_lost == 0
    assert store.counts()["observations"] == 2
    store.close()


def test_writer_counts_lost_rows(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "x.db", busy_timeout_s=0.01)
    locker = sqlite3.connect(tmp_path / "x.db", timeout=0.01)
    locker.execute("BEGIN EXCLUSIVE")
    counters = Counters()
    writer = Writer(store, counters, retries=1)
    writer.start()
    writer.put(batch_for(make_track("t", 1.0, 2.0, 5.0), 3, 5.0))
    assert writer.flush(10.0)
    locker.rollback()
    locker.close()
    writer.stop()
    assert counters.db_rows_lost == 3 + 3 + 1 and counters.db_errors == 2
    store.close()


def test_concurrent_readers_and_writer(store: Store) -> None:
    errors: list[Exception] = []

    def read() -> None:
        try:
            for _ in range(20):
                store.list_tracks()
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(20):
        store.write(batch_for(make_track(f"t{i}", 1.0, 2.0, 10.0 + i), 5, float(i)))
    for t in threads:
        t.join()
    assert errors == [] and store.counts()["tracks"] == 20


def test_non_finite_values_and_long_identities(store: Store) -> None:
    long_serial = "S" * 300  # e.g. a French beacon serial: no length limit in the schema
    tr = make_track("t-long", 1.0, 2.0, 10.0, serial=long_serial)
    tr.rssi_by_sensor = {"s1": float("nan")}
    store.write(batch_for(tr, 1, 10.0))
    b = WriteBatch()
    alert = make_alert("a-nan", "t-long", 10.0)
    alert.details = {"dist_m": float("inf"), "ok": 1.5}
    b.alerts.append(alert_record(alert))
    store.write(b)
    got = store.get_alert("a-nan")
    assert got is not None and got["details"] == {"dist_m": None, "ok": 1.5}
    t = store.get_track("t-long")
    assert t is not None and t["serial"] == long_serial and t["rssi_by_sensor"] == {"s1": None}


def test_stream_events_never_carry_nan() -> None:
    from dronewatch.server.bus import event

    kind, text = event("alert", alert={"x": float("nan"), "y": [1.0, float("-inf")]})
    assert kind == "alert" and text == '{"kind":"alert","alert":{"x":null,"y":[1.0,null]}}'


def test_full_queue_while_degraded_does_not_stall(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "x.db", busy_timeout_s=0.01)
    counters = Counters()
    writer = Writer(store, counters, maxsize=1)  # not started: nothing drains the queue
    assert writer.put(batch_for(make_track("t", 1.0, 2.0, 5.0), 1, 5.0))
    counters.degraded = True
    t0 = time.monotonic()
    assert not writer.put(batch_for(make_track("t", 1.0, 2.0, 5.0), 2, 5.0))
    assert time.monotonic() - t0 < 2.0 and counters.db_rows_lost == 2 + 2 + 1
    store.close()
