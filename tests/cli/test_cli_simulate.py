"""``dronewatch simulate`` writes the DJI OcuSync bursts of a scenario as SigMF IQ, and
``dronewatch decode`` reads the drone's serial and path back from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dronewatch.cli import main
from dronewatch.model import Transport
from dronewatch.sim import iter_frames, load_scenario
from dronewatch.sim.engine import claimed_state, prepare
from dronewatch.sources.iq import read_sigmf_meta

DEG_RES = 1 / 174532.9252  # DJI DroneID: 1e-7 radian
HEIGHT_RES = 0.1

# An OcuSync drone taking off 150 m from the sensor, and a Remote ID one for the pcapng.
SCENARIO = """
name = "ocusync_short"
duration_s = 10
start_time = 2026-06-01T08:00:00Z

[origin]
lat = 47.0
lon = 8.0

[[sensors]]
id = "s1"
east = 0
north = 0

[[drones]]
name = "mini"
kind = "dji-ocusync"
speed_mps = 8
height_m = 30
climb_mps = 10
ground_s = 1
pilot = { east = 150, north = 0 }
waypoints = [{ east = 150, north = 200 }]

[[drones]]
name = "rid"
kind = "wifi-beacon"
pilot = { east = -100, north = 0 }
waypoints = [{ east = -100, north = 100 }]
"""


def _simulate(tmp_path: Path, *args: str) -> str:
    scenario = tmp_path / "ocusync_short.toml"
    scenario.write_text(SCENARIO)
    res = CliRunner().invoke(main, ["simulate", str(scenario), "-o", str(tmp_path / "out.pcapng"),
                                    "--seed", "4", "-q", *args])
    assert res.exit_code == 0, res.output
    return res.stderr


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("simiq")
    return tmp, _simulate(tmp, "--truth", str(tmp / "truth.json"))


def test_iq_beside_the_pcapng_decodes_to_the_truth(simulated: tuple[Path, str]) -> None:
    tmp, err = simulated
    m = re.search(r"out\.sigmf-meta: (\d+) OcuSync bursts as IQ", err)
    assert m, err
    bursts = int(m.group(1))
    sent = [f for f in iter_frames(load_scenario(tmp / "ocusync_short.toml"), seed=4)
            if f.transport is Transport.DJI_OCUSYNC]
    assert bursts == len(sent) > 10
    assert "iq-only" not in err and "not written" not in err
    rec = read_sigmf_meta(tmp / "out.sigmf-meta")
    assert rec.datatype == "ci16_le" and rec.sample_rate == 50e6
    assert rec.captures[0].frequency_hz == 2414.5e6
    assert len(rec.annotations) == bursts
    # idle time is cut: far less than the 10 s at 50 MS/s (2 GB)
    assert (tmp / "out.sigmf-data").stat().st_size < bursts * 5e-3 * 50e6 * 4

    res = CliRunner().invoke(main, ["decode", "--json", str(tmp / "out.sigmf-meta")])
    assert res.exit_code == 0, res.output
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert f"{bursts} packets read, {bursts} frames" in res.stderr  # every burst passes CRC

    truth = {d["name"]: d for d in json.loads((tmp / "truth.json").read_text())["drones"]}
    serial = truth["mini"]["serial"]
    assert {r["serial"] for r in records} == {serial}
    assert sum(r["type"] == "dji_serial" for r in records) >= 3  # the record sent every 2 s

    sent_times = [f.time for f in sent]
    for r in records:  # the simulator's times, read back across the cuts in the recording
        assert min(abs(r["time"] - t) for t in sent_times) < 2e-6
    telemetry = [r for r in records if r["type"] == "dji_telemetry"]
    assert len(telemetry) == bursts - sum(r["type"] == "dji_serial" for r in records)
    sc = load_scenario(tmp / "ocusync_short.toml")
    frame, runtimes = prepare(sc, seed=4)
    want = claimed_state(runtimes[0], frame, np.array([r["time"] - sc.start_epoch
                                                        for r in telemetry]))
    for i, r in enumerate(telemetry):
        assert abs(r["lat"] - want.lat[i]) <= DEG_RES
        assert abs(r["lon"] - want.lon[i]) <= DEG_RES
        assert abs(r["height"] - want.height[i]) <= HEIGHT_RES / 2 + 1e-6
    # it flew: heights and positions along the way were checked
    assert max(r["height"] for r in telemetry) > 20
    assert max(r["lat"] for r in telemetry) - min(r["lat"] for r in telemetry) > 2e-4


def test_cli_summary_and_pcapng(simulated: tuple[Path, str]) -> None:
    _, err = simulated
    assert "packets from 2 drones" in err and "(wifi-beacon: " in err
    assert re.search(r"OcuSync bursts as IQ, 0\.\d\d s at 50 MS/s \(\d+\.\d MB\)", err), err


def test_no_iq_iq_path_and_cap(tmp_path: Path) -> None:
    err = _simulate(tmp_path, "--no-iq")
    assert not (tmp_path / "out.sigmf-meta").exists()
    assert re.search(r"not written: dji-ocusync: iq-only: \d+", err), err

    err = _simulate(tmp_path, "--iq", str(tmp_path / "elsewhere.sigmf-meta"),
                    "--iq-max-seconds", "0.02")
    assert not (tmp_path / "out.sigmf-meta").exists()
    rec = read_sigmf_meta(tmp_path / "elsewhere.sigmf-meta")
    # idle time cut to 4 ms: the 0.02 s cap holds about 5 bursts; the rest are counted
    written = len(rec.annotations)
    assert 4 <= written <= 8
    assert all(a["core:sample_start"] < 0.02 * 50e6 for a in rec.annotations)
    assert f"elsewhere.sigmf-meta: {written} OcuSync bursts" in err
    capped = re.search(r"dji-ocusync: iq-cap: (\d+)", err)
    assert capped, err
    sent = [f for f in iter_frames(load_scenario(tmp_path / "ocusync_short.toml"), seed=4)
            if f.transport is Transport.DJI_OCUSYNC]
    assert written + int(capped.group(1)) == len(sent)

    res = CliRunner().invoke(main, ["simulate", "x", "-o", str(tmp_path / "o.pcapng"), "--no-iq",
                                    "--iq", str(tmp_path / "i")])
    assert res.exit_code == 2 and "exclude each other" in res.output
