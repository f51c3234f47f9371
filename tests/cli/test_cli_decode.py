"""``dronewatch decode``: table, JSON Lines, summary, strict mode, bad files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dronewatch.cli import main


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["decode", *args])
    return result.exit_code, result.stdout, result.stderr


def test_table(data_dir: Path) -> None:
    code, out, err = _run(str(data_dir / "odid_wifi_bcn_sample.pcap"),
                          str(data_dir / "wireless_RID_test_linux_transmitter.pcapng"))
    assert code == 0
    assert "2 drone(s)" in out
    for text in ("MFG1A0123456789", "112624150A90E3AE1EC0", "GBR-OP-123ABCD", "FIN87astrdge12k8",
                 "84:cc:a8:60:43:24", "8c:17:59:f5:95:65", "wifi-beacon", "51.479100, -0.001300",
                 "2021-05-21 21:52:25.961"):
        assert text in out, text
    assert err.strip() == "42 packets read, 42 frames, 294 messages decoded, 0 skipped"


def test_json_lines(data_dir: Path) -> None:
    code, out, err = _run("--json", "--sensor", "roof", str(data_dir / "odid_wifi_bcn_sample.pcap"))
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 105  # 21 packs of 5 messages
    first = records[0]
    assert first["type"] == "basic_id" and first["uas_id"] == "MFG1A0123456789"
    assert first["sensor"] == "roof"
    assert first["source"] == "84:cc:a8:60:43:24"
    assert first["rssi"] == -33.0 and first["channel"] == 6
    loc = records[1]
    assert loc["type"] == "location"
    assert loc["lat"] == 45.5457468 and loc["lon"] == -122.9681496
    assert "105 messages decoded" in err


def test_ble_crc_skips_in_summary(data_dir: Path) -> None:
    code, out, err = _run("--json", str(data_dir / "odid_bt5_lr_sample.pcapng"))
    assert code == 0
    assert "274 packets read, 244 frames" in err
    assert "ble: bad-crc: 30" in err
    assert {json.loads(x)["transport"] for x in out.splitlines()} == {"ble-long-range"}


def test_strict_and_truncated(data_dir: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes((data_dir / "wireless_RID_test_linux_transmitter.pcapng").read_bytes()[:5000])
    code, out, err = _run("--json", str(cut))
    assert code == 0
    assert len(out.splitlines()) > 0
    assert "pcap: truncated: 1" in err
    code, out, err = _run("--strict", "--json", str(cut))
    assert code == 1
    assert "error:" in err and "truncated" in err
    assert "Traceback" not in err
    code, _, err = _run("--strict", str(data_dir / "odid_bt5_lr_sample.pcapng"))
    assert code == 1  # the first failure (an empty pack or a bad CRC) stops the run
    assert err.startswith("error: ") and "odid_bt5_lr_sample.pcapng" in err


def test_unreadable_files(data_dir: Path, tmp_path: Path) -> None:
    code, out, err = _run(str(tmp_path / "missing.pcap"))
    assert code == 1
    assert "missing.pcap" in err and "Traceback" not in err
    junk = tmp_path / "junk.txt"
    junk.write_text("hello")
    code, out, err = _run(str(junk), str(data_dir / "odid_wifi_bcn_sample.pcap"))
    assert code == 1  # the bad file fails the run, the good one is still decoded
    assert "junk.txt" in err and "MFG1A0123456789" in out
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"\x00" * 100)
    code, out, err = _run(str(garbage))
    assert code == 1 and "bad-magic" in err


def test_iq_file_goes_through_the_same_path(data_dir: Path) -> None:
    code, out, err = _run("--json", "--iq-format", "cf32", "--sample-rate", "50e6",
                          str(data_dir / "mavic_air_2.cf32"))
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["transport"] for r in records} == {"dji-ocusync"}
    assert any(r.get("serial") == "1WNBH3900201N1" for r in records)


def test_iq_file_at_a_wrong_sample_rate_says_which_rate_decodes(data_dir: Path) -> None:
    # The 50 MS/s capture given as 30.72 MS/s: nothing decoded, and the summary says the
    # rate at which its bursts decode (CRC-checked) instead of ending silently.
    code, out, err = _run("--json", "--iq-format", "cf32", "--sample-rate", "30.72e6",
                          str(data_dir / "mavic_air_2.cf32"))
    assert code == 0, err
    assert out == ""
    assert "warning: DroneID bursts decode when the samples are read at 50 MS/s" in err


def test_table_merges_transmitters_of_one_drone() -> None:
    from dronewatch.cli.decode import DroneTable
    from dronewatch.model import Decoded, Frame, Transport
    from dronewatch.protocols.astm import BasicId, IdType, Location

    table = DroneTable()
    basic = BasicId(id_type=IdType.SERIAL_NUMBER, uas_id="1581F0000000001")
    for t, transport, mac, msg in (
        (1.0, Transport.WIFI_BEACON, "02:00:00:00:00:01", basic),
        (2.0, Transport.BLE_LEGACY, "c0:00:00:00:00:01", basic),
        (3.0, Transport.BLE_LEGACY, "c0:00:00:00:00:01", Location(lat=48.5, lon=2.25)),
        (1.5, Transport.WIFI_BEACON, "02:00:00:00:00:01", Location(lat=48.0, lon=2.0)),
        (4.0, Transport.WIFI_BEACON, "02:00:00:00:00:99", Location(lat=10.0, lon=10.0)),
    ):
        table.add(Decoded(Frame(b"", t, transport, mac), msg))
    drones = table.drones()
    assert len(drones) == 2
    newest, drone = drones
    assert newest.lat == 10.0 and newest.uas_id is None
    assert drone.serial == "1581F0000000001"
    assert drone.transports == {"wifi-beacon", "ble-legacy"}
    assert drone.sources == {"02:00:00:00:00:01", "c0:00:00:00:00:01"}
    assert (drone.lat, drone.lon, drone.last_seen) == (48.5, 2.25, 3.0)


def test_first_compile_is_announced_for_large_captures(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dronewatch import jit
    from dronewatch.sources import pcap_frames as pcap

    capture = str(data_dir / "odid_wifi_sample.pcap")
    note = "compiling the capture kernels"
    monkeypatch.setattr(pcap, "FAST_PATH_MIN_BYTES", 0)  # every capture counts as large
    monkeypatch.setattr(jit, "compiled", lambda module: False)
    code, out, err = _run("--json", capture)
    assert code == 0 and note in err and out.count("\n") > 10
    monkeypatch.setattr(jit, "compiled", lambda module: module == "link_batch")
    assert note not in _run("--json", capture)[2]
    monkeypatch.setattr(pcap, "FAST_PATH_MIN_BYTES", 1 << 62)  # small: the reference path
    monkeypatch.setattr(jit, "compiled", lambda module: False)
    assert note not in _run("--json", capture)[2]


def _real_decoded(data_dir: Path) -> list[list[object]]:
    from dronewatch.decode import decode_frames
    from dronewatch.sources import open_capture

    captures = sorted(p for p in data_dir.iterdir() if p.suffix in (".pcap", ".pcapng"))
    return [list(decode_frames(open_capture(p))) for p in captures]


def test_json_lines_are_the_dicts_encoded(data_dir: Path) -> None:
    import msgspec

    from dronewatch.model import JsonLineEncoder

    encoder = msgspec.json.Encoder(enc_hook=str)
    lines = JsonLineEncoder()
    for decoded in _real_decoded(data_dir):
        dicts = [d.to_json() for d in decoded]  # type: ignore[attr-defined]
        # Twice: the second pass answers from the encoder's cache of message parts.
        for _ in range(2):
            got = b"".join(lines.line(d) for d in decoded)  # type: ignore[arg-type]
            assert got == encoder.encode_lines(dicts)
        # A frame's messages at once (the CLI's path): the same bytes.
        frames: list[tuple[Any, list[Any]]] = []
        for d in decoded:
            if frames and frames[-1][0] is d.frame:  # type: ignore[attr-defined]
                frames[-1][1].append(d.message)  # type: ignore[attr-defined]
            else:
                frames.append((d.frame, [d.message]))  # type: ignore[attr-defined]
        for _ in range(2):
            got = b"".join(lines.lines(f, messages) for f, messages in frames)
            assert got == encoder.encode_lines(dicts)


def test_table_batches_give_the_rows_of_reading_in_order(data_dir: Path) -> None:
    from dronewatch.cli.decode import DroneTable

    for decoded in _real_decoded(data_dir):
        in_order = DroneTable()
        for d in decoded:
            in_order._add_one(d)  # type: ignore[arg-type]
        batched = DroneTable()
        batched.BATCH = 7  # many batch edges
        for d in decoded:
            batched.add(d)  # type: ignore[arg-type]
        assert batched.drones() == in_order.drones()
        by_frame = DroneTable()  # a frame's messages at once (the CLI's path)
        by_frame.BATCH = 7
        frames: list[tuple[Any, list[Any]]] = []
        for d in decoded:
            if frames and frames[-1][0] is d.frame:  # type: ignore[attr-defined]
                frames[-1][1].append(d.message)  # type: ignore[attr-defined]
            else:
                frames.append((d.frame, [d.message]))  # type: ignore[attr-defined]
        for f, messages in frames:
            by_frame.add_frame(f, messages)
        assert by_frame.drones() == in_order.drones()
