"""The scenario simulator: decoding a simulated capture gives back every drone, its path and
its pilot within the resolution of each format; spoofers, radio and determinism."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.decode import decode_frames
from dronewatch.model import Decoded, Transport
from dronewatch.sim import (
    ScenarioError,
    builtin_scenarios,
    ground_truth,
    iter_frames,
    load_scenario,
    parse_scenario,
    write_capture,
)
from dronewatch.sim.engine import claimed_state, prepare
from dronewatch.sources import open_capture
from dronewatch.stats import DecodeStats

# (position degrees, height m) resolution of what each kind sends
RESOLUTION = {
    "wifi-beacon": (1e-7, 0.5),
    "wifi-nan": (1e-7, 0.5),
    "ble-legacy": (1e-7, 0.5),
    "ble-long-range": (1e-7, 0.5),
    "dji-wifi": (1 / 174532.9252, 0.1),
    "fr-beacon": (1e-5, 1.0),
}


def _identity(d: Decoded) -> str | None:
    m: Any = d.message
    if d.frame.transport is Transport.DJI_WIFI:
        return getattr(m, "serial", None)
    return getattr(m, "uas_id", None)


@pytest.fixture(scope="module")
def crowd_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    scenario = load_scenario("hobby_crowd")
    path = tmp_path_factory.mktemp("sim") / "crowd.pcapng"
    summary = write_capture(scenario, path, seed=7, duration=150)
    return path, summary


def test_builtin_scenarios_load() -> None:
    names = builtin_scenarios()
    for expected in ("airport_runway_approach", "prison_delivery", "hobby_crowd",
                     "demo_airport"):
        assert expected in names
    for name in names:
        sc = load_scenario(name)
        assert sc.drones and sc.sensors
        assert ground_truth(sc)  # every drone resolves (airports, clones, paths)
    demo = load_scenario("demo_airport")
    assert demo.duration_s >= 600
    zones = demo.zones_path()
    assert zones is not None and zones.exists()


def test_demo_zones_load() -> None:
    from dronewatch.alerts.zones import load_zones

    path = load_scenario("demo_airport").zones_path()
    assert path is not None
    zs = load_zones(path)
    assert len(list(zs)) >= 3


def test_capture_decodes_every_drone_path_and_pilot(crowd_capture: tuple[Path, Any]) -> None:
    path, summary = crowd_capture
    scenario = load_scenario("hobby_crowd")
    stats = DecodeStats()
    decoded = list(decode_frames(open_capture(path, stats=stats), stats))
    assert stats.packets_read == summary.packets
    assert not stats.skipped, stats.summary()

    truth = {t.name: t for t in ground_truth(scenario, seed=7)}
    frame, runtimes = prepare(scenario, seed=7)
    t0 = scenario.start_epoch
    by_id: dict[str, list[Decoded]] = defaultdict(list)
    for d in decoded:
        ident = _identity(d)
        if ident:
            by_id[ident].append(d)
    # RID location/system messages carry no ID: attribute them by transmitter address
    by_source: dict[str, list[Decoded]] = defaultdict(list)
    for d in decoded:
        by_source[d.frame.source or ""].append(d)

    for rt in runtimes:
        tr = truth[rt.drone.name]
        ident = tr.serial if rt.kind == "dji-wifi" else tr.uas_id
        assert by_id.get(ident), f"{rt.drone.name} ({rt.kind}) not decoded"
        msgs = [d for d in by_source[tr.mac] if getattr(d.message, "lat", None) is not None]
        assert len(msgs) > 20, rt.drone.name
        times = np.array([d.frame.time - t0 for d in msgs])
        want = claimed_state(rt, frame, times)
        pos_res, h_res = RESOLUTION[rt.kind]
        for i, d in enumerate(msgs):
            m: Any = d.message
            assert abs(m.lat - want.lat[i]) <= pos_res, (rt.drone.name, m)
            assert abs(m.lon - want.lon[i]) <= pos_res, (rt.drone.name, m)
            assert abs(m.height - want.height[i]) <= h_res / 2 + 1e-6, (rt.drone.name, m)
        # the pilot: System messages (Remote ID) or operator position (DJI)
        pilots = [d for d in by_source[tr.mac]
                  if getattr(d.message, "operator_lat", None) is not None]
        if rt.kind != "fr-beacon":
            assert pilots, rt.drone.name
            for d in pilots:
                m = d.message
                w = claimed_state(rt, frame, np.array([d.frame.time - t0]))
                assert abs(m.operator_lat - w.pilot_lat[0]) <= pos_res
                assert abs(m.operator_lon - w.pilot_lon[0]) <= pos_res


def test_walking_pilot_moves() -> None:
    truth = {t.name: t for t in ground_truth(load_scenario("hobby_crowd"), seed=7)}
    walker = truth["holybro-rid"]
    assert max(walker.operator_lon) - min(walker.operator_lon) > 0.0005  # ~ 40+ m


def test_deterministic_for_a_seed() -> None:
    sc = load_scenario("prison_delivery")
    a = list(iter_frames(sc, seed=3, duration=60))
    b = list(iter_frames(sc, seed=3, duration=60))
    c = list(iter_frames(sc, seed=4, duration=60))
    assert a == b
    assert a != c
    times = [f.time for f in a]
    assert times == sorted(times)
    assert {f.sensor_id for f in a} == {"north-wall", "south-wall"}


def _one_drone(**drone: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "d", "kind": "wifi-beacon", "uas_id": "1596F0000000000000X1",
        "pilot": {"east": 0, "north": 0}, "speed_mps": 10, "height_m": 50,
        "waypoints": [{"east": 2000, "north": 0}], "return_home": False, "land": False,
    }
    base.update(drone)
    return {"name": "t", "duration_s": 240, "origin": {"lat": 47.0, "lon": 8.0},
            "radio": {"shadowing_db": 0, "sensitivity_dbm": -200}, "drones": [base]}


def test_rssi_falls_with_distance() -> None:
    sc = parse_scenario(_one_drone())
    frames = list(iter_frames(sc))
    early = np.mean([f.rssi_dbm for f in frames if f.time - sc.start_epoch < 20])
    late = np.mean([f.rssi_dbm for f in frames if f.time - sc.start_epoch > 200])
    # log-distance: ~2000 m vs ~50 m at exponent 2.2 -> ~35 dB
    assert early - late > 25


def test_loss_and_sensitivity() -> None:
    full = list(iter_frames(parse_scenario(_one_drone())))
    data = _one_drone()
    data["radio"]["loss"] = 0.5
    lossy = list(iter_frames(parse_scenario(data)))
    assert 0.4 * len(full) < len(lossy) < 0.6 * len(full)
    data = _one_drone()
    data["radio"]["sensitivity_dbm"] = -80  # out of range once far away
    deaf = list(iter_frames(parse_scenario(data)))
    assert len(deaf) < len(full)
    assert max(f.time for f in deaf) < max(f.time for f in full)


def test_mac_randomisation() -> None:
    fixed = {f.source for f in iter_frames(parse_scenario(_one_drone()))}
    assert len(fixed) == 1
    rnd = {f.source for f in iter_frames(parse_scenario(_one_drone(mac_randomize_s=60)))}
    assert len(rnd) >= 4


def test_spoofers() -> None:
    sc = load_scenario("demo_airport")
    truth = {t.name: t for t in ground_truth(sc, seed=0)}
    # a pilot 20 km from the drone
    rp = truth["remote-pilot"]
    d = _distance_m(rp.lat[100], rp.lon[100], rp.operator_lat[100], rp.operator_lon[100])
    assert 19000 < d < 21500
    # a clone: the same serial from two places far apart
    a, b = truth["survey-m30"], truth["m30-clone"]
    assert a.serial == b.serial and a.mac != b.mac
    assert _distance_m(a.lat[200], a.lon[200], b.lat[200], b.lon[200]) > 5000
    # teleports: claimed jumps of ~6 km
    tp = truth["teleporter"]
    jumps = [_distance_m(tp.lat[i], tp.lon[i], tp.lat[i + 1], tp.lon[i + 1])
             for i in range(len(tp.lat) - 1)]
    assert max(jumps) > 5000
    assert sum(j > 5000 for j in jumps) >= 4


def test_ocusync_frames_decode() -> None:
    sc = load_scenario("demo_airport")
    frames = [f for f in iter_frames(sc, duration=60, sensors=["orly-tower"])
              if f.transport is Transport.DJI_OCUSYNC]
    assert frames
    decoded = list(decode_frames(frames))
    serials = {getattr(d.message, "serial", None) for d in decoded}
    assert serials == {"3NZCH8X00315QK"}


def test_yaml_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(
        "name: y\nduration_s: 30\norigin: {lat: 47, lon: 8}\n"
        "drones:\n  - {name: a, kind: fr-beacon, pilot: {east: 0, north: 0}}\n"
    )
    sc = load_scenario(p)
    assert sc.drones[0].kind == "fr-beacon"
    assert list(iter_frames(sc))
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\n[origin]\nlat = 1\nlon = 2\n[[drones]]\nname = "a"\nkind = "x"\n')
    with pytest.raises(ScenarioError):
        load_scenario(bad)
    with pytest.raises(ScenarioError):
        load_scenario("no_such_scenario")
    with pytest.raises(ScenarioError):  # unknown airport
        ground_truth(parse_scenario({"name": "c", "origin": {"airport": "ZZZZ"}}))


def test_cli_simulate(tmp_path: Path) -> None:
    from dronewatch.cli import main

    out = tmp_path / "o.pcapng"
    truth = tmp_path / "t.json"
    res = CliRunner().invoke(main, ["simulate", "prison_delivery", "-o", str(out), "--seed", "2",
                                    "--duration", "30", "--truth", str(truth), "-q"])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 1000 and truth.exists()
    assert "packets from 3 drones" in res.output


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


@settings(max_examples=12, deadline=None)
@given(
    kind=st.sampled_from(["wifi-beacon", "wifi-nan", "ble-legacy", "ble-long-range", "dji-wifi",
                          "fr-beacon"]),
    seed=st.integers(0, 2**16),
    wps=st.lists(st.tuples(st.floats(-800, 800), st.floats(-800, 800), st.floats(5, 150),
                           st.floats(0, 10)), min_size=1, max_size=4),
    speed=st.floats(1, 30),
)
def test_random_scenarios_decode_cleanly(
    kind: str, seed: int, wps: list[tuple[float, float, float, float]], speed: float
) -> None:
    data = _one_drone(
        kind=kind, speed_mps=speed, return_home=True, land=True, description="t",
        waypoints=[{"east": e, "north": n, "height_m": h, "loiter_s": lo} for e, n, h, lo in wps],
    )
    data["duration_s"] = 40
    frames = list(iter_frames(parse_scenario(data), seed=seed))
    assert frames
    stats = DecodeStats()
    decoded = list(decode_frames(frames, stats))
    assert not stats.skipped, stats.summary()
    assert len(decoded) >= len(frames)


def test_default_identities_fit_their_formats() -> None:
    kinds = ["wifi-beacon", "ble-legacy", "dji-wifi", "fr-beacon"]
    data = _one_drone()
    data["drones"] = [
        {"name": f"n{i}", "kind": k, "pilot": {"east": 0, "north": 0}} for i, k in enumerate(kinds)
    ]
    truth = {t.kind: t for t in ground_truth(parse_scenario(data))}
    assert len(truth["wifi-beacon"].uas_id) == 20
    assert truth["wifi-beacon"].uas_id[4] == "F"  # CTA-2063 length character
    assert len(truth["dji-wifi"].serial) == 14
    assert len(truth["fr-beacon"].uas_id) == 30
    with pytest.raises(ScenarioError):
        parse_scenario(_one_drone(uas_id="X" * 21))
