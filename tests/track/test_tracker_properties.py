"""Property tests: any observation stream (shuffled, duplicated, sparse, garbage values) is
absorbed without exceptions, and the tracker's invariants hold."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dronewatch.alerts.pipeline import TrackingPipeline
from dronewatch.alerts.zones import ZoneSet
from dronewatch.model import Observation, Transport
from dronewatch.track.tracker import TrackerConfig

T0 = 1_700_000_000.0
IDS = ["A", "B", "C", None]
SERIALS = ["SA", "SB", None]
MACS = ["02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03", None]
floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(-1e4, 1e4))


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    return Observation(
        time=T0 + draw(st.floats(0, 600)),
        transport=draw(st.sampled_from(list(Transport))),
        message_type=draw(st.sampled_from(["location", "basic_id", "system", "dji_telemetry"])),
        sensor_id=draw(st.sampled_from(["s1", "s2"])),
        source=draw(st.sampled_from(MACS)),
        rssi_dbm=draw(floats),
        uas_id=draw(st.sampled_from(IDS)),
        id_type=draw(st.sampled_from([None, "serial_number", "caa_registration_id"])),
        serial=draw(st.sampled_from(SERIALS)),
        lat=draw(st.one_of(st.none(), st.floats(50.9, 51.1))),
        lon=draw(st.one_of(st.none(), st.floats(-0.1, 0.1))),
        alt_geo=draw(floats), height=draw(floats), speed=draw(floats),
        direction=draw(st.one_of(st.none(), st.floats(0, 359.9))),
        operator_lat=draw(st.one_of(st.none(), st.floats(50.9, 51.1))),
        operator_lon=draw(st.one_of(st.none(), st.floats(-0.1, 0.1))),
        sender_time=draw(st.one_of(st.none(), st.floats(T0 - 1e6, T0 + 1e6))),
    )


ZONES = ZoneSet.from_geojson({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": "c", "radius_m": 3000, "max_alt_m": 100},
     "geometry": {"type": "Point", "coordinates": [0.0, 51.0]}},
    {"type": "Feature", "properties": {"name": "p"}, "geometry": {"type": "Polygon",
     "coordinates": [[[-0.05, 51.02], [0.05, 51.02], [0.0, 51.06], [-0.05, 51.02]]]}}]})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(observations(), max_size=60), st.booleans())
def test_any_stream_is_absorbed_and_invariants_hold(obs: list[Observation], tick: bool) -> None:
    p = TrackingPipeline(zones=ZONES, tracker_config=TrackerConfig(max_positions=20))
    for o in obs:
        track, _alerts = p.feed_observation(o)
        if track is not None:
            assert track.track_id in p.tracks
        if tick:
            p.tick(o.time)
    p.tick(T0 + 2000)
    tracker = p.tracker
    for tid, track in p.tracks.items():
        times = [pt.time for pt in track.positions]
        assert times == sorted(times)
        assert len(times) <= 20 + 64
        assert track.first_seen <= track.last_seen
        assert all(math.isfinite(pt.lat) and math.isfinite(pt.lon) for pt in track.positions)
        st_ = tracker.state(tid)
        assert st_ is not None and st_.track is track
    # each identity key points to one live track that owns it
    for key, tid in tracker._index.items():
        assert key in tracker._states[tid].keys
        assert tracker._states[tid].track.state != "ended"
    # two live tracks never share a UAS ID
    live = [t for t in p.tracks.values() if t.state != "ended" and t.uas_id]
    assert len({t.uas_id for t in live}) == len(live)


@settings(max_examples=60, deadline=None)
@given(st.lists(observations(), min_size=1, max_size=40))
def test_replay_is_deterministic(obs: list[Observation]) -> None:
    def run() -> list[tuple[str, str, float]]:
        p = TrackingPipeline(zones=ZONES)
        out = []
        for o in obs:
            out += [(a.alert_id, a.status.value, a.time) for a in p.feed_observation(o)[1]]
        out += [(a.alert_id, a.status.value, a.time) for a in p.tick(T0 + 5000)]
        return out + [(k, t.uas_id or "", len(t.positions)) for k, t in sorted(p.tracks.items())]

    assert run() == run()
