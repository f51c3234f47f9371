"""The compiled packet index yields exactly what the reference pcap reader yields and raises."""

from __future__ import annotations

import io
import mmap
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.sources.pcap import (
    CaptureFormatError,
    Damage,
    Packet,
    PcapngWriter,
    PcapWriter,
    packet_source,
)
from dronewatch.sources.pcap_index import (
    INTERFACES_START,
    index_packets,
    iter_packets_fast,
    reference_packets,
)

DATA_DIR = Path(__file__).parent.parent / "data"
CAPTURES = sorted(p.name for p in DATA_DIR.iterdir() if p.suffix in (".pcap", ".pcapng"))

Outcome = tuple[list[tuple[object, ...]], tuple[object, ...] | None]


def outcome(make: Callable[[], Iterator[Packet]]) -> Outcome:
    """Every packet (time as exact hex, types included) and how the iteration ended."""
    packets: list[tuple[object, ...]] = []
    try:
        for time, linktype, data in make():
            packets.append((type(time), time.hex(), type(linktype), linktype, type(data), data))
    except Damage as stop:
        return packets, ("stop", type(stop.error), stop.error.reason, str(stop.error))
    except CaptureFormatError as error:
        return packets, ("format", error.reason, str(error))
    return packets, None


def assert_same(buf: bytes, chunk_packets: int = 65536) -> Outcome:
    expected = outcome(lambda: packet_source(buf))
    assert outcome(lambda: iter_packets_fast(buf, chunk_packets=chunk_packets)) == expected
    return expected


# --- hand-built captures, either byte order -------------------------------------------------


def block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) & 3)
    n = 12 + len(body)
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def shb(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(
    order: str,
    linktype: int,
    *,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    snaplen: int = 0,
) -> bytes:
    opts = struct.pack(order + "HH", 2, 3) + b"wl0\0"  # if_name, ignored
    if tsresol is not None:
        opts += struct.pack(order + "HH", 9, 1) + bytes((tsresol, 0, 0, 0))
    if tsoffset is not None:
        opts += struct.pack(order + "HHq", 14, 8, tsoffset)
    opts += struct.pack(order + "HH", 0, 0)
    return block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts)


def epb(order: str, iface: int, ticks: int, data: bytes) -> bytes:
    head = struct.pack(
        order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(order, 6, head + data)


def opb(order: str, iface: int, ticks: int, data: bytes) -> bytes:
    head = struct.pack(order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), 99)
    return block(order, 2, head + data)


def spb(order: str, data: bytes, orig: int | None = None) -> bytes:
    return block(order, 3, struct.pack(order + "I", len(data) if orig is None else orig) + data)


def classic(
    order: str, nano: bool, records: list[tuple[int, int, bytes]], network: int = 127
) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, network)
    for sec, frac, data in records:
        out += struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data
    return out


def every_block_kind(first: str = "<", second: str = ">") -> bytes:
    """Two sections in the given byte orders with every block kind the reader knows."""
    ts = 1_700_000_000_123_456
    f = shb(first)
    f += idb(first, 127)
    f += idb(first, 272, tsresol=9)
    f += idb(first, 256, tsresol=0x80 | 20, tsoffset=-100)
    f += epb(first, 0, ts, b"wifi")
    f += epb(first, 1, ts * 1000 + 7, b"nordic!")
    f += block(first, 0x0BAD, b"unknown block")
    f += block(first, 5, b"\0" * 20)  # interface statistics
    f += spb(first, b"simple")
    f += opb(first, 2, ts << 3, b"obsolete")
    f += epb(first, 2, 2**64 - 1, b"")
    f += shb(second)
    f += idb(second, 105, tsresol=3, snaplen=4)
    f += spb(second, b"cut by snaplen")
    f += epb(second, 0, 1_700_000_000_250, b"be")
    f += spb(second, b"xy", orig=1)  # original length below the captured bytes
    return f


# --- equality on valid captures -------------------------------------------------------------


@pytest.mark.parametrize("name", CAPTURES)
def test_real_captures(name: str) -> None:
    packets, end = assert_same((DATA_DIR / name).read_bytes())
    assert packets
    assert end is None


