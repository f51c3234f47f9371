"""Capture times outside 2000-01-01 .. now + 1 day are counted and skipped in every output.

A pcapng whose interface has an extreme ``if_tsoffset`` once made the table output crash
and ``--json`` print times of 4.6e18; a sniffer whose clock was never set stamps 1970.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.sources.test_pcap_paths import assert_same, read_both

from dronewatch.cli import main
from dronewatch.errors import Corrupt
from dronewatch.model import Frame, Transport
from dronewatch.protocols.astm import BasicId, IdType, Location, encode, encode_pack
from dronewatch.protocols.link import packet_from_frame
from dronewatch.sources import CaptureOptions
from dronewatch.sources.pcap import PcapWriter
from dronewatch.sources.pcap_frames import EARLIEST_TIME, read_frames
from dronewatch.stats import DecodeStats

GOOD = 1_700_000_000.0
EXTREME_OFFSET_S = 4_600_000_000_000_000_000  # the if_tsoffset of a hostile capture


def _packet(t: float, n: int) -> bytes:
    pack = encode_pack([encode(BasicId(id_type=IdType.SERIAL_NUMBER, uas_id=f"SN{n}")),
                        encode(Location(lat=48.0, lon=2.0, alt_geo=100.0))])
    frame = Frame(pack, t, Transport.WIFI_BEACON, "02:00:00:00:00:07", -50.0, 6, 2437e6,
                  counter=n)
    return packet_from_frame(frame)[1]


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def _pcapng(path: Path, offsets: list[int], packets_per_interface: int = 3) -> None:
    """One interface per offset (radiotap, microseconds), each with a few drone packets."""
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for offset in offsets:
        opts = struct.pack("<HHq", 14, 8, offset) if offset else b""
        out += _block(1, struct.pack("<HHI", 127, 0, 65535) + opts + b"\0\0\0\0")
    n = 0
    for iface, _offset in enumerate(offsets):
        for _ in range(packets_per_interface):
            n += 1
            ticks = round((GOOD + n) * 1e6)  # the packet's time is this plus the offset
            data = _packet(GOOD + n, n)
            out += _block(6, struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF,
                                         len(data), len(data)) + data)
    path.write_bytes(out)


def test_extreme_timestamp_offset_is_counted_in_every_output(tmp_path: Path) -> None:
    path = tmp_path / "offset.pcapng"
    _pcapng(path, [0, EXTREME_OFFSET_S])
    runner = CliRunner()
    result = runner.invoke(main, ["decode", "--json", str(path)])
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 6  # the 3 packets of the good interface, 2 messages each
    assert all(GOOD < r["time"] < GOOD + 10 for r in records)
    assert "pcap: bad-timestamp: 3" in result.stderr
    table = runner.invoke(main, ["decode", str(path)])  # used to crash on the time
    assert table.exit_code == 0, table.stderr
    assert "1 drone(s)" in table.stdout and "2023-11-14" in table.stdout
    strict = runner.invoke(main, ["decode", "--json", "--strict", str(path)])
    assert strict.exit_code == 1 and "bad-timestamp" in strict.stderr


def test_unset_clock_and_future_times_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "clock.pcap"
    times = [1.5, EARLIEST_TIME - 1.0, GOOD, time.time() + 3 * 86_400.0, GOOD + 1.0]
    with PcapWriter(path, 127) as out:
        for n, t in enumerate(times):
            out.write(t, 127, _packet(t, n))
    stats = DecodeStats()
    frames = list(read_frames(path, CaptureOptions(), stats))
    assert [f.time for f in frames] == [GOOD, GOOD + 1.0]
    assert stats.skipped == {"pcap: bad-timestamp": 3} and stats.packets_read == 5
    with pytest.raises(Corrupt) as info:
        list(read_frames(path, CaptureOptions(strict=True), DecodeStats()))
    assert info.value.reason == "bad-timestamp"


@pytest.mark.parametrize("offsets", [[0, EXTREME_OFFSET_S],
                                     [EXTREME_OFFSET_S, 0, -1_700_000_000]])  # 4.6e18, 1970
def test_both_paths_agree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                          offsets: list[int]) -> None:
    path = tmp_path / "offsets.pcapng"
    _pcapng(path, offsets)
    results = read_both(monkeypatch, path)
    assert_same(results)
    frames, stats = results["scanned"]
    assert isinstance(frames, list) and len(frames) == 3
    assert stats.skipped["pcap: bad-timestamp"] == 3 * (len(offsets) - 1)
