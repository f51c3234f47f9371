"""The store on SQLite and on the real PostgreSQL server: schema, writes, queries, retention."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dronewatch.model import Alert, AlertStatus, Observation, Severity, Track, Transport
from dronewatch.server.service import Counters, Writer
from dronewatch.sources.live import BatchKey
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
    assert store.schema_revision() == "0004"
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrate_is_idempotent(db_url: str) -> None:
    Store.open(db_url).close()
    s = Store.open(db_url)  # second start: nothing to do, no error
    assert s.schema_revision() == "0004"
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
    assert deleted == {
        "observations": 3, "positions": 3, "alerts": 1, "tracks": 1, "ingest_batches": 0
    }
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
        writer = Writer(store, counters)
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


def test_writer_keeps_a_batch_until_the_database_takes_it(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "x.db", busy_timeout_s=0.01)
    locker = sqlite3.connect(tmp_path / "x.db", timeout=0.01)
    locker.execute("BEGIN EXCLUSIVE")
    counters = Counters()
    writer = Writer(store, counters, retry_max_s=0.05)
    writer.start()
    acked: list[int] = []
    batch = batch_for(make_track("t", 1.0, 2.0, 5.0), 3, 5.0)
    batch.acks.append(lambda: acked.append(1))
    writer.put(batch)
    deadline = time.monotonic() + 10
    while counters.db_errors < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert counters.db_errors >= 20 and counters.db_failing_since is not None
    assert acked == [] and not writer.flush(0.1)  # held, not dropped, not acknowledged
    locker.rollback()
    locker.close()
    assert writer.flush(10.0)
    assert acked == [1] and counters.db_failing_since is None and counters.db_rows_lost == 0
    assert store.counts()["observations"] == 3
    writer.stop()
    store.close()


def test_writer_gives_up_only_at_shutdown(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "x.db", busy_timeout_s=0.01)
    locker = sqlite3.connect(tmp_path / "x.db", timeout=0.01)
    locker.execute("BEGIN EXCLUSIVE")
    counters = Counters()
    writer = Writer(store, counters, retry_max_s=0.05)
    writer.start()
    acked: list[int] = []
    batch = batch_for(make_track("t", 1.0, 2.0, 5.0), 3, 5.0)
    batch.acks.append(lambda: acked.append(1))
    writer.put(batch)
    writer.stop(10.0)
    locker.rollback()
    locker.close()
    assert counters.db_rows_lost == 3 + 3 + 1 and acked == []  # counted, never acknowledged
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


def test_a_full_queue_holds_the_producer_until_stopped(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "x.db", busy_timeout_s=0.01)
    counters = Counters()
    writer = Writer(store, counters, maxsize=1)  # not started: nothing drains the queue
    assert writer.put(batch_for(make_track("t", 1.0, 2.0, 5.0), 1, 5.0))
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    assert not writer.put(batch_for(make_track("t", 1.0, 2.0, 5.0), 2, 5.0), stop)
    assert 0.25 < time.monotonic() - t0 < 5.0  # back-pressure: waited, then gave up on stop
    assert counters.db_rows_lost == 0
    store.close()


def obs_row(t: float, source: str | None = "aa:bb:cc:dd:ee:ff") -> tuple[Any, ...]:
    obs = Observation(
        time=t, transport=Transport.WIFI_BEACON, message_type="location", sensor_id="s1",
        source=source, uas_id="U1", lat=1.0, lon=2.0,
    )
    return observation_row(obs, "t1")


def test_redelivered_sensor_batches_are_stored_once(store: Store) -> None:
    k1, k2, k3 = (BatchKey("s1", "sess", n) for n in range(3))
    b = WriteBatch(observations=[obs_row(t) for t in (1.0, 2.0, 3.0)], keys=[(k1, 0, 2), (k2, 2, 3)])
    assert store.write(b) == 0
    again = WriteBatch(observations=[obs_row(t) for t in (3.0, 4.0)], keys=[(k2, 0, 1), (k3, 1, 2)])
    assert store.write(again) == 1  # k2 was in: its row is not written again
    rows = [r["time"] for r in store.iter_observations(0.0, 10.0)]
    assert rows == [1.0, 2.0, 3.0, 4.0]
    assert store.committed_seqs("s1", "sess") == {0, 1, 2}
    assert store.committed_seqs("s1", "sess", from_seq=2) == {2}
    assert store.committed_seqs("s1", "other") == set()


def test_a_row_the_database_refuses_is_left_out_and_counted(store: Store) -> None:
    """PostgreSQL refuses a NUL in text (its COPY path raises the driver's own error); SQLite
    a NaN in a NOT NULL column. Either way that row alone is left out, counted, and the rest
    of the batch, keyed or not, is written and acknowledged."""
    rows = [obs_row(1.0), obs_row(2.0), obs_row(5.0, "a\x00b"), obs_row(float("nan")), obs_row(6.0)]
    keys = [(BatchKey("s1", "x", 0), 0, 2), (BatchKey("s1", "x", 1), 2, 5)]
    batch = WriteBatch(observations=rows, keys=keys)
    batch.alerts.append(alert_record(make_alert("a1", "t1", 6.0)))
    acked: list[int] = []
    batch.acks.append(lambda: acked.append(1))
    counters = Counters()
    writer = Writer(store, counters)
    writer.start()
    writer.put(batch)
    assert writer.flush(30.0)
    writer.stop()
    assert acked == [1] and counters.db_rows_rejected == 1 and counters.db_rows_lost == 0
    (reason,) = counters.db_reject_reasons
    assert reason.startswith("observations: ")
    with store.engine.connect() as conn:
        times = [t for (t,) in conn.exec_driver_sql("SELECT time FROM observations ORDER BY id")]
    if store.dialect == "postgresql":  # the NUL row is out; NaN is a double PostgreSQL keeps
        assert str(times) == "[1.0, 2.0, nan, 6.0]"
    else:  # the NaN row is out; SQLite keeps a NUL in text
        assert times == [1.0, 2.0, 5.0, 6.0]
    assert store.get_alert("a1") is not None
    assert store.committed_seqs("s1", "x") == {0, 1}
    # The same batch delivered again: nothing more is stored.
    assert store.write(WriteBatch(observations=rows[:2], keys=keys[:1])) == 1


@pytest.mark.parametrize("problem", ["full", "read-only"])
def test_a_full_or_read_only_database_holds_the_batch_until_it_can_write(
    tmp_path: Path, problem: str
) -> None:
    path = tmp_path / "x.db"
    store = Store.open(path)
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    pragma = f"PRAGMA max_page_count = {pages}" if problem == "full" else "PRAGMA query_only = ON"

    def limit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(pragma)

    sa.event.listen(store.engine, "connect", limit)
    store.engine.dispose()
    counters = Counters()
    writer = Writer(store, counters, retry_max_s=0.05)
    writer.start()
    acked: list[int] = []
    batch = batch_for(make_track("t", 1.0, 2.0, 5.0), 200, 5.0)
    batch.acks.append(lambda: acked.append(1))
    writer.put(batch)
    deadline = time.monotonic() + 20
    while counters.db_errors < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert counters.db_errors >= 3 and counters.db_failing_since is not None
    assert ("full" if problem == "full" else "readonly") in (counters.last_db_error or "")
    assert acked == [] and counters.db_rows_rejected == 0  # not mistaken for bad rows
    sa.event.remove(store.engine, "connect", limit)  # space returns / writable again
    store.engine.dispose()
    assert writer.flush(20.0)
    writer.stop()
    assert acked == [1] and counters.db_failing_since is None
    assert store.counts()["observations"] == 200
    store.close()


def test_observation_rows_are_stored_as_written(store: Store) -> None:
    """Every column of ``observation_row`` comes back as written: NULLs as SQL NULL (SQLite's
    fast binding of ``None``), the transport as its text, no column shifted."""
    from dronewatch.store.records import OBSERVATION_COLUMNS

    full = Observation(
        time=1.7e9, transport=Transport.WIFI_NAN, message_type="location", sensor_id="s1",
        source="aa:bb", rssi_dbm=-61.5, uas_id="U1", id_type="serial_number", serial="U1",
        session_id="S", ua_type="helicopter", product="P", operator_id="OP", lat=48.1,
        lon=2.2, alt_geo=120.5, alt_baro=119.0, height=40.0, speed=7.5, direction=90.0,
        vspeed=-0.5, operator_lat=48.0, operator_lon=2.1, operator_alt=30.0, home_lat=48.01,
        home_lon=2.11, sender_time=1.7e9 - 0.2,
    )
    empty = Observation(time=1.7e9 + 1, transport=Transport.BLE_LEGACY, message_type="self_id")
    rows = [observation_row(full, "t1"), observation_row(empty, None)]
    assert all(v is not None for v in rows[0])
    b = WriteBatch()
    b.observations.extend(rows)
    store.write(b)
    cols = ", ".join(OBSERVATION_COLUMNS)
    with store.engine.connect() as conn:
        got = [tuple(r) for r in conn.execute(sa.text(f"SELECT {cols} FROM observations ORDER BY id"))]
        if store.dialect == "sqlite":
            nulls = conn.execute(
                sa.text("SELECT typeof(lat), typeof(track_id) FROM observations ORDER BY id")
            ).all()
            assert [tuple(n) for n in nulls] == [("real", "text"), ("null", "null")]
    assert got == rows
    assert got[0][2] == "wifi-nan" and got[1][2] == "ble-legacy"