def test_real_capture_through_mmap(tmp_path: Path) -> None:
    path = tmp_path / "copy.pcapng"
    path.write_bytes((DATA_DIR / "odid_bt5_lr_sample.pcapng").read_bytes())
    with path.open("rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        expected = outcome(lambda: packet_source(mapped))
        assert outcome(lambda: iter_packets_fast(mapped)) == expected
        batches = index_packets(mapped, chunk_packets=10)
        assert len(next(batches).offset) == 10
        mapped.close()  # a suspended index holds no view of the map
        with pytest.raises(ValueError, match="closed"):
            next(batches)


@pytest.mark.parametrize("order", ["<", ">"])
def test_every_block_kind(order: str) -> None:
    other = ">" if order == "<" else "<"
    packets, end = assert_same(every_block_kind(order, other))
    assert end is None
    assert [p[5] for p in packets] == [
        b"wifi",
        b"nordic!",
        b"simple",
        b"obsolete",
        b"",
        b"cut ",
        b"be",
        b"x",
    ]


def test_writers() -> None:
    payloads = [
        (1700000000.123456789, 127, b"radiotap"),
        (1700000000.5, 256, b"ble"),
        (4e9, 127, b"x" * 301),
        (0.0, 105, b""),
    ]
    ng = io.BytesIO()
    writer = PcapngWriter(ng)
    for packet in payloads:
        writer.write(*packet)
    assert len(assert_same(ng.getvalue())[0]) == len(payloads)
    for nano in (False, True):
        pcap = io.BytesIO()
        classic_writer = PcapWriter(pcap, 127, nanoseconds=nano)
        for time, _, data in payloads:
            classic_writer.write(time, 127, data)
        assert len(assert_same(pcap.getvalue())[0]) == len(payloads)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_both_orders(order: str, nano: bool) -> None:
    records = [(1_600_000_000, 999_999, b"a"), (0, 0, b""), (2**32 - 1, 2**32 - 1, b"frac > 1 s")]
    packets, end = assert_same(classic(order, nano, records, network=0xF000007F))
    assert [(p[3], p[5]) for p in packets] == [(127, b"a"), (127, b""), (127, b"frac > 1 s")]
    assert end is None


@given(
    ticks=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=4),
    tsresol=st.integers(0, 255),
    tsoffset=st.integers(-(2**63), 2**63 - 1) | st.integers(-(2**40), 2**40),
    order=st.sampled_from(["<", ">"]),
)
@settings(max_examples=500, deadline=None)
def test_pcapng_times_bit_identical(
    ticks: list[int], tsresol: int, tsoffset: int, order: str
) -> None:
    f = shb(order) + idb(order, 127, tsresol=tsresol, tsoffset=tsoffset)
    f += b"".join(epb(order, 0, t, b"p") for t in ticks)
    assert_same(f)
    exponent = tsresol & 0x7F
    if (tsresol & 0x80 and exponent <= 63) or exponent <= 15:
        # resolutions the kernel computes itself: no handover
        batches = list(index_packets(f))
        assert [b.handover for b in batches] == [None]
        assert len(batches[0].time) == len(ticks)


@pytest.mark.parametrize(
    ("ticks", "tsresol", "tsoffset"),
    [
        # (sec + frac / divisor) + offset differs from sec + (frac / divisor + offset)
        (6776577102492988938, 9, 85511746657),
        (8415893301652230583, 9, -75845771833),
        # frac >= 2**53: float(frac) / 1e19 rounds twice and differs from Python's frac / 10**19
        (9513307161104464708, 19, 0),
        (3907899476976371519, 19, 0),
    ],
)
def test_pcapng_time_rounding_traps(ticks: int, tsresol: int, tsoffset: int) -> None:
    sec, frac = divmod(ticks, 10**tsresol)
    naive = (
        sec + (frac / 10**tsresol + tsoffset),
        sec + float(frac) / float(10**tsresol) + tsoffset,
    )
    assert sec + frac / 10**tsresol + tsoffset in naive  # the trap: one naive way is right...
    assert len(set(naive)) == 2  # ...and the other is not
    f = shb("<") + idb("<", 127, tsresol=tsresol, tsoffset=tsoffset) + epb("<", 0, ticks, b"p")
    assert len(assert_same(f)[0]) == 1


@given(
    records=st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), max_size=4),
    order=st.sampled_from(["<", ">"]),
    nano=st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_classic_times_bit_identical(
    records: list[tuple[int, int]], order: str, nano: bool
) -> None:
    packets, _ = assert_same(classic(order, nano, [(s, f, b"p") for s, f in records]))
    assert len(packets) == len(records)


# --- chunking -------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 2, 3, 5])
def test_tiny_chunks_same_packets(chunk: int) -> None:
    for buf in [every_block_kind(), *((DATA_DIR / n).read_bytes() for n in CAPTURES)]:
        assert_same(buf, chunk_packets=chunk)
        batches = list(index_packets(buf, chunk_packets=chunk))
        assert all(0 < len(b.offset) <= chunk for b in batches)
        assert [b.first for b in batches] == list(range(0, chunk * len(batches), chunk))


