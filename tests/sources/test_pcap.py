"""pcap/pcapng reader and writers: real captures, every block kind, damage of every kind."""

from __future__ import annotations

import contextlib
import io
import struct
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import Corrupt, DecodeError, Truncated
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.pcap import (
    CaptureFormatError,
    PcapngWriter,
    PcapWriter,
    iter_packets,
    read_packets,
)
from dronewatch.stats import DecodeStats

REAL = {
    "odid_wifi_bcn_sample.pcap": (21, 127, 1621633931.161999),
    "odid_wifi_sample.pcap": (63, 127, 1620849805.191866),
    "odid_bt5_lr_sample.pcapng": (274, 272, 1696390917.558003),
    "wireless_RID_test_linux_transmitter.pcapng": (21, 127, 1728056719.0099514),
    "dji_wifi_spoofed_single.pcapng": (10, 127, 1678626712.484562236),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_captures(data_dir: Path, name: str) -> None:
    count, linktype, first = REAL[name]
    stats = DecodeStats()
    packets = list(read_packets(data_dir / name, stats))
    assert len(packets) == count
    assert {p[1] for p in packets} == {linktype}
    assert packets[0][0] == pytest.approx(first, abs=1e-6)
    assert all(isinstance(p[2], bytes) and p[2] for p in packets)
    assert [p[0] for p in packets] == sorted(p[0] for p in packets)
    assert not stats.skipped


def test_first_packet_bytes_match_tshark(data_dir: Path) -> None:
    # tshark -x: the first BT5 packet starts 03 08 01 03 13 be 02 0a 21 and ends 97 ab d1
    _, _, data = next(read_packets(data_dir / "odid_bt5_lr_sample.pcapng"))
    assert len(data) == 271
    assert data[:9] == bytes.fromhex("030801 0313be020a21")
    assert data[-3:] == bytes.fromhex("97abd1")


# --- writers round trip ---------------------------------------------------------------------

PACKETS = [
    (1700000000.123456789, 127, b"\x00\x00\x08\x00\x00\x00\x00\x00radiotap"),
    (1700000000.5, 256, b"ble packet"),
    (1700000001.000000001, 127, b"x" * 301),
    (1700000002.25, 105, b""),
]


def test_pcapng_writer_round_trip_several_interfaces() -> None:
    buf = io.BytesIO()
    with PcapngWriter(buf) as w:
        for t, lt, d in PACKETS:
            w.write(t, lt, d)
    got = list(iter_packets(buf.getvalue()))
    assert [(lt, d) for _, lt, d in got] == [(lt, d) for _, lt, d in PACKETS]
    for (t, _, _), (t2, _, _) in zip(PACKETS, got, strict=True):
        assert t2 == pytest.approx(t, abs=2e-7)


@pytest.mark.parametrize("nano", [False, True])
def test_pcap_writer_round_trip(nano: bool) -> None:
    buf = io.BytesIO()
    w = PcapWriter(buf, 127, nanoseconds=nano)
    for t, _, d in PACKETS:
        w.write(t, 127, d)
    got = list(iter_packets(buf.getvalue()))
    assert [d for _, _, d in got] == [d for _, _, d in PACKETS]
    assert {lt for _, lt, _ in got} == {127}
    tol = 2e-7 if nano else 1e-6
    assert got[0][0] == pytest.approx(PACKETS[0][0], abs=tol)
    with pytest.raises(ValueError, match="one link type"):
        w.write(0.0, 256, b"")


def test_writer_to_path(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    with PcapngWriter(path) as w:
        w.write(1.5, 127, b"abc")
    assert list(read_packets(path)) == [(1.5, 127, b"abc")]


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=4e9, allow_nan=False),
            st.sampled_from([105, 127, 187, 201, 251, 256, 272]),
            st.binary(max_size=300),
        ),
        max_size=8,
    )
)
@settings(max_examples=60, deadline=None)
def test_pcapng_round_trip_property(packets: list[tuple[float, int, bytes]]) -> None:
    buf = io.BytesIO()
    w = PcapngWriter(buf)
    for p in packets:
        w.write(*p)
    got = list(iter_packets(buf.getvalue()))
    assert [(lt, d) for _, lt, d in got] == [(lt, d) for _, lt, d in packets]
    for (t, _, _), (t2, _, _) in zip(packets, got, strict=True):
        assert t2 == pytest.approx(t, abs=1e-6)


# --- hand-built files: both byte orders, every block kind ---------------------------------------


