"""Tracker: identity fusion, MAC handling, time order, staleness, determinism."""

from __future__ import annotations

import random

import pytest

from dronewatch.model import Observation, Transport
from dronewatch.track.synth import Flight, make_obs
from dronewatch.track.tracker import Tracker, TrackerConfig, compatible, make_track_id

T0 = 1_700_000_000.0
MAC1, MAC2, MAC3 = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"


def loc(t: float, lat: float = 51.0, lon: float = 0.0, **kw: object) -> Observation:
    return make_obs(t, lat=lat, lon=lon, alt_geo=100.0, **kw)  # type: ignore[arg-type]


def test_ble_legacy_basic_id_and_location_from_one_mac_are_one_track() -> None:
    tr = Tracker()
    a = tr.update(make_obs(T0, message_type="basic_id", source=MAC1, uas_id="SN1",
                           id_type="serial_number", serial="SN1",
                           transport=Transport.BLE_LEGACY))
    b = tr.update(loc(T0 + 0.1, source=MAC1, transport=Transport.BLE_LEGACY))
    c = tr.update(make_obs(T0 + 0.2, message_type="system", source=MAC1, operator_lat=51.01,
                           operator_lon=0.01, transport=Transport.BLE_LEGACY))
    assert a is not None and a is b is c
    t = a.track
    assert len(tr.tracks) == 1
    assert t.uas_id == "SN1" and t.serial == "SN1"
    assert (t.lat, t.lon, t.operator_lat, t.operator_lon) == (51.0, 0.0, 51.01, 0.01)
    assert t.transports == {"ble-legacy"} and t.sources == {MAC1}


def test_location_before_basic_id_becomes_the_identified_track() -> None:
    tr = Tracker()
    first = tr.update(loc(T0, source=MAC1))
    assert first is not None and first.track.uas_id is None
    second = tr.update(make_obs(T0 + 0.5, message_type="basic_id", source=MAC1, uas_id="SN1"))
    assert second is first and first.track.uas_id == "SN1"
    assert len(tr.tracks) == 1


def test_mac_randomisation_keeps_one_track() -> None:
    tr = Tracker()
    tr.update(make_obs(T0, message_type="basic_id", source=MAC1, uas_id="SN1"))
    tr.update(loc(T0 + 0.1, source=MAC1))
    # new random MAC: its Location arrives before its Basic ID
    tr.update(loc(T0 + 10.0, lat=51.0001, source=MAC2))
    assert len(tr.tracks) == 2  # provisional until the identity is heard
    tr.update(make_obs(T0 + 10.2, message_type="basic_id", source=MAC2, uas_id="SN1"))
    assert len(tr.tracks) == 1
    (t,) = tr.tracks.values()
    assert t.sources == {MAC1, MAC2}
    assert [p.lat for p in t.positions] == [51.0, 51.0001]
    assert tr.stats.merges == 1
    assert list(tr.merged.values()) == [t.track_id]
    # later Locations from the new MAC join directly
    st = tr.update(loc(T0 + 11.0, lat=51.0002, source=MAC2))
    assert st is not None and st.track is t


def test_two_drones_on_one_mac_with_serial_ids_stay_apart() -> None:
    tr = Tracker()
    tr.update(make_obs(T0, message_type="basic_id", source=MAC1, uas_id="SN-A",
                       id_type="serial_number", serial="SN-A"))
    tr.update(make_obs(T0 + 0.1, message_type="basic_id", source=MAC1, uas_id="SN-B",
                       id_type="serial_number", serial="SN-B"))
    assert sorted(t.uas_id or "" for t in tr.tracks.values()) == ["SN-A", "SN-B"]


def test_serial_and_registration_id_from_one_mac_are_one_drone() -> None:
    tr = Tracker()
    tr.update(make_obs(T0, message_type="basic_id", source=MAC1, uas_id="SN-A",
                       id_type="serial_number", serial="SN-A"))
    tr.update(make_obs(T0 + 0.1, message_type="basic_id", source=MAC1, uas_id="GBR-REG-1",
                       id_type="caa_registration_id"))
    assert len(tr.tracks) == 1