def test_many_interfaces_grow_the_table() -> None:
    n = 4 * INTERFACES_START + 3
    f = shb("<") + b"".join(idb("<", 100 + i, tsresol=i % 10) for i in range(n))
    f += b"".join(epb("<", i, 10**12 + i, bytes([i])) for i in reversed(range(n)))
    f += shb(">") + b"".join(idb(">", 200 + i) for i in range(n))  # a new section resets them
    f += epb(">", n - 1, 5, b"last")
    for chunk in (1, 4, 65536):
        packets, end = assert_same(f, chunk_packets=chunk)
        assert end is None
        assert [p[3] for p in packets] == [100 + i for i in reversed(range(n))] + [200 + n - 1]
    assert not any(b.handover for b in index_packets(f))


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(index_packets(b"", chunk_packets=0))


# --- damage and handover --------------------------------------------------------------------


def test_handover_numbers() -> None:
    good = every_block_kind()
    assert [b.handover for b in index_packets(good)] == [None]
    cut = good[: len(good) - 3]  # the last SPB is cut: 7 good packets, then the reference
    batches = list(index_packets(cut, chunk_packets=3))
    assert [b.handover for b in batches] == [None, None, 7]
    assert batches[-1].first + len(batches[-1].offset) == 7
    with pytest.raises(Damage) as stop:
        list(reference_packets(cut, 7))
    assert stop.value.error.reason == "truncated"


def test_wrong_magic_hands_over_at_once() -> None:
    (batch,) = index_packets(b"GIF89a, not a capture")
    assert (batch.handover, len(batch.offset)) == (0, 0)
    for junk in (b"", b"abc", b"GIF89a"):
        with pytest.raises(CaptureFormatError):
            reference_packets(junk, 0)
        with pytest.raises(CaptureFormatError):
            iter_packets_fast(junk)  # at the call, as packet_source


def test_unusual_resolution_hands_over_and_resumes_exactly() -> None:
    f = shb("<") + idb("<", 127, tsresol=6) + idb("<", 105, tsresol=22)
    f += epb("<", 0, 5, b"a") + epb("<", 1, 2**60 + 1, b"b") + epb("<", 0, 6, b"c")
    packets, end = assert_same(f)
    assert [p[5] for p in packets] == [b"a", b"b", b"c"] and end is None
    assert [b.handover for b in index_packets(f)] == [1]


SAMPLES = {
    "pcapng": every_block_kind(),
    "pcapng-be": every_block_kind(">", "<"),
    "pcap": classic(">", True, [(1, 2, b"one"), (3, 4, b"two!"), (5, 6, b"")]),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_cut_at_every_offset(name: str) -> None:
    buf = SAMPLES[name]
    ends = set()
    for cut in range(len(buf) + 1):
        ends.add(assert_same(buf[:cut])[1])
    assert len(ends) > 2  # the cuts met several different errors (and the uncut end)


@given(
    name=st.sampled_from(sorted(SAMPLES)),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.integers(0, 10**6),
    chunk=st.sampled_from([1, 2, 65536]),
)
@settings(max_examples=1500, deadline=None)
def test_byte_flips(name: str, flips: list[tuple[int, int]], cut: int, chunk: int) -> None:
    data = bytearray(SAMPLES[name])
    for where, value in flips:
        data[where % len(data)] = value
    buf = bytes(data[: len(data) - cut % 9])
    assert_same(buf, chunk_packets=chunk)


def blocks(order: str) -> st.SearchStrategy[bytes]:
    payload = st.binary(max_size=12)
    ticks = st.integers(0, 2**64 - 1)
    return st.one_of(
        st.builds(shb, st.sampled_from(["<", ">"])),
        st.builds(
            idb,
            st.just(order),
            st.integers(0, 0xFFFF),
            tsresol=st.none() | st.integers(0, 255),
            tsoffset=st.none() | st.integers(-(2**63), 2**63 - 1),
            snaplen=st.integers(0, 20),
        ),
        st.builds(epb, st.just(order), st.integers(0, 3), ticks, payload),
        st.builds(opb, st.just(order), st.integers(0, 3), ticks, payload),
        st.builds(spb, st.just(order), payload, st.none() | st.integers(0, 2**32 - 1)),
        st.builds(block, st.just(order), st.integers(4, 0xFFFF), payload),
    )


@given(st.lists(blocks("<"), max_size=12), st.lists(blocks(">"), max_size=12), st.integers(1, 4))
@settings(max_examples=400, deadline=None)
def test_random_block_sequences(little: list[bytes], big: list[bytes], chunk: int) -> None:
    # (a block's byte order may not match its section's: that is damage like any other)
    buf = shb("<") + b"".join(little) + shb(">") + b"".join(big)
    assert_same(buf, chunk_packets=chunk)


@given(
    st.binary(max_size=300),
    st.sampled_from([shb("<") + idb("<", 1), shb(">"), classic("<", False, [])]),
)
@settings(max_examples=500, deadline=None)
def test_garbage_after_a_header(tail: bytes, head: bytes) -> None:
    assert_same(head + tail)
