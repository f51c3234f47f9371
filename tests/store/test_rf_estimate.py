"""The latest RF position estimate of a track is stored with it (SQLite and PostgreSQL): it
outlives the live pipeline's (a restart, an ended track), and the migration adds it to a
database that already holds tracks."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from tests.store.test_store import batch_for, make_track

from dronewatch.store import Store, WriteBatch
from dronewatch.store.records import track_record
from dronewatch.track.rf_locate import RfEstimate, rf_fields

LOCATED = RfEstimate(
    time=1004.0,
    sensors=("rf1", "rf2", "rf3"),
    model="broadcast-offset",
    lat=46.0012345,
    lon=6.0023456,
    error_m=41.26,
    ellipse_m=(52.04, 23.96, 37.51),
    power_dbm=-21.33,
    bins=9,
    offset_m=12.04,
    lr_stat=1.73,
)
NOT_LOCATED = RfEstimate(time=1010.0, sensors=("rf1", "rf2"), reason="not enough sensors (2 of 3)")


def track_with_rf(tid: str, t: float, estimate: RfEstimate | None, **kw: Any) -> dict[str, Any]:
    rec = track_record(make_track(tid, 46.0, 6.0, t, **kw))
    rec.update(rf_fields(estimate.to_json() if estimate is not None else None))
    return rec


def write_track(store: Store, rec: dict[str, Any]) -> None:
    b = WriteBatch()
    b.tracks[rec["track_id"]] = rec
    store.write(b)


def test_rf_estimate_round_trip(store: Store) -> None:
    write_track(store, track_with_rf("t1", 1004.0, LOCATED, uas_id="U1"))
    write_track(store, track_with_rf("t2", 1005.0, None))
    t1 = store.get_track("t1")
    assert t1 is not None
    assert t1["rf_estimate"] == LOCATED.to_json()  # the API's shape, every value as written
    assert (t1["rf_lat"], t1["rf_lon"], t1["rf_error_m"]) == (46.0012345, 6.0023456, 41.3)
    listed = {t["track_id"]: t for t in store.list_tracks()}
    assert listed["t1"]["rf_lat"] == 46.0012345 and listed["t2"]["rf_estimate"] is None
    with store.engine.connect() as conn:  # "none yet" is SQL NULL, not the JSON text null
        nulls = conn.execute(sa.text("SELECT track_id FROM tracks WHERE rf_estimate IS NULL"))
        assert [r[0] for r in nulls] == ["t2"]

    # The track's last write (ended: the pipeline has forgotten its estimate) keeps it.
    ended = track_with_rf("t1", 1030.0, None, uas_id="U1")
    ended["state"] = "ended"
    write_track(store, ended)
    t1 = store.get_track("t1")
    assert t1 is not None and t1["state"] == "ended" and t1["last_seen"] == 1030.0
    assert t1["rf_estimate"] == LOCATED.to_json() and t1["rf_error_m"] == 41.3

    # A newer estimate replaces it, a not-located one too (as the live answer would).
    write_track(store, track_with_rf("t1", 1040.0, NOT_LOCATED, uas_id="U1"))
    t1 = store.get_track("t1")
    assert t1 is not None and t1["rf_estimate"]["reason"] == "not enough sensors (2 of 3)"
    assert t1["rf_lat"] is None and t1["rf_lon"] is None and t1["rf_error_m"] is None


def test_history_tracks_carry_the_rf_position(store: Store) -> None:
    b = batch_for(make_track("t1", 46.0, 6.0, 1004.0, uas_id="U1"), 5, 1000.0)
    b.tracks["t1"].update(rf_fields(LOCATED.to_json()))
    store.write(b)
    (h,) = store.history(1000.0, 1004.0)
    assert (h["rf_lat"], h["rf_lon"], h["rf_error_m"]) == (46.0012345, 6.0023456, 41.3)


def test_upgrade_from_0003_keeps_the_tracks(db_url: str) -> None:
    s = Store.open(db_url, migrate=False)
    s.migrate("0003")
    with s.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tracks (track_id, first_seen, last_seen, uas_id, transports,"
                " sensors, sources, lat, lon, rssi_by_sensor, state, n_positions) VALUES"
                " ('old', 990.0, 1000.0, 'U-OLD', '[\"wifi-beacon\"]', '[\"s1\"]', '[]',"
                " 46.5, 6.6, '{\"s1\": -61.5}', 'ended', 2)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO track_positions (track_id, time, lat, lon) VALUES"
                " ('old', 995.0, 46.4, 6.5), ('old', 1000.0, 46.5, 6.6)"
            )
        )
    s.migrate()
    assert s.schema_revision() == "0004"
    old = s.get_track("old")
    assert old is not None
    assert (old["uas_id"], old["transports"], old["rssi_by_sensor"]) == (
        "U-OLD", ["wifi-beacon"], {"s1": -61.5}
    )
    assert old["positions"] == [[995.0, 46.4, 6.5, None], [1000.0, 46.5, 6.6, None]]
    assert old["rf_estimate"] is None and old["rf_lat"] is None
    # the old track takes an estimate (a track id seen again), and a new one is written
    write_track(s, track_with_rf("old", 1010.0, LOCATED, uas_id="U-OLD"))
    write_track(s, track_with_rf("new", 1020.0, LOCATED))
    old = s.get_track("old")
    assert old is not None and old["rf_lat"] == 46.0012345 and old["first_seen"] == 990.0
    assert s.counts()["tracks"] == 2
    s.close()