def test_message_pack_hint_links_identities() -> None:
    tr = Tracker()
    a = tr.update(make_obs(T0, message_type="basic_id", uas_id="REG1",
                           id_type="caa_registration_id"))
    assert a is not None
    b = tr.update(make_obs(T0, message_type="basic_id", uas_id="SN9", id_type="serial_number",
                           serial="SN9"), hint=a.track.track_id)
    assert b is a and len(tr.tracks) == 1


def test_dji_serial_links_with_remote_id_serial_number() -> None:
    tr = Tracker()
    dji = tr.update(loc(T0, transport=Transport.DJI_WIFI, serial="1581F4XD", source=MAC1,
                        message_type="dji_telemetry"))
    rid = tr.update(make_obs(T0 + 0.3, transport=Transport.BLE_LONG_RANGE, source=MAC2,
                             message_type="basic_id", uas_id="1581F4XD",
                             id_type="serial_number", serial="1581F4XD"))
    assert dji is rid and len(tr.tracks) == 1
    t = dji.track if dji else None
    assert t is not None and t.transports == {"dji-wifi", "ble-long-range"}
    assert t.uas_id == "1581F4XD" and t.serial == "1581F4XD"


def test_dji_serial_and_rid_id_seen_separately_merge_when_linked() -> None:
    tr = Tracker()
    tr.update(loc(T0, transport=Transport.DJI_WIFI, serial="SN7", source=MAC1))
    tr.update(make_obs(T0 + 1, message_type="basic_id", source=MAC2, uas_id="REG7",
                       id_type="caa_registration_id"))
    assert len(tr.tracks) == 2
    # a message pack naming both (serial number + registration) links them
    st = tr.update(make_obs(T0 + 2, message_type="basic_id", source=MAC2, uas_id="SN7",
                            id_type="serial_number", serial="SN7"))
    assert st is not None and len(tr.tracks) == 1
    assert st.track.first_seen == T0


def test_out_of_order_and_duplicates() -> None:
    tr = Tracker()
    for t, lat in [(T0, 51.0), (T0 + 2, 51.002), (T0 + 1, 51.001), (T0 + 2, 51.002),
                   (T0 + 2.1, 51.002), (T0 + 3, 51.003)]:
        tr.update(loc(t, lat=lat, uas_id="SN1"))
    (track,) = tr.tracks.values()
    assert [p.time for p in track.positions] == [T0, T0 + 1, T0 + 2, T0 + 3]
    assert track.lat == 51.003 and track.last_seen == T0 + 3
    assert tr.stats.out_of_order == 1 and tr.stats.duplicates == 2
    # an old fix never moves the current position
    tr.update(loc(T0 + 0.5, lat=51.0005, uas_id="SN1"))
    assert track.lat == 51.003 and len(track.positions) == 5


def test_derived_speed_and_heading_when_not_reported() -> None:
    tr = Tracker()
    tr.update(loc(T0, lat=51.0, uas_id="SN1"))
    st = tr.update(loc(T0 + 2, lat=51.0 + 20 / 111195.0, uas_id="SN1"))
    assert st is not None
    assert st.track.speed == pytest.approx(10.0, rel=0.01)
    assert st.track.direction == pytest.approx(0.0, abs=0.5)


def test_none_fields_and_no_identity() -> None:
    tr = Tracker()
    assert tr.update(make_obs(T0)) is None  # no identity, no MAC: about no drone
    assert tr.stats.dropped == {"no-identity": 1}
    assert tr.update(make_obs(float("nan"), uas_id="X")) is None
    st = tr.update(make_obs(T0, uas_id="X", lat=51.0))  # lat without lon: no fix
    assert st is not None and st.track.positions == [] and st.track.lat is None


