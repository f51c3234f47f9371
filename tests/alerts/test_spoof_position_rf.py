"""``spoof_position_rf`` (issue 15) and the rule registry: the rule fires on a drone that
broadcasts positions 500 m from where it flies, not on an honest one, not with two sensors;
a rule registered in one module runs without any edit elsewhere. (The false alarm rate over
many seeds is measured by ``bench/rf_localise.py``, not here.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dronewatch.alerts.engine import AlertEngine
from dronewatch.alerts.pipeline import TrackingPipeline
from dronewatch.alerts.registry import RULES, Finding, Rule, register
from dronewatch.alerts.rules import ALL_RULES, RulesConfig
from dronewatch.decode import decode_frames
from dronewatch.model import Alert, AlertStatus, Observation, Severity, Transport
from dronewatch.sim import iter_frames, parse_scenario
from dronewatch.sim.engine import sensor_sites
from dronewatch.sim.scenario import Scenario
from dronewatch.sim.sensor_field import ring_sensors
from dronewatch.stats import DecodeStats
from dronewatch.track.rf_locate import RfConfig
from dronewatch.track.tracker import Tracker

RULE = "spoof_position_rf"


def _scenario(n_sensors: int = 6) -> Scenario:
    def drone(name: str, uas: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "kind": "wifi-beacon", "uas_id": uas, "speed_mps": 8.0,
                "height_m": 60, "repeat": True, **extra}

    return parse_scenario({
        "name": "rf", "duration_s": 150, "origin": {"lat": 48.1, "lon": 11.5},
        "sensors": ring_sensors(n_sensors, 500.0),
        "radio": {"tx_power_dbm": 20, "exponent": 2.2, "shadowing_db": 4.0,
                  "fading_db": 2.0, "tx_spread_db": 3.0, "sensitivity_dbm": -100},
        "drones": [
            drone("honest", "HONEST0001", pilot={"east": -150, "north": -100},
                  waypoints=[{"east": 200, "north": 150}, {"east": -200, "north": 200}]),
            drone("liar", "LIAR000001", pilot={"east": 100, "north": -200},
                  waypoints=[{"east": -150, "north": 100}, {"east": 200, "north": -50}],
                  spoof_offset={"east": 400, "north": 300}),
        ],
    })


def _run(sc: Scenario, seed: int) -> tuple[TrackingPipeline, list[Alert]]:
    pipe = TrackingPipeline(rf_config=RfConfig(sensors=sensor_sites(sc)), auto_tick_s=1.0)
    alerts: list[Alert] = []
    for d in decode_frames(iter_frames(sc, seed=seed), DecodeStats()):
        alerts.extend(pipe.feed(d)[1])
    alerts.extend(pipe.finish())
    return pipe, alerts


@pytest.mark.parametrize("seed", [1, 2])
def test_fires_on_the_spoofer_only(seed: int) -> None:
    sc = _scenario()
    pipe, alerts = _run(sc, seed)
    opened = [a for a in alerts if a.rule == RULE and a.status is AlertStatus.OPEN]
    assert {a.uas_id for a in opened} == {"LIAR000001"}
    a = opened[0]
    assert a.severity is Severity.WARNING
    assert "claims to be" in a.message and "transmitter likely at" in a.message
    d = a.details
    assert 300.0 < d["offset_m"] < 700.0  # the lie is 500 m
    assert d["lr_stat"] >= 25.0 and len(d["sensors"]) == 6
    # where the transmitter likely is: near the true path, not the broadcast one
    assert d["rf_error_m"] is not None and d["rf_error_m"] < 200.0
    # the honest drone's estimate agrees with its broadcast
    honest = next(t for t in pipe.tracks.values() if t.uas_id == "HONEST0001")
    est = pipe.rf_estimate(honest.track_id)
    assert est is not None and est.offset_m is not None and est.offset_m < 200.0


def test_two_sensors_never_raise_it() -> None:
    sc = _scenario(n_sensors=6)
    sites = {k: v for k, v in sensor_sites(sc).items() if k in ("rf1", "rf4")}
    pipe = TrackingPipeline(rf_config=RfConfig(sensors=sites), auto_tick_s=1.0)
    alerts: list[Alert] = []
    for d in decode_frames(iter_frames(sc, seed=1, duration=90), DecodeStats()):
        alerts.extend(pipe.feed(d)[1])
    assert not [a for a in alerts if a.rule == RULE]
    liar = next(t for t in pipe.tracks.values() if t.uas_id == "LIAR000001")
    est = pipe.rf_estimate(liar.track_id)
    assert est is not None and est.reason is not None and "not enough sensors" in est.reason


@pytest.fixture
def probe_rule() -> Iterator[type[Rule]]:
    @register
    class Probe(Rule):
        name = "probe_height"

        @dataclass(slots=True, frozen=True)
        class Settings:
            limit_m: float = 100.0

        def check(self, st: Any, obs: Observation, memory: dict[str, Any]) -> Finding | None:
            h = st.track.height
            memory["seen"] = memory.get("seen", 0) + 1
            if h is not None and h > self.settings.limit_m:
                return Finding(Severity.WARNING, f"too high after {memory['seen']}",
                               {"height_m": h})
            return None

        def close_message(self, track: Any) -> str:
            return "back down"

    yield Probe
    del RULES["probe_height"]


def _obs(t: float, height: float) -> Observation:
    return Observation(time=t, transport=Transport.WIFI_BEACON, message_type="location",
                       uas_id="ABC", lat=48.1, lon=11.5 + t * 1e-6, height=height)


def test_a_registered_rule_runs_without_edits_elsewhere(probe_rule: type[Rule]) -> None:
    engine = AlertEngine(config=RulesConfig(rule_settings={"probe_height": probe_rule.Settings(50.0)}))
    tracker = Tracker()
    events: list[Alert] = []
    for t, h in [(0.0, 40.0), (1.0, 60.0), (2.0, 70.0), (3.0, 30.0), (20.0, 30.0)]:
        st = tracker.update(_obs(t, h))
        assert st is not None
        events.extend(engine.evaluate(st, _obs(t, h)))
    assert [(a.rule, a.status, a.message) for a in events] == [
        ("probe_height", AlertStatus.OPEN, "too high after 2"),
        ("probe_height", AlertStatus.CLOSED, "back down"),
    ]
    assert events[0].details == {"height_m": 60.0}
    # disabled: it does not run
    off = AlertEngine(config=RulesConfig(disabled=frozenset({"probe_height"})))
    assert "probe_height" not in [r.name for r in off.rulebook]
    # a migrated built-in rule still obeys ``enabled``
    names = [r.name for r in AlertEngine().rulebook]
    assert {"spoof_pilot_distance", "spoof_position_rf", "probe_height"} <= set(names)
    without = AlertEngine(config=RulesConfig(enabled=frozenset(ALL_RULES) - {"spoof_pilot_distance"}))
    assert "spoof_pilot_distance" not in [r.name for r in without.rulebook]
    with pytest.raises(ValueError, match="twice"):
        register(type("Other", (Rule,), {"name": "probe_height"}))