def _block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) & 3)
    n = 12 + len(body)
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def _shb(order: str) -> bytes:
    return _block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def _idb(order: str, linktype: int, tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += struct.pack(order + "HH", 9, 1) + bytes((tsresol, 0, 0, 0))
    if tsoffset:
        opts += struct.pack(order + "HHq", 14, 8, tsoffset)
    if opts:
        opts += struct.pack(order + "HH", 0, 0)
    return _block(order, 1, struct.pack(order + "HHI", linktype, 0, 0) + opts)


def _epb(order: str, iface: int, ts: int, data: bytes) -> bytes:
    return _block(order, 6, struct.pack(order + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF,
                                        len(data), len(data)) + data)


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_blocks_both_byte_orders(order: str) -> None:
    ts = 1_600_000_000_000_000  # microseconds
    f = _shb(order)
    f += _idb(order, 127)  # default resolution: microseconds
    f += _idb(order, 272, tsresol=9)  # nanoseconds
    f += _idb(order, 256, tsresol=0x80 | 10, tsoffset=100)  # 2^-10 s, +100 s
    f += _epb(order, 0, ts, b"wifi")
    f += _block(order, 0x0BAD, b"unknown block, skipped")
    f += _block(order, 5, b"\0" * 20)  # interface statistics, skipped
    f += _epb(order, 1, ts * 1000 + 7, b"nordic")
    f += _block(order, 3, struct.pack(order + "I", 6) + b"simple")  # SPB: interface 0
    opb = struct.pack(order + "HHIIII", 2, 0, 0, 1024 * 5, 3, 3) + b"opb"
    f += _block(order, 2, opb)
    got = list(iter_packets(f))
    assert [(lt, d) for _, lt, d in got] == [
        (127, b"wifi"), (272, b"nordic"), (127, b"simple"), (256, b"opb")
    ]
    assert got[0][0] == 1_600_000_000.0
    assert got[1][0] == pytest.approx(1_600_000_000.000000007, abs=1e-7)
    assert got[2][0] == got[1][0]  # an SPB has no time of its own
    assert got[3][0] == 105.0


def test_pcapng_second_section_other_byte_order() -> None:
    f = _shb("<") + _idb("<", 127) + _epb("<", 0, 1_000_000, b"a")
    f += _shb(">") + _idb(">", 256) + _epb(">", 0, 2_000_000, b"b")
    assert list(iter_packets(f)) == [(1.0, 127, b"a"), (2.0, 256, b"b")]


@pytest.mark.parametrize(
    ("magic", "order", "scale"),
    [(0xA1B2C3D4, "<", 1e6), (0xA1B2C3D4, ">", 1e6), (0xA1B23C4D, "<", 1e9), (0xA1B23C4D, ">", 1e9)],
)
def test_classic_pcap_magics(magic: int, order: str, scale: float) -> None:
    f = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 251)
    f += struct.pack(order + "IIII", 1000, 500, 3, 3) + b"abc"
    got = list(iter_packets(f))
    assert got == [(1000 + 500 / scale, 251, b"abc")]


# --- damage -------------------------------------------------------------------------------------


def _cut_points(data: bytes) -> list[int]:
    """Offsets where each complete packet of a pcapng ends (block boundaries)."""
    ends = []
    pos = 0
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        pos += blen
        if btype == 6:
            ends.append(pos)
    return ends


def test_truncated_at_every_offset_keeps_good_packets(data_dir: Path) -> None:
    data = (data_dir / "wireless_RID_test_linux_transmitter.pcapng").read_bytes()
    ends = _cut_points(data)
    full = list(iter_packets(data))
    first_block = struct.unpack_from("<I", data, 4)[0]
    for cut in range(len(data)):
        stats = DecodeStats()
        part = data[:cut]
        if cut < 4:
            with pytest.raises(CaptureFormatError):
                list(iter_packets(part, stats))
            continue
        got = list(iter_packets(part, stats))
        complete = sum(1 for e in ends if e <= cut)
        assert got == full[:complete], cut
        at_boundary = cut in ends or cut == first_block or (cut > first_block and cut in _blocks(data))
        assert sum(stats.skipped.values()) == (0 if at_boundary else 1), cut
        if not at_boundary:
            with pytest.raises(Truncated):
                list(iter_packets(part, strict=True))


def _blocks(data: bytes) -> set[int]:
    out = set()
    pos = 0
    while pos < len(data):
        pos += struct.unpack_from("<I", data, pos + 4)[0]
        out.add(pos)
    return out


