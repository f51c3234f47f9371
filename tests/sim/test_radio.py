"""The simulator's radio (issue 15): correlated shadowing, per-transmitter power offset, a
location spoofer's shifted broadcast, and several sensors in one capture whose frames keep
their sensor's identity and position."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dronewatch.decode import decode_frames
from dronewatch.sim import iter_frames, parse_scenario, write_capture
from dronewatch.sim.engine import claimed_state, prepare
from dronewatch.sim.radio import ShadowField
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.pcap import (
    Capture,
    PcapngWriter,
    SensorSite,
    leading_sensors,
    parse_sensor_description,
    sensor_description,
)
from dronewatch.stats import DecodeStats
from dronewatch.track.geo import fast_distance_m


def _hexagon(radius_m: float = 500.0) -> list[dict[str, object]]:
    return [{"id": f"s{i}", "east": radius_m * math.sin(math.radians(60 * i)),
             "north": radius_m * math.cos(math.radians(60 * i)), "alt_m": 5.0}
            for i in range(6)]


def _scenario(**radio: float) -> dict[str, object]:
    return {
        "name": "rf", "duration_s": 20, "origin": {"lat": 47.0, "lon": 8.0},
        "sensors": _hexagon(),
        "radio": {"tx_power_dbm": 20, "sensitivity_dbm": -100, **radio},
        "drones": [
            {"name": "honest", "kind": "wifi-beacon", "pilot": {"east": 0, "north": 0},
             "waypoints": [{"east": 200, "north": 100}]},
            {"name": "liar", "kind": "wifi-beacon", "pilot": {"east": -100, "north": 0},
             "waypoints": [{"east": -100, "north": 200}],
             "spoof_offset": {"east": 500, "north": -300}},
        ],
    }


def test_shadowing_is_correlated_like_gudmundson() -> None:
    """Across fields, the correlation at distance r is exp(-r / decorrelation); the field is
    smooth (nearby points agree), and has the configured standard deviation."""
    dc = 50.0
    fields = [ShadowField(4.0, dc, np.random.default_rng(k)) for k in range(400)]
    x0 = np.zeros(1)
    for r in (0.0, 10.0, 50.0, 150.0):
        a = np.array([f(x0, x0)[0] for f in fields])
        b = np.array([f(x0 + r, x0)[0] for f in fields])
        corr = float(np.corrcoef(a, b)[0, 1]) if r else 1.0
        assert abs(corr - math.exp(-r / dc)) < 0.12, (r, corr)
    values = np.concatenate([f(np.arange(0.0, 5000.0, 500.0), np.zeros(10)) for f in fields])
    assert 3.6 < values.std() < 4.4
    # deterministic for a generator seed
    f1, f2 = (ShadowField(4.0, dc, np.random.default_rng(3)) for _ in range(2))
    e = np.linspace(0, 300, 7)
    assert np.array_equal(f1(e, e), f2(e, e))


def test_hovering_drone_keeps_its_shadowing_and_offset_is_unknown() -> None:
    """Frames of a drone hovering in place vary by the fast fading only (averaging does not
    remove shadowing), and the per-transmitter offset moves every sensor's mean alike."""
    base = _scenario(shadowing_db=6.0, fading_db=1.0)
    base["drones"] = [{"name": "hover", "kind": "wifi-beacon", "pilot": {"east": 50, "north": 0},
                       "height_m": 40}]
    spread = {**base, "radio": {**base["radio"], "tx_spread_db": 5.0}}  # type: ignore[dict-item]
    means: list[dict[str, float]] = []
    for data in (base, spread):
        sc = parse_scenario(data)
        by: dict[str, list[float]] = {}
        for f in iter_frames(sc, seed=2):
            if f.time - sc.start_epoch > 15:  # airborne, hovering
                assert f.rssi_dbm is not None
                by.setdefault(f.sensor_id, []).append(f.rssi_dbm)
        for values in by.values():
            assert np.std(values) < 1.6  # fading (1 dB) and rounding only
        means.append({s: float(np.mean(v)) for s, v in by.items()})
    shift = [means[1][s] - means[0][s] for s in means[0]]
    assert np.ptp(shift) < 1.0 and abs(shift[0]) > 0.1  # one offset for every sensor


