"""``dronewatch analyze``: real captures -> tracks and alerts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dronewatch.cli import main


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["analyze", *args])
    return result.exit_code, result.stdout, result.stderr


def _records(out: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    recs = [json.loads(line) for line in out.splitlines()]
    return ([r for r in recs if r["kind"] == "track"], [r for r in recs if r["kind"] == "alert"])


def test_wifi_beacon_capture_is_one_track(data_dir: Path) -> None:
    oracle = json.loads((data_dir / "odid_wifi_bcn_sample.pcap.oracle.json").read_text())
    code, out, err = _run("--json", str(data_dir / "odid_wifi_bcn_sample.pcap"))
    assert code == 0, err
    tracks, alerts = _records(out)
    assert alerts == []  # an honest transmitter
    (t,) = tracks
    assert t["uas_id"] == "MFG1A0123456789" and t["operator_id"] == "GBR-OP-123ABCD"
    assert t["transports"] == ["wifi-beacon"] and t["sources"] == ["84:cc:a8:60:43:24"]
    locs = oracle["locations"]
    assert t["positions"] == len(locs) == 21
    assert t["last"][:2] == pytest.approx(locs[-1][1:3], abs=1e-9)
    assert t["max_alt"] == 237.0
    assert t["operator"] == pytest.approx(oracle["operators"][-1][1:3], abs=1e-9)
    assert t["first_seen"] <= locs[0][0] and t["last_seen"] >= locs[-1][0]
    assert "1 track(s), 0 alert(s) opened" in err


def test_message_pack_with_two_basic_ids_is_one_drone(data_dir: Path) -> None:
    code, out, _ = _run("--json", str(data_dir / "wireless_RID_test_linux_transmitter.pcapng"))
    assert code == 0
    tracks, alerts = _records(out)
    (t,) = tracks
    assert t["uas_id"] == "112624150A90E3AE1EC0" and t["serial"] == "112624150A90E3AE1EC0"
    assert t["operator_id"] == "FIN87astrdge12k8"
    assert t["last"] == [51.4791, -0.0013, 110.0]
    assert t["operator"] is None  # (0.001, -0.001) is a placeholder, not a pilot position
    assert alerts == []
    # its system timestamp is fixed at 2019-11-21: flagged once the capture clock is trusted
    code, out, _ = _run("--json", "--max-clock-offset", "60",
                        str(data_dir / "wireless_RID_test_linux_transmitter.pcapng"))
    assert [(a["rule"], a["status"]) for a in _records(out)[1]] == [("spoof_clock", "open")]


def test_spoofed_dji_transmitter_is_flagged(data_dir: Path, tmp_path: Path) -> None:
    wl = tmp_path / "wl.txt"
    wl.write_text("# nobody\nSOMEONE-ELSE\n")
    code, out, err = _run("--json", "--whitelist", str(wl),
                          str(data_dir / "dji_wifi_spoofed_single.pcapng"))
    assert code == 0, err
    tracks, alerts = _records(out)
    (t,) = tracks
    assert t["serial"] == "K6RE0WENAH9P8QAL" and t["transports"] == ["dji-wifi"]
    rules = {a["rule"] for a in alerts}
    assert rules == {"spoof_pilot_distance", "unknown_drone"}
    pilot = next(a for a in alerts if a["rule"] == "spoof_pilot_distance")
    assert pilot["severity"] == "warning" and pilot["uas_id"] is None
    assert pilot["message"].startswith("Drone K6RE0WENAH9P8QAL is 5532")


def test_zones_file_and_readable_report(data_dir: Path, tmp_path: Path) -> None:
    zones = tmp_path / "zones.geojson"
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "test field", "radius_m": 300,
                                          "severity": "critical"},
        "geometry": {"type": "Point", "coordinates": [-122.9668, 45.5471]}}]}))
    capture = str(data_dir / "odid_wifi_bcn_sample.pcap")
    code, out, _ = _run("--json", "--zones", str(zones), capture)
    assert code == 0
    _, alerts = _records(out)
    entry = [a for a in alerts if a["rule"] == "zone_entry"]
    assert len(entry) == 1 and entry[0]["zone"] == "test field"
    assert entry[0]["message"].startswith("Drone MFG1A0123456789 entered zone 'test field'")
    assert entry[0]["status"] == "open" and entry[0]["severity"] == "critical"
    code, out, _ = _run("--zones", str(zones), capture)
    assert code == 0
    assert "1 track(s)" in out and "MFG1A0123456789" in out and "zone_entry" in out


def test_airports_layer(data_dir: Path) -> None:
    # the Linux transmitter's position (51.4791 N, 0.0013 W) is Greenwich, 5 km from EGLC
    capture = str(data_dir / "wireless_RID_test_linux_transmitter.pcapng")
    code, out, err = _run("--json", "--airports", "--airport-country", "GB",
                          "--airport-radius", "us-5sm", capture)
    assert code == 0, err
    _, alerts = _records(out)
    entry = [a for a in alerts if a["rule"] == "zone_entry"]
    assert [a["zone"] for a in entry] == ["EGLC London City Airport"]
    code, out, _ = _run("--json", "--airports", "--airport-country", "GB", capture)
    assert [a for a in _records(out)[1] if a["rule"] == "zone_entry"] == []


def test_bad_zones_and_whitelist_files(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "Feature", "properties": {"name": "x", "radius": 5},
                               "geometry": {"type": "Point", "coordinates": [0, 51]}}))
    code, _, err = _run("--zones", str(bad), str(data_dir / "odid_wifi_bcn_sample.pcap"))
    assert code != 0 and "bad.geojson: feature 0 ('x'): unknown property 'radius'" in err
    wl = tmp_path / "wl.txt"
    wl.write_text("A B\n")
    code, _, err = _run("--whitelist", str(wl), str(data_dir / "odid_wifi_bcn_sample.pcap"))
    assert code != 0 and "line 1" in err


def test_unreadable_capture_is_reported(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"\x00" * 10)
    code, _, err = _run("--json", str(junk))
    assert code == 1 and "error:" in err


def test_altitude_limit_and_sensor_position_options(data_dir: Path) -> None:
    capture = str(data_dir / "wireless_RID_test_linux_transmitter.pcapng")  # height 80 m
    code, out, _ = _run("--json", "--altitude-limit", "50", capture)
    assert code == 0
    assert ("altitude", "open") in [(a["rule"], a["status"]) for a in _records(out)[1]]
    # the sensor said to be 40 km away, yet it hears the transmitter at about -70 dBm
    code, out, _ = _run("--json", "--sensor-position", "local=51.84,-0.0013", capture)
    assert code == 0
    assert "spoof_rssi" in {a["rule"] for a in _records(out)[1]}
    code, _, err = _run("--sensor-position", "nonsense", capture)
    assert code != 0 and "ID=LAT,LON" in err


def test_several_captures_years_apart_keep_every_track(data_dir: Path) -> None:
    code, out, _ = _run("--json", str(data_dir / "odid_wifi_bcn_sample.pcap"),
                        str(data_dir / "dji_wifi_spoofed_single.pcapng"),
                        str(data_dir / "odid_bt5_lr_sample.pcapng"))
    assert code == 0
    tracks, _ = _records(out)
    assert sorted(t["uas_id"] or t["serial"] for t in tracks) == [
        "K6RE0WENAH9P8QAL", "MFG1A0123456789", "SSEVTFG93700070"]
    assert [t["first_seen"] for t in tracks] == sorted(t["first_seen"] for t in tracks)
    assert {t["state"] for t in tracks[:2]} == {"ended"}
