"""Acceptance: simulated scenarios with known truth, through the whole chain (simulator
frames -> protocol decoders -> pipeline). Every drone is one track; every zone entry alerts
once; spoofers are flagged and honest drones are not; nothing alerts when nothing is due."""

from __future__ import annotations

from typing import Any

import pytest

from dronewatch.alerts.airports import airport_zones
from dronewatch.alerts.pipeline import TrackingPipeline
from dronewatch.alerts.whitelist import Whitelist
from dronewatch.alerts.zones import ZoneSet, load_zones
from dronewatch.decode import decode_frames
from dronewatch.model import Alert, Track
from dronewatch.sim import ground_truth, iter_frames, load_scenario, parse_scenario
from dronewatch.sim.scenario import Scenario
from dronewatch.stats import DecodeStats

SPOOF_RULES = {"spoof_motion", "spoof_clone", "spoof_pilot_distance", "spoof_clock",
               "spoof_rssi"}


def replay(scenario: Scenario, zones: ZoneSet | None = None, whitelist: Whitelist | None = None,
           duration: float | None = None) -> tuple[TrackingPipeline, list[Alert]]:
    p = TrackingPipeline(zones=zones, whitelist=whitelist, auto_tick_s=1.0)
    stats = DecodeStats()
    alerts: list[Alert] = []
    for d in decode_frames(iter_frames(scenario, seed=1, duration=duration), stats):
        alerts += p.feed(d)[1]
    assert stats.frames_skipped == 0, stats.summary()
    return p, alerts


def identity_of(truth: Any) -> str:
    """The ID a track of this truth drone is known by (DJI: serial; others: UAS ID)."""
    return str(truth.serial if truth.kind.startswith("dji") else truth.uas_id)


def track_ids(track: Track) -> set[str]:
    return {i for i in (track.uas_id, track.serial) if i}


def tracks_by_identity(p: TrackingPipeline, truth: list[Any]) -> dict[str, Track]:
    out: dict[str, Track] = {}
    for t in truth:
        ident = identity_of(t)
        matches = [tr for tr in p.tracks.values() if ident in track_ids(tr)]
        assert len(matches) == 1, (t.name, ident, [track_ids(m) for m in matches])
        out[t.name] = matches[0]
    return out


def opened(alerts: list[Alert], track: Track, rules: set[str] | None = None) -> list[Alert]:
    return [a for a in alerts if a.track_id == track.track_id and a.status.value == "open"
            and (rules is None or a.rule in rules)]


@pytest.fixture(scope="module")
def demo() -> tuple[Scenario, TrackingPipeline, list[Alert]]:
    sc = load_scenario("demo_airport")
    path = sc.zones_path()
    assert path is not None
    p, alerts = replay(sc, zones=load_zones(path))
    return sc, p, alerts


def test_demo_every_drone_is_one_track(demo: tuple[Scenario, TrackingPipeline, list[Alert]]) -> None:
    sc, p, _ = demo
    truth = ground_truth(sc, seed=1)
    by = tracks_by_identity(p, truth)
    # the clone shares its victim's identity: one track for the two, as broadcast
    assert by["m30-clone"] is by["survey-m30"]
    assert len(p.tracks) == len({identity_of(t) for t in truth}) == len(truth) - 1
    for t in truth:
        tr = by[t.name]
        assert tr.transports == {t.transport}, t.name
        assert len(tr.positions) > 50, t.name


def test_demo_spoofers_flagged_honest_not(demo: tuple[Scenario, TrackingPipeline, list[Alert]]) -> None:
    sc, p, alerts = demo
    truth = ground_truth(sc, seed=1)
    by = tracks_by_identity(p, truth)
    expected = {"teleporter": {"spoof_motion"}, "remote-pilot": {"spoof_pilot_distance"},
                "survey-m30": {"spoof_clone"}, "m30-clone": {"spoof_clone"}}
    for t in truth:
        got = {a.rule for a in opened(alerts, by[t.name], SPOOF_RULES)}
        assert got == expected.get(t.name, set()), (t.name, got)
    for a in alerts:
        if a.rule in SPOOF_RULES:
            assert a.severity.value in ("warning", "critical") and a.message


def test_demo_zone_alerts(demo: tuple[Scenario, TrackingPipeline, list[Alert]]) -> None:
    sc, p, alerts = demo
    truth = ground_truth(sc, seed=1)
    by = tracks_by_identity(p, truth)
    zones = p.zones
    for t in truth:
        if t.spoof:
            continue  # spoofers' claims are judged by the spoofing rules
        # zones the drone's path really enters (altitude and time windows included)
        due = {z.name for z in zones for la, lo, h, tt in zip(t.lat, t.lon, t.height, t.times,
                                                              strict=True)
               if z.contains(la, lo) and z.contains_alt(h)
               and z.active_at(tt)}
        got = [a.zone or "" for a in opened(alerts, by[t.name], {"zone_entry"})]
        assert sorted(got) == sorted(due), t.name  # once per zone, none where not due
    intruder = by["approach-intruder"]
    assert [a.zone for a in opened(alerts, intruder, {"zone_entry"})] == [
        "LFPO aerodrome protection zone"]
    entry = opened(alerts, intruder, {"zone_entry"})[0]
    assert entry.message.startswith(
        "Drone 1581F5FKD229400C0T7A entered zone 'LFPO aerodrome protection zone' at 90 m; pilot")
    approach = opened(alerts, intruder, {"zone_approach"})
    assert approach and approach[0].time < entry.time
    # the teleporter's fake positions land in the approach funnel: no zone alert for them
    assert opened(alerts, by["teleporter"], {"zone_entry"}) == []