def test_spoof_offset_shifts_the_broadcast_not_the_signal() -> None:
    sc = parse_scenario(_scenario())
    frame, runtimes = prepare(sc, seed=1)
    t = np.array([5.0, 12.0])
    honest, liar = (claimed_state(rt, frame, t) for rt in runtimes)
    assert np.allclose(honest.east, honest.true_east)
    assert np.allclose(liar.east - liar.true_east, 500.0)
    assert np.allclose(liar.north - liar.true_north, -300.0)


def test_capture_keeps_every_sensor_identity_and_position(tmp_path: Path) -> None:
    sc = parse_scenario(_scenario())
    path = tmp_path / "six.pcapng"
    summary = write_capture(sc, path, seed=1)
    assert summary.sensor == "s0,s1,s2,s3,s4,s5"
    capture = Capture(path)
    try:
        assert capture.buf is not None
        sites = leading_sensors(capture.buf)
    finally:
        capture.close()
    assert list(sites) == [f"s{i}" for i in range(6)]
    s1 = sites["s1"]
    assert s1 is not None
    # s1 stands 500 m from the origin at bearing 60 degrees, 5 m up
    assert abs(fast_distance_m(47.0, 8.0, s1.lat, s1.lon) - 500.0) < 3.0  # (sphere)
    assert s1.alt_m == 5.0
    stats = DecodeStats()
    frames = list(open_capture(path, CaptureOptions(sensor_id="fallback"), stats))
    sent = list(iter_frames(sc, seed=1))
    assert Counter(f.sensor_id for f in frames) == Counter(f.sensor_id for f in sent)
    # the same RSSI per sensor as simulated (1 dB radiotap resolution)
    got = sorted((f.sensor_id, f.time, f.rssi_dbm) for f in frames)
    want = sorted((f.sensor_id, f.time, f.rssi_dbm) for f in sent)
    assert [(a[0], a[2]) for a in got] == [(b[0], b[2]) for b in want]
    assert all(abs(a[1] - b[1]) < 1e-6 for a, b in zip(got, want, strict=True))
    assert len(list(decode_frames(iter(frames), stats))) > 0
    # one sensor only: as before, its interfaces alone
    one = tmp_path / "one.pcapng"
    write_capture(sc, one, seed=1, sensor="s3")
    frames = list(open_capture(one, CaptureOptions(), DecodeStats()))
    assert frames and {f.sensor_id for f in frames} == {"s3"}


def test_plain_interfaces_keep_the_default_sensor(tmp_path: Path) -> None:
    """A capture whose interfaces are not dronewatch sensors (tcpdump's wlan0mon) keeps the
    sensor id given by the reader; a sensor description without a position is a sensor with
    no site; garbage in the description is no crash."""
    assert parse_sensor_description("wlan0mon monitor") == (False, None)
    assert parse_sensor_description("dronewatch sensor") == (True, None)
    assert parse_sensor_description("dronewatch sensor; lat=91; lon=8") == (True, None)
    assert parse_sensor_description("dronewatch sensor; lat=nan; lon=x") == (True, None)
    site = SensorSite(47.5, 8.25, 12.0)
    assert parse_sensor_description(sensor_description(site)) == (True, site)
    path = tmp_path / "plain.pcapng"
    with PcapngWriter(path) as w:
        w.interface(127, name="wlan0mon")
    capture = Capture(path)
    try:
        assert capture.buf is not None and leading_sensors(capture.buf) == {}
    finally:
        capture.close()


@pytest.mark.parametrize("sensor", ["nowhere"])
def test_unknown_sensor_is_an_error(tmp_path: Path, sensor: str) -> None:
    from dronewatch.sim import ScenarioError

    with pytest.raises(ScenarioError):
        write_capture(parse_scenario(_scenario()), tmp_path / "x.pcapng", sensor=sensor)