def test_track_fields_operator_home_takeoff_max_alt_rssi() -> None:
    tr = Tracker()
    tr.update(make_obs(T0, uas_id="X", lat=51.0, lon=0.0, alt_geo=50.0, height=0.0,
                       home_lat=51.0, home_lon=0.0, rssi_dbm=-80.0, sensor_id="a"))
    tr.update(make_obs(T0 + 1, uas_id="X", lat=51.0, lon=0.0001, alt_geo=90.0, height=40.0,
                       rssi_dbm=-70.0, sensor_id="b", operator_lat=51.001, operator_lon=0.0))
    tr.update(make_obs(T0 + 2, uas_id="X", lat=51.0, lon=0.0002, alt_baro=80.0, height=30.0,
                       rssi_dbm=-75.0, sensor_id="a"))
    (t,) = tr.tracks.values()
    assert t.takeoff_time == T0 + 1
    assert t.max_alt == 90.0 and t.alt == 80.0 and t.height == 30.0
    assert (t.home_lat, t.home_lon) == (51.0, 0.0)
    assert (t.operator_lat, t.operator_lon) == (51.001, 0.0)
    assert t.rssi_by_sensor == {"a": -75.0, "b": -70.0}
    assert t.sensors == {"a", "b"}


def test_stale_end_revive_and_forget() -> None:
    cfg = TrackerConfig(stale_after_s=5, end_after_s=20, forget_after_s=100)
    tr = Tracker(cfg)
    tr.update(loc(T0, uas_id="X"))
    (tid,) = tr.tracks
    assert tr.tick(T0 + 4) == ([], [])
    stale, ended = tr.tick(T0 + 6)
    assert [t.track_id for t in stale] == [tid] and tr.tracks[tid].state == "stale"
    tr.update(loc(T0 + 7, uas_id="X"))
    assert tr.tracks[tid].state == "active"
    stale, ended = tr.tick(T0 + 30)
    assert [t.track_id for t in ended] == [tid] and tr.tracks[tid].state == "ended"
    # the same drone flying again later is a new track
    st = tr.update(loc(T0 + 60, uas_id="X"))
    assert st is not None and st.track.track_id != tid and len(tr.tracks) == 2
    tr.tick(T0 + 131)
    assert list(tr.tracks) == [st.track.track_id]


def test_bounded_history() -> None:
    tr = Tracker(TrackerConfig(max_positions=100))
    for i in range(1000):
        tr.update(loc(T0 + i, lat=51.0 + i * 1e-5, uas_id="X"))
    (t,) = tr.tracks.values()
    assert 100 <= len(t.positions) <= 164
    assert t.positions[-1].time == T0 + 999


def test_deterministic_ids_and_replay() -> None:
    flights = [
        Flight(f"SN{i}", [(51.0 + i * 0.01, 0.0), (51.0 + i * 0.01, 0.01)],
               source=f"02:00:00:00:00:{i:02x}", start=T0 + i)
        for i in range(5)
    ]
    stream = [o for f in flights for o in f.observations()]
    random.Random(4).shuffle(stream)

    def run() -> dict[str, tuple[str | None, int]]:
        tr = Tracker()
        for o in stream:
            tr.update(o)
        return {k: (t.uas_id, len(t.positions)) for k, t in tr.tracks.items()}

    a, b = run(), run()
    assert a == b and len(a) == 5
    assert make_track_id("id:SN0", T0 + 0.9) == make_track_id("id:SN0", T0)
    # the id is derived from the creating key and the second of the first observation
    first = next(o for o in stream if o.uas_id == "SN0")
    assert a[make_track_id("id:SN0", first.time)][0] == "SN0"


def test_compatible() -> None:
    assert compatible({"serial": "A"}, {"caa_registration_id": "R"})
    assert not compatible({"serial": "A"}, {"serial": "B"})
    assert compatible({}, {"serial": "B"})


def test_clone_and_jump_facts() -> None:
    tr = Tracker()
    tr.update(loc(T0, lat=51.0, uas_id="X", source=MAC1))
    st = tr.update(loc(T0 + 0.5, lat=51.2, uas_id="X", source=MAC3))  # 22 km away, other MAC
    assert st is not None
    assert st.clone_dist_m == pytest.approx(22239, rel=0.01) and st.clone_dt_s == 0.5
    st = tr.update(loc(T0 + 1.0, lat=51.1, uas_id="X", source=MAC1))
    assert st is not None
    assert st.jump_dist_m == pytest.approx(11119, rel=0.01) and st.jump_dt_s == 1.0