def test_truncated_classic_pcap_every_offset(data_dir: Path) -> None:
    data = (data_dir / "odid_wifi_bcn_sample.pcap").read_bytes()
    full = list(iter_packets(data))
    for cut in range(4, len(data)):
        stats = DecodeStats()
        got = list(iter_packets(data[:cut], stats))
        assert got == full[: len(got)]
        assert len(stats.skipped) <= 1


def test_zero_length_and_wrong_magic(tmp_path: Path) -> None:
    with pytest.raises(CaptureFormatError) as e:
        list(iter_packets(b""))
    assert e.value.reason == "empty-file"
    with pytest.raises(CaptureFormatError) as e2:
        list(iter_packets(b"GIF89a garbage that is not a capture"))
    assert e2.value.reason == "bad-magic"
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(CaptureFormatError):
        list(open_capture(empty))


def test_huge_bogus_block_length_no_hang_no_allocation() -> None:
    f = _shb("<") + _idb("<", 127) + struct.pack("<II", 6, 0xFFFFFFF0) + b"\0" * 64
    stats = DecodeStats()
    start = time.monotonic()
    assert list(iter_packets(f, stats)) == []
    assert time.monotonic() - start < 1.0
    assert stats.skipped == {"pcap: truncated": 1}
    # a huge captured length inside a block of sane size
    bad = _shb("<") + _idb("<", 127) + _block("<", 6, struct.pack("<IIIII", 0, 0, 0, 0x7FFFFFFF, 5))
    stats = DecodeStats()
    assert list(iter_packets(bad, stats)) == []
    assert stats.skipped == {"pcap: bad-packet-block": 1}
    # classic pcap record claiming 2 GB
    pcap = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 127)
    pcap += struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF) + b"abc"
    stats = DecodeStats()
    assert list(iter_packets(pcap, stats)) == []
    assert stats.skipped == {"pcap: bad-record-length": 1}


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (struct.pack("<II", 6, 13), "bad-block-length"),  # not a multiple of 4
        (struct.pack("<II", 6, 8), "bad-block-length"),  # shorter than a block header
        (_block("<", 6, struct.pack("<IIIII", 3, 0, 0, 1, 1) + b"x"), "bad-interface"),
        (struct.pack("<II", 6, 16) + b"\0\0\0\0" + struct.pack("<I", 20), "bad-block-length"),
    ],
)
def test_corrupt_blocks(blob: bytes, reason: str) -> None:
    good = _epb("<", 0, 5_000_000, b"ok")
    f = _shb("<") + _idb("<", 127) + good + blob + b"\0" * 16 + good
    stats = DecodeStats()
    assert list(iter_packets(f, stats)) == [(5.0, 127, b"ok")]
    assert stats.skipped == {f"pcap: {reason}": 1}
    with pytest.raises(Corrupt):
        list(iter_packets(f, strict=True))


def test_bad_byte_order_magic() -> None:
    f = _block("<", 0x0A0D0D0A, struct.pack("<IHHq", 0x11223344, 1, 0, -1))
    stats = DecodeStats()
    assert list(iter_packets(f, stats)) == []
    assert stats.skipped == {"pcap: bad-byte-order": 1}


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_garbage_after_valid_header_never_raises(tail: bytes) -> None:
    for head in (_shb("<") + _idb("<", 127), struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 127)):
        stats = DecodeStats()
        for _t, _lt, d in iter_packets(head + tail, stats):
            assert isinstance(d, bytes)
        assert sum(stats.skipped.values()) <= 1


@given(st.binary(min_size=1, max_size=200))
@settings(max_examples=200, deadline=None)
def test_garbage_only_decode_errors(blob: bytes) -> None:
    with contextlib.suppress(DecodeError):
        list(iter_packets(blob, strict=True))


def test_read_frames_truncated_file_via_open_capture(data_dir: Path, tmp_path: Path) -> None:
    data = (data_dir / "odid_wifi_bcn_sample.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 50])
    stats = DecodeStats()
    frames = list(open_capture(cut, CaptureOptions(sensor_id="s1"), stats))
    assert len(frames) == 20
    assert {f.sensor_id for f in frames} == {"s1"}
    assert stats.skipped == {"pcap: truncated": 1}
    assert stats.packets_read == 20
    with pytest.raises(Truncated):
        list(open_capture(cut, CaptureOptions(strict=True), DecodeStats()))


def test_writers_refuse_times_they_cannot_store() -> None:
    for writer in (PcapngWriter(io.BytesIO()), PcapWriter(io.BytesIO(), 127)):
        with pytest.raises(ValueError, match="outside"):
            writer.write(-1.0, 127, b"x")
        with pytest.raises(ValueError):
            writer.write(float("nan"), 127, b"x")
