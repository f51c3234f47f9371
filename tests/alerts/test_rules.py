"""Every rule fires when due, only then, once per episode, and closes with hysteresis."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from dronewatch.alerts.pipeline import TrackingPipeline
from dronewatch.alerts.rules import RulesConfig
from dronewatch.alerts.whitelist import Whitelist
from dronewatch.alerts.zones import ZoneSet
from dronewatch.model import Alert, AlertStatus, Observation, Severity
from dronewatch.track.geo import destination
from dronewatch.track.synth import Flight, make_obs

T0 = 1_700_000_000.0
C = (51.47, -0.4543)  # zone centre


def zone_set(**props: object) -> ZoneSet:
    p = {"name": "EGLL runway 27L", "radius_m": 500, "severity": "critical", **props}
    return ZoneSet.from_geojson({"type": "Feature", "properties": p, "geometry": {
        "type": "Point", "coordinates": [C[1], C[0]]}})


def run(p: TrackingPipeline, stream: Iterable[Observation], tick_every: float = 1.0,
        until: float | None = None) -> list[Alert]:
    out: list[Alert] = []
    nxt = None
    last = T0
    for o in stream:
        if nxt is None:
            nxt = o.time + tick_every
        while o.time >= nxt:
            out += p.tick(nxt)
            nxt += tick_every
        out += p.feed_observation(o)[1]
        last = o.time
    if until is not None:
        t = last
        while t < until:
            t += tick_every
            out += p.tick(t)
    return out


def events(alerts: list[Alert], rule: str | None = None) -> list[tuple[str, str, str]]:
    return [(a.rule, a.status.value, a.severity.value) for a in alerts
            if rule is None or a.rule == rule]


def crossing(**kw: object) -> Flight:
    """West to east straight through the zone centre, 2 km each side, 10 m/s, 60 m high."""
    start = destination(*C, 270, 2000)
    end = destination(*C, 90, 2000)
    args: dict[str, object] = {"pilot": destination(*C, 225, 1700), "start": T0}
    args.update(kw)
    return Flight("MFG1A0123456789", [start, end], **args)  # type: ignore[arg-type]


def test_zone_entry_alerts_once_with_approach_before() -> None:
    p = TrackingPipeline(zones=zone_set())
    alerts = run(p, crossing().observations(), until=T0 + 500)
    assert events(alerts, "zone_entry") == [("zone_entry", "open", "critical"),
                                           ("zone_entry", "closed", "critical")]
    assert events(alerts, "zone_approach") == [
        ("zone_approach", "open", "warning"), ("zone_approach", "update", "critical"),
        ("zone_approach", "closed", "critical")]
    entry = next(a for a in alerts if a.rule == "zone_entry")
    assert entry.message == ("Drone MFG1A0123456789 entered zone 'EGLL runway 27L' at 60 m; "
                             "pilot 1.4 km SW")
    assert entry.zone == "EGLL runway 27L" and entry.uas_id == "MFG1A0123456789"
    assert entry.time == pytest.approx(T0 + 150, abs=1.01)  # 1500 m at 10 m/s
    assert entry.operator_lat is not None and entry.lat is not None
    # The approach ends when the drone is in: its last words say so, not "entered zone".
    over = [a for a in alerts if a.rule == "zone_approach" and a.status is AlertStatus.CLOSED]
    assert over[0].message == ("Drone MFG1A0123456789 approach to zone 'EGLL runway 27L' over: "
                               "it is inside (see the zone entry alert)")
    approach = next(a for a in alerts if a.rule == "zone_approach")
    assert approach.time == pytest.approx(T0 + 120, abs=1.01)  # 30 s horizon
    assert approach.details["time_to_entry_s"] == pytest.approx(30, abs=1.01)
    closed = [a for a in alerts if a.rule == "zone_entry" and a.status is AlertStatus.CLOSED]
    # leaves at 250 s, closes after the 20 m margin and the 10 s hold
    assert closed[0].time == pytest.approx(T0 + 262, abs=2.01)
    assert {a.alert_id for a in alerts if a.rule == "zone_entry"} == {entry.alert_id}


def test_no_alert_for_a_drone_passing_by() -> None:
    start = destination(*C, 0, 1200)
    flight = Flight("PASSER", [destination(*start, 270, 2000), destination(*start, 90, 2000)],
                    pilot=start, start=T0)
    p = TrackingPipeline(zones=zone_set())
    assert run(p, flight.observations(), until=T0 + 600) == []


def test_boundary_jitter_does_not_flap() -> None:
    # hovering on the boundary, 8 m in and out every second
    p = TrackingPipeline(zones=zone_set())
    obs = []
    for i in range(120):
        d = 500 + (8 if i % 2 else -8)
        lat, lon = destination(*C, 90, d)
        obs.append(make_obs(T0 + i, uas_id="JITTER", lat=lat, lon=lon, height=40.0))
    alerts = run(p, obs)
    assert events(alerts, "zone_entry") == [("zone_entry", "open", "critical")]


def test_zone_altitude_band_and_time_window() -> None:
    above = zone_set(max_alt_m=50)
    p = TrackingPipeline(zones=above)
    assert events(run(p, crossing(height=80.0).observations()), "zone_entry") == []
    p = TrackingPipeline(zones=above)
    assert events(run(p, crossing(height=30.0).observations()), "zone_entry") != []
    # the zone is active 00:00-01:00 UTC only; T0 is 22:13 UTC
    night = zone_set(active=[{"start": "00:00", "end": "01:00"}])
    p = TrackingPipeline(zones=night)
    assert run(p, crossing().observations(), until=T0 + 600) == []


def test_altitude_warning_escalation_and_close() -> None:
    p = TrackingPipeline()
    heights = [50.0] * 5 + [130.0] * 5 + [200.0] * 5 + [100.0] * 20
    obs = [make_obs(T0 + i, uas_id="HIGH", lat=51.0, lon=0.0001 * i, height=h)
           for i, h in enumerate(heights)]
    alerts = run(p, obs)
    assert events(alerts, "altitude") == [("altitude", "open", "warning"),
                                         ("altitude", "update", "critical"),
                                         ("altitude", "closed", "critical")]
    assert alerts[0].message.startswith("Drone HIGH at 130 m above take-off (limit 120 m)")
    assert alerts[-1].time == pytest.approx(T0 + 25, abs=1.01)


def test_pilot_in_zone() -> None:
    p = TrackingPipeline(zones=zone_set())
    flight = Flight("PILOTIN", [destination(*C, 0, 3000), destination(*C, 0, 4000)],
                    pilot=destination(*C, 180, 100), start=T0)
    alerts = run(p, flight.observations())
    assert events(alerts) == [("pilot_in_zone", "open", "critical")]
    assert "Pilot of drone PILOTIN is inside zone 'EGLL runway 27L'" in alerts[0].message


def test_unknown_drone_and_whitelist() -> None:
    wl = Whitelist(["KNOWN1"])
    p = TrackingPipeline(whitelist=wl)
    a = run(p, Flight("KNOWN1", [(51.0, 0.0), (51.0, 0.01)], start=T0).observations())
    b = run(p, Flight("STRANGER", [(51.1, 0.0), (51.1, 0.01)], start=T0,
                      source="02:00:00:00:00:09").observations())
    assert a == []
    assert events(b) == [("unknown_drone", "open", "warning")]
    assert b[0].message == "Unknown drone STRANGER (not on the whitelist)"
    # without a whitelist the rule is off
    p = TrackingPipeline()
    assert run(p, Flight("STRANGER", [(51.1, 0.0), (51.1, 0.01)]).observations()) == []


def test_drone_lost_near_zone_then_heard_again() -> None:
    p = TrackingPipeline(zones=zone_set())
    near = destination(*C, 0, 800)  # 300 m outside, hovering
    obs = [make_obs(T0 + i, uas_id="LOSTY", lat=near[0], lon=near[1], height=30.0)
           for i in range(10)]
    alerts = run(p, obs, until=T0 + 30)
    assert events(alerts) == [("drone_lost", "open", "warning")]
    assert alerts[0].message.startswith("Drone LOSTY lost 300 m from zone 'EGLL runway 27L'")
    back = p.feed_observation(make_obs(T0 + 31, uas_id="LOSTY", lat=near[0], lon=near[1]))[1]
    assert events(back) == [("drone_lost", "closed", "warning")]
    # far from every zone: silence is not "lost"
    p = TrackingPipeline(zones=zone_set())
    far = [make_obs(T0 + i, uas_id="FAR", lat=52.0, lon=0.0) for i in range(10)]
    assert run(p, far, until=T0 + 60) == []


def test_track_end_closes_open_episodes() -> None:
    p = TrackingPipeline(zones=zone_set(), rules_config=RulesConfig(enabled=frozenset(
        {"zone_entry"})))
    inside = [make_obs(T0 + i, uas_id="IN", lat=C[0], lon=C[1], height=10.0) for i in range(5)]
    alerts = run(p, inside, until=T0 + 200)
    assert events(alerts) == [("zone_entry", "open", "critical"), ("zone_entry", "closed",
                                                                    "critical")]
    assert alerts[1].message.endswith("closed: track ended")


def test_teleport_flagged_honest_fast_drone_not() -> None:
    p = TrackingPipeline()
    fast = Flight("FAST", [(51.0, 0.0), (51.0, 0.1)], speed=25.0, start=T0)
    assert run(p, fast.observations()) == []
    obs = [make_obs(T0 + i, uas_id="TELE", source="02:00:00:00:00:07", lat=51.0 + 0.0001 * i,
                    lon=0.0) for i in range(10)]
    obs.append(make_obs(T0 + 10, uas_id="TELE", source="02:00:00:00:00:07", lat=51.05, lon=0.0))
    alerts = run(TrackingPipeline(), obs)
    assert events(alerts) == [("spoof_motion", "open", "critical")]
    assert "jumped 5.5 km in 1.0 s" in alerts[0].message


def test_reported_impossible_speed() -> None:
    obs = [make_obs(T0 + i, uas_id="ZOOM", lat=51.0, lon=0.0001 * i, speed=150.0)
           for i in range(3)]
    assert events(run(TrackingPipeline(), obs)) == [("spoof_motion", "open", "warning")]


def test_pilot_too_far() -> None:
    near = Flight("NEAR", [(51.0, 0.0), (51.0, 0.01)], pilot=(51.01, 0.0), start=T0)
    far = Flight("FARPILOT", [(51.0, 0.0), (51.0, 0.01)], pilot=(51.18, 0.0), start=T0,
                 source="02:00:00:00:00:05")
    assert run(TrackingPipeline(), near.observations()) == []
    alerts = run(TrackingPipeline(), far.observations())
    assert events(alerts) == [("spoof_pilot_distance", "open", "warning")]
    assert "is 20.0 km from its pilot" in alerts[0].message


def test_cloned_identity_from_two_places() -> None:
    a = Flight("CLONE", [(51.0, 0.0), (51.0, 0.01)], start=T0, source="02:00:00:00:00:0a")
    b = Flight("CLONE", [(51.1, 0.0), (51.1, 0.01)], start=T0 + 0.5,
               source="02:00:00:00:00:0b")
    obs = sorted([*a.observations(), *b.observations()], key=lambda o: o.time)
    p = TrackingPipeline()
    alerts = run(p, obs)
    assert events(alerts) == [("spoof_clone", "open", "critical")]
    assert "transmitted from two places 11.1 km apart within 0.5 s" in alerts[0].message
    assert len(p.tracks) == 1
    # one drone heard on two transports/MACs at the same place is not a clone
    c = Flight("TWIN", [(51.0, 0.0), (51.0, 0.01)], start=T0, source="02:00:00:00:00:0c")
    d = Flight("TWIN", [(51.0, 0.0), (51.0, 0.01)], start=T0 + 0.3, source="02:00:00:00:00:0d")
    obs = sorted([*c.observations(), *d.observations()], key=lambda o: o.time)
    assert run(TrackingPipeline(), obs) == []


def test_sender_clock() -> None:
    steady = [make_obs(T0 + i, uas_id="CLK", lat=51.0, lon=0.0, sender_time=T0 + i - 700.0)
              for i in range(20)]
    assert run(TrackingPipeline(), steady) == []  # a constant offset is fine
    jumpy = [*steady, make_obs(T0 + 20, uas_id="CLK", lat=51.0, lon=0.0,
                               sender_time=T0 - 300.0)]
    alerts = run(TrackingPipeline(), jumpy)
    assert events(alerts) == [("spoof_clock", "open", "warning")]
    assert "clock jumped" in alerts[0].message
    # an absolute offset counts only when the capture clock is trusted
    ancient = [make_obs(T0, uas_id="OLD", lat=51.0, lon=0.0, sender_time=T0 - 5 * 86400)]
    assert run(TrackingPipeline(), ancient) == []
    trusted = RulesConfig(clock_absolute_tolerance_s=60.0)
    alerts = run(TrackingPipeline(rules_config=trusted), ancient)
    assert events(alerts) == [("spoof_clock", "open", "warning")]
    assert "its clock is 5 days behind the capture time" in alerts[0].message


def test_rssi_too_strong_for_the_distance() -> None:
    cfg = RulesConfig(sensor_positions={"s1": (51.0, 0.0)})
    far = (51.08, 0.0)  # 8.9 km from the sensor
    honest = [make_obs(T0 + i, uas_id="HONEST", lat=far[0], lon=far[1], sensor_id="s1",
                       rssi_dbm=-88.0) for i in range(10)]
    assert run(TrackingPipeline(rules_config=cfg), honest) == []
    liar = [make_obs(T0 + i, uas_id="LIAR", lat=far[0], lon=far[1], sensor_id="s1",
                     rssi_dbm=-30.0) for i in range(10)]
    alerts = run(TrackingPipeline(rules_config=cfg), liar)
    assert events(alerts) == [("spoof_rssi", "open", "warning")]
    assert alerts[0].time == T0 + 4  # after 5 consistent observations
    # unknown sensor position: never judged
    other = [make_obs(T0 + i, uas_id="LIAR", lat=far[0], lon=far[1], sensor_id="s2",
                      rssi_dbm=-30.0) for i in range(10)]
    assert run(TrackingPipeline(rules_config=cfg), other) == []


def test_spoof_episode_closes_without_new_evidence() -> None:
    far = Flight("FARPILOT", [(51.0, 0.0), (51.0, 0.001)], pilot=(51.18, 0.0), start=T0)
    p = TrackingPipeline()
    alerts = run(p, far.observations())
    # then the pilot position is corrected
    fixed = [make_obs(T0 + 10 + i, uas_id="FARPILOT", lat=51.0, lon=0.001,
                      operator_lat=51.001, operator_lon=0.0) for i in range(80)]
    alerts += run(p, fixed)
    assert events(alerts) == [("spoof_pilot_distance", "open", "warning"),
                              ("spoof_pilot_distance", "closed", "warning")]


def test_out_of_order_observation_is_not_a_jump() -> None:
    obs = [make_obs(T0 + i, uas_id="OOO", lat=51.0 + 0.0001 * i, lon=0.0) for i in range(10)]
    obs.insert(8, make_obs(T0 + 1.5, uas_id="OOO", lat=51.00015, lon=0.0))
    assert run(TrackingPipeline(), obs) == []


def test_alert_ids_are_deterministic() -> None:
    def once() -> list[tuple[str, str]]:
        p = TrackingPipeline(zones=zone_set(), whitelist=Whitelist())
        return [(a.alert_id, a.status.value) for a in run(p, crossing().observations())]

    a = once()
    assert a == once() and len(a) >= 4
    assert len({i for i, _ in a}) == 3  # unknown, approach, entry


def test_severity_of_zone_is_used() -> None:
    p = TrackingPipeline(zones=zone_set(severity="info"))
    alerts = run(p, crossing().observations())
    entry = [a for a in alerts if a.rule == "zone_entry"]
    assert entry[0].severity is Severity.INFO