def test_prison_drop_with_whitelist() -> None:
    sc = load_scenario("prison_delivery")
    wall = ZoneSet.from_geojson({"type": "Feature", "properties": {
        "name": "prison", "severity": "critical"}, "geometry": {"type": "Polygon", "coordinates": [[
            [2.3200, 48.7567], [2.3240, 48.7567], [2.3240, 48.7593], [2.3200, 48.7593],
            [2.3200, 48.7567]]]}})
    p, alerts = replay(sc, zones=wall, whitelist=Whitelist(["1596F7POLICE00000042"]))
    truth = ground_truth(sc, seed=1)
    by = tracks_by_identity(p, truth)
    assert len(p.tracks) == 3
    smuggler, police, bystander = by["smuggler"], by["police-patrol"], by["bystander"]
    assert [a.zone for a in opened(alerts, smuggler, {"zone_entry"})] == ["prison"]
    assert {a.rule for a in opened(alerts, smuggler)} >= {"zone_entry", "unknown_drone"}
    assert opened(alerts, police, {"unknown_drone"}) == []
    assert {a.rule for a in opened(alerts, bystander)} == {"unknown_drone"}
    assert all(a.rule not in SPOOF_RULES for a in alerts)
    assert smuggler.operator_lat is not None and smuggler.home_lat is not None


def test_hobby_crowd_has_no_alerts_and_one_track_each() -> None:
    sc = load_scenario("hobby_crowd")
    p, alerts = replay(sc, duration=240)
    truth = ground_truth(sc, seed=1)
    tracks_by_identity(p, truth)
    assert len(p.tracks) == len(truth)
    assert [(a.rule, a.message) for a in alerts] == []


def test_airport_layer_runway_approach() -> None:
    sc = load_scenario("airport_runway_approach")
    zones = airport_zones(codes=["EDDF"])
    p, alerts = replay(sc, zones=zones)
    truth = ground_truth(sc, seed=1)
    by = tracks_by_identity(p, truth)
    final = by["final-approach"]
    assert [a.zone for a in opened(alerts, final, {"zone_entry"})] == [
        "EDDF Frankfurt am Main International Airport"]
    assert {a.rule for a in opened(alerts, final)} == {"zone_entry", "zone_approach", "altitude"}
    assert opened(alerts, by["quarry-survey"]) == []


def test_mac_randomisation_and_dji_remote_id_link() -> None:
    sc = parse_scenario({
        "name": "randomiser", "duration_s": 180, "origin": {"lat": 50.0, "lon": 8.0},
        "drones": [
            {"name": "rand", "kind": "ble-legacy", "uas_id": "1596FRANDOM000000001",
             "mac_randomize_s": 30, "speed_mps": 8,
             "pilot": {"east": 0, "north": 0},
             "waypoints": [{"east": 500, "north": 0}, {"east": 500, "north": 500}]},
            # one airframe, two broadcasts: DJI DroneID and Remote ID with its serial
            {"name": "mavic-dji", "kind": "dji-wifi", "serial": "1581F4XDJIRID001",
             "pilot": {"east": 2000, "north": 0},
             "waypoints": [{"east": 2300, "north": 0}, {"east": 2300, "north": 300}]},
            {"name": "mavic-rid", "kind": "wifi-beacon", "uas_id": "1581F4XDJIRID001",
             "pilot": {"east": 2000, "north": 0},
             "waypoints": [{"east": 2300, "north": 0}, {"east": 2300, "north": 300}]},
        ]})
    p, alerts = replay(sc)
    assert len(p.tracks) == 2, [track_ids(t) for t in p.tracks.values()]
    rand = next(t for t in p.tracks.values() if t.uas_id == "1596FRANDOM000000001")
    assert len(rand.sources) >= 5  # one MAC per 30 s
    mavic = next(t for t in p.tracks.values() if t.serial == "1581F4XDJIRID001")
    assert mavic.transports == {"dji-wifi", "wifi-beacon"}
    assert [(a.rule, a.message) for a in alerts] == []


def test_replay_is_deterministic() -> None:
    sc = load_scenario("prison_delivery")
    a = replay(sc, whitelist=Whitelist(), duration=120)
    b = replay(sc, whitelist=Whitelist(), duration=120)
    assert sorted(a[0].tracks) == sorted(b[0].tracks)
    assert [(x.alert_id, x.status, x.time) for x in a[1]] == [
        (x.alert_id, x.status, x.time) for x in b[1]]
