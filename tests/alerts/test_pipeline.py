"""TrackingPipeline: the integration point (decoded messages in, tracks and alerts out)."""

from __future__ import annotations

from dronewatch.alerts.pipeline import TrackerConfig, TrackingPipeline, zones_from_geojson
from dronewatch.alerts.whitelist import Whitelist
from dronewatch.model import AlertStatus, Decoded, Frame, Transport
from dronewatch.protocols.astm.enums import IdType
from dronewatch.protocols.astm.messages import Authentication, BasicId, Location
from dronewatch.track.geo import destination
from dronewatch.track.synth import make_obs

T0 = 1_700_000_000.0
ZONE = {"type": "FeatureCollection", "features": [{
    "type": "Feature", "properties": {"name": "field", "radius_m": 200},
    "geometry": {"type": "Point", "coordinates": [0.0, 51.0]}}]}


def frame(t: float, mac: str = "aa:bb:cc:00:00:01") -> Frame:
    return Frame(payload=b"", time=t, transport=Transport.WIFI_BEACON, source=mac)


def test_feed_message_pack_links_two_basic_ids_and_ignores_auth() -> None:
    p = TrackingPipeline()
    f = frame(T0, mac="aa:bb:cc:00:00:09")
    msgs = [BasicId(id_type=IdType.CAA_REGISTRATION_ID, uas_id="REG-1"),
            BasicId(id_type=IdType.SERIAL_NUMBER, uas_id="SERIAL-1"),
            Location(lat=51.0, lon=0.0, alt_geo=80.0, height=30.0),
            Authentication()]
    results = [p.feed(Decoded(f, m)) for m in msgs]
    assert results[-1] == (None, []) and p.ignored_messages == 1
    (track,) = p.tracks.values()
    assert all(r[0] is track for r in results[:3])
    assert track.uas_id == "REG-1" and track.serial == "SERIAL-1"
    assert (track.lat, track.lon, track.height) == (51.0, 0.0, 30.0)


def test_replace_zones_and_whitelist_at_run_time() -> None:
    p = TrackingPipeline(tracker_config=TrackerConfig(stale_after_s=5, end_after_s=30))
    inside = [make_obs(T0 + i, uas_id="D1", lat=51.0, lon=0.0, height=20.0) for i in range(3)]
    assert [p.feed_observation(o)[1] for o in inside] == [[], [], []]
    p.set_zones(zones_from_geojson(ZONE))
    _, alerts = p.feed_observation(make_obs(T0 + 3, uas_id="D1", lat=51.0, lon=0.0))
    assert [(a.rule, a.zone) for a in alerts] == [("zone_entry", "field")]
    p.set_whitelist(Whitelist(["OTHER"]))
    _, alerts = p.feed_observation(make_obs(T0 + 4, uas_id="D1", lat=51.0, lon=0.0))
    assert [a.rule for a in alerts] == ["unknown_drone"]
    p.set_whitelist(Whitelist(["D1"]))
    _, alerts = p.feed_observation(make_obs(T0 + 5, uas_id="D1", lat=51.0, lon=0.0))
    assert [(a.rule, a.status) for a in alerts] == [("unknown_drone", AlertStatus.CLOSED)]
    # silence: lost near the zone, then the track ends and its episodes close
    alerts = p.tick(T0 + 20)
    assert [(a.rule, a.status.value) for a in alerts] == [("drone_lost", "open")]
    assert p.tracks[next(iter(p.tracks))].state == "stale"
    alerts = p.tick(T0 + 40)
    assert sorted((a.rule, a.status.value) for a in alerts) == [
        ("drone_lost", "closed"), ("zone_entry", "closed")]
    assert next(iter(p.tracks.values())).state == "ended"


def test_auto_tick_and_finish() -> None:
    p = TrackingPipeline(zones=zones_from_geojson(ZONE), auto_tick_s=1.0)
    lat, lon = destination(51.0, 0.0, 0, 100)
    for i in range(5):
        p.feed_observation(make_obs(T0 + i, uas_id="A", lat=lat, lon=lon))
    # a second drone's observation 30 s later drives the clock: A is lost
    _, alerts = p.feed_observation(make_obs(T0 + 30, uas_id="B", lat=52.0, lon=0.0))
    assert ("drone_lost", "open") in [(a.rule, a.status.value) for a in alerts]
    closed = p.finish()
    assert {(a.rule, a.status.value) for a in closed} == {("drone_lost", "closed"),
                                                          ("zone_entry", "closed")}
    assert p.stats.observations == 6 and p.latest_time == T0 + 30


def test_merges_are_reported() -> None:
    p = TrackingPipeline()
    p.feed_observation(make_obs(T0, uas_id="X", source="02:00:00:00:00:01", lat=51.0, lon=0.0))
    ghost, _ = p.feed_observation(make_obs(T0 + 30, source="02:00:00:00:00:02", lat=51.0,
                                           lon=0.0))
    assert ghost is not None and len(p.tracks) == 2
    track, _ = p.feed_observation(make_obs(T0 + 30.5, uas_id="X", source="02:00:00:00:00:02"))
    assert track is not None and track.track_id != ghost.track_id
    assert p.pop_merges() == [(ghost.track_id, track.track_id)]
    assert p.pop_merges() == []
    assert p.merged == {ghost.track_id: track.track_id}
    assert list(p.tracks) == [track.track_id]
