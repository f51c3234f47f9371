"""A compiled packet index for pcap and pcapng captures: the fast path of :mod:`.pcap`.

The numba kernel walks a capture held in memory and writes, per packet, where its bytes lie
(``offset``, ``length``), its ``time`` and its ``linktype`` into bounded arrays, one chunk of
packets per call, so a capture of any size is indexed in constant memory. It follows the
reference reader :func:`dronewatch.sources.pcap.packet_source` rule for rule and yields the
same packets with bit-identical times (the same float operations in the same order).

The kernel never decides an error: wherever the reference raises, and wherever it meets
something it does not compute exactly (a power-of-10 ``if_tsresol`` finer than 10^-19 s, a
fraction of more than 53 bits), it stops before that packet. From there the reference
takes over, so every reason and message is the reference's own.

API
    :func:`index_packets` yields :class:`PacketBatch` es in file order; a packet's bytes are
    ``buf[offset:offset + length]``. When the last batch has ``handover`` set (an int
    ``N``), the index stopped early: packets ``N`` and later come from the reference
    reader, which raises like ``packet_source`` (``Damage`` on damage,
    :class:`~.pcap.CaptureFormatError` for a wrong magic). The batch's ``resume`` says
    where and in what state (byte order, interfaces, last time) the reference goes on:
    :func:`~.pcap.resume_packets` ``(buf, resume)``, at no cost for a capture cut short at
    its end. Without ``resume`` (the index could not read the file header) it is
    :func:`reference_packets` ``(buf, N)``, the reference from the start.

    :func:`iter_packets_fast` combines both and yields and raises exactly what
    ``packet_source(buf)`` does.

    Neither holds a view of ``buf`` between batches (an ``mmap`` can be closed any time the
    iteration is suspended), nor do the batches.

Constants of :mod:`.pcap` are compiled in; :mod:`dronewatch.jit` recompiles the kernels
when they change.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from itertools import islice
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from dronewatch.jit import njit
from dronewatch.sources.pcap import (
    EPB,
    IDB,
    MAX_PACKET,
    OPB,
    OPT_ENDOFOPT,
    OPT_IF_TSOFFSET,
    OPT_IF_TSRESOL,
    SHB,
    SPB,
    Interface,
    Packet,
    Resume,
    packet_source,
    resume_packets,
)

Buffer = bytes | mmap.mmap  # what the reference reads (a bytearray or memoryview works too)

__all__ = [
    "CHUNK_PACKETS",
    "PacketBatch",
    "index_packets",
    "iter_packets_fast",
    "reference_packets",
]

CHUNK_PACKETS = 65536  # packets per kernel call (the size of one batch's arrays)

# Kernel outcomes
DONE = 0  # the whole buffer is indexed
FULL = 1  # the output arrays are full: call again from the returned position
STOP = 2  # stopped before the packet at the returned position: hand over to the reference
GROW = 3  # the interface table is full: enlarge it and call again from the returned position

# Fields of the kernel's resumable state (an int64 array)
S_FORMAT = 0  # F_UNKNOWN until the file header is read
S_BIG_ENDIAN = 1  # byte order of the file (pcap) or of the current section (pcapng)
S_NANO = 2  # classic pcap: nanosecond timestamps
S_LINKTYPE = 3  # classic pcap: the file's link type
S_INTERFACES = 4  # pcapng: interfaces declared in the current section
N_STATE = 5

F_UNKNOWN = 0
F_PCAP = 1
F_PCAPNG = 2

# Columns of the pcapng interface table (an int64 array; time offsets in a float64 array)
I_LINKTYPE = 0
I_SNAPLEN = 1
I_BASE = 2  # if_tsresol: 10 or 2
I_EXPONENT = 3  # if_tsresol: the resolution is base ** -exponent seconds
N_INTERFACE = 4
INTERFACES_START = 8  # initial rows of the interface table (it doubles on GROW)

_BOM = 0x1A2B3C4D  # the pcapng byte-order magic, as read in the section's own byte order
_BOM_SWAPPED = 0x4D3C2B1A  # ...and as read in the other one
_LINKTYPE_MASK = 0x0FFFFFFF  # the top bits of a classic pcap link type may carry the FCS length
_POW10_MAX = 19  # 10**19 is the largest power of ten that fits a uint64 tick divisor
_POW10_INT = np.array([10**k for k in range(_POW10_MAX + 1)], dtype=np.uint64)
_POW10_FLOAT = np.array([float(10**k) for k in range(_POW10_MAX + 1)], dtype=np.float64)
# A float64 holds every integer below 2**53 exactly: then ``frac / divisor`` is one correctly
# rounded division, as Python's int / int is.
_EXACT_FLOAT_INT = 1 << 53


# --- kernel --------------------------------------------------------------------------------


@njit(inline="always")
def _u8(buf: np.ndarray, p: int) -> int:
    """The byte at ``buf[p]``, as an int64 (the caller checked bounds)."""
    # An unsigned index spares numba's negative-index wraparound: twice the speed in cache.
    return int(np.int64(buf[np.uint64(p)]))


@njit(inline="always")
def _u16(buf: np.ndarray, p: int, big: bool) -> int:
    """The uint16 at ``buf[p:p + 2]`` (the caller checked bounds)."""
    a = _u8(buf, p)
    b = _u8(buf, p + 1)
    return (a << 8) | b if big else (b << 8) | a


@njit(inline="always")
def _u32(buf: np.ndarray, p: int, big: bool) -> int:
    """The uint32 at ``buf[p:p + 4]`` (the caller checked bounds)."""
    if big:
        return _u16(buf, p, big) << 16 | _u16(buf, p + 2, big)
    return _u16(buf, p + 2, big) << 16 | _u16(buf, p, big)


@njit()
def _i64(buf: np.ndarray, p: int, big: bool) -> int:
    """The int64 at ``buf[p:p + 8]`` (the caller checked bounds)."""
    first = _u32(buf, p, big)
    second = _u32(buf, p + 4, big)
    high, low = (first, second) if big else (second, first)
    if high >= 1 << 31:
        high -= 1 << 32
    return (high << 32) + low


@njit()
def _read_header(buf: np.ndarray, state: np.ndarray) -> int:
    """Read the file header into ``state``: the position of the first record or block, or -1
    where the reference raises (unknown magic, cut header, wrong pcap major version)."""
    if buf.shape[0] < 4:
        return -1
    m0, m1, m2, m3 = buf[0], buf[1], buf[2], buf[3]
    if m0 == 0x0A and m1 == 0x0D and m2 == 0x0D and m3 == 0x0A:
        state[S_FORMAT] = F_PCAPNG
        state[S_INTERFACES] = 0
        return 0  # the first block is this SHB: it sets the byte order
    if m0 == 0xD4 and m1 == 0xC3 and m2 == 0xB2 and m3 == 0xA1:
        big, nano = False, False
    elif m0 == 0xA1 and m1 == 0xB2 and m2 == 0xC3 and m3 == 0xD4:
        big, nano = True, False
    elif m0 == 0x4D and m1 == 0x3C and m2 == 0xB2 and m3 == 0xA1:
        big, nano = False, True
    elif m0 == 0xA1 and m1 == 0xB2 and m2 == 0x3C and m3 == 0x4D:
        big, nano = True, True
    else:
        return -1
    if buf.shape[0] < 24 or _u16(buf, 4, big) != 2:
        return -1
    state[S_FORMAT] = F_PCAP
    state[S_BIG_ENDIAN] = big
    state[S_NANO] = nano
    state[S_LINKTYPE] = _u32(buf, 20, big) & _LINKTYPE_MASK
    return 24


@njit()
def _index_pcap(
    buf: np.ndarray,
    pos: int,
    state: np.ndarray,
    offset: np.ndarray,
    length: np.ndarray,
    time: np.ndarray,
    linktype: np.ndarray,
    capacity: int,
) -> tuple[int, int, int]:
    """Classic pcap records from ``pos``: (packets written, outcome, position)."""
    size = buf.shape[0]
    big = state[S_BIG_ENDIAN] != 0
    divisor = 1e9 if state[S_NANO] else 1e6
    network = state[S_LINKTYPE]
    count = 0
    while pos < size:
        if count == capacity:
            return count, FULL, pos
        if pos + 16 > size:
            return count, STOP, pos
        incl = _u32(buf, pos + 8, big)
        start = pos + 16
        if incl > MAX_PACKET or start + incl > size:
            return count, STOP, pos
        sec = _u32(buf, pos, big)
        frac = _u32(buf, pos + 4, big)
        offset[count] = start
        length[count] = incl
        time[count] = np.float64(sec) + np.float64(frac) / divisor
        linktype[count] = network
        count += 1
        pos = start + incl
    return count, DONE, pos


@njit()
def _read_idb(
    buf: np.ndarray,
    pos: int,
    body_end: int,
    big: bool,
    interfaces: np.ndarray,
    time_offset: np.ndarray,
    row: int,
) -> bool:
    """Fill interface ``row`` from the IDB at ``pos``; False where the reference raises.

    The caller checked ``pos + 16 <= body_end <= len(buf)``.
    """
    base = 10
    exponent = 6  # the default resolution: microseconds
    seconds = 0.0
    p = pos + 16
    # The option walk of the reference's _options: a damaged list ends it, the block stays.
    while p + 4 <= body_end:
        code = _u16(buf, p, big)
        value_length = _u16(buf, p + 2, big)
        if code == OPT_ENDOFOPT:
            break
        start = p + 4
        if start + value_length > body_end:
            break
        if code == OPT_IF_TSRESOL and value_length >= 1:
            resolution = _u8(buf, start)
            exponent = resolution & 0x7F
            if exponent > 63:
                return False
            base = 2 if resolution & 0x80 else 10
        elif code == OPT_IF_TSOFFSET and value_length >= 8:
            seconds = np.float64(_i64(buf, start, big))
        p = start + ((value_length + 3) & ~3)
    interfaces[row, I_LINKTYPE] = _u16(buf, pos + 8, big)
    interfaces[row, I_SNAPLEN] = _u32(buf, pos + 12, big)
    interfaces[row, I_BASE] = base
    interfaces[row, I_EXPONENT] = exponent
    time_offset[row] = seconds
    return True


@njit()
def _pcapng_time(
    high: int, low: int, base: int, exponent: int, seconds: float
) -> tuple[bool, float]:
    """(exact, time) of a timestamp, as the reference computes it:
    ``sec, frac = divmod(ticks, divisor); sec + frac / divisor + offset``.

    ``exact`` is False where float64 arithmetic could round ``frac / divisor`` differently
    from Python's correctly rounded int / int.
    """
    ticks = (np.uint64(high) << np.uint64(32)) | np.uint64(low)
    if base == 2:
        # float(frac) rounds at most once and dividing by a power of two is exact, so the
        # quotient is the correctly rounded one whatever the size of frac.
        shift = np.uint64(exponent)
        whole = ticks >> shift
        frac = ticks & ((np.uint64(1) << shift) - np.uint64(1))
        divisor = np.float64(np.uint64(1) << shift)
    else:
        if exponent > _POW10_MAX:
            return False, 0.0
        tick_divisor = _POW10_INT[exponent]
        whole = ticks // tick_divisor
        frac = ticks % tick_divisor
        if frac >= np.uint64(_EXACT_FLOAT_INT):
            return False, 0.0
        divisor = _POW10_FLOAT[exponent]
    return True, np.float64(whole) + np.float64(frac) / divisor + seconds


@njit()
def _index_pcapng(
    buf: np.ndarray,
    pos: int,
    state: np.ndarray,
    interfaces: np.ndarray,
    time_offset: np.ndarray,
    last_time: np.ndarray,
    offset: np.ndarray,
    length: np.ndarray,
    time: np.ndarray,
    linktype: np.ndarray,
    capacity: int,
) -> tuple[int, int, int]:
    """pcapng blocks from ``pos``: (packets written, outcome, position)."""
    size = buf.shape[0]
    table_rows = min(interfaces.shape[0], time_offset.shape[0])
    big = state[S_BIG_ENDIAN] != 0
    declared = state[S_INTERFACES]
    previous_time = last_time[0]
    count = 0
    outcome = DONE
    while pos < size:
        if pos + 12 > size:
            outcome = STOP
            break
        btype = _u32(buf, pos, big)
        if btype == SHB:  # (the SHB type reads the same in both byte orders)
            bom = _u32(buf, pos + 8, False)
            if bom == _BOM:
                big = False
            elif bom == _BOM_SWAPPED:
                big = True
            else:
                outcome = STOP
                break
            declared = 0
        blen = _u32(buf, pos + 4, big)
        end = pos + blen
        if blen < 12 or blen & 3 or end > size or _u32(buf, end - 4, big) != blen:
            outcome = STOP
            break
        body_end = end - 4
        if btype in (EPB, OPB, SPB):
            if count == capacity:
                outcome = FULL
                break
            if btype == SPB:
                # A simple packet: interface 0, no timestamp (it keeps the previous time).
                if declared == 0 or pos + 12 > body_end:
                    outcome = STOP
                    break
                start = pos + 12
                caplen = min(_u32(buf, pos + 8, big), body_end - start)
                snaplen = interfaces[0, I_SNAPLEN]
                if snaplen:
                    caplen = min(caplen, snaplen)
                row = 0
            else:
                start = pos + 28
                if start > body_end:
                    outcome = STOP
                    break
                # (the obsolete Packet Block has a 16-bit interface id, then a drop count)
                row = _u32(buf, pos + 8, big) if btype == EPB else _u16(buf, pos + 8, big)
                caplen = _u32(buf, pos + 20, big)
                if start + caplen > body_end or row >= declared:
                    outcome = STOP
                    break
                exact, packet_time = _pcapng_time(
                    _u32(buf, pos + 12, big),
                    _u32(buf, pos + 16, big),
                    interfaces[row, I_BASE],
                    interfaces[row, I_EXPONENT],
                    time_offset[row],
                )
                if not exact:
                    outcome = STOP
                    break
                previous_time = packet_time
            offset[count] = start
            length[count] = caplen
            time[count] = previous_time
            linktype[count] = interfaces[row, I_LINKTYPE]
            count += 1
        elif btype == SHB:
            if pos + 14 > body_end or _u16(buf, pos + 12, big) != 1:
                outcome = STOP
                break
        elif btype == IDB:
            if pos + 16 > body_end:
                outcome = STOP
                break
            if declared == table_rows:
                outcome = GROW
                break
            if not _read_idb(buf, pos, body_end, big, interfaces, time_offset, declared):
                outcome = STOP
                break
            declared += 1
        # any other block (NRB, ISB, DSB, custom...) carries no packet: skipped
        pos = end
    state[S_BIG_ENDIAN] = big
    state[S_INTERFACES] = declared
    last_time[0] = previous_time
    return count, outcome, pos


@njit()
def _index_chunk(
    buf: np.ndarray,
    pos: int,
    state: np.ndarray,
    interfaces: np.ndarray,
    time_offset: np.ndarray,
    last_time: np.ndarray,
    offset: np.ndarray,
    length: np.ndarray,
    time: np.ndarray,
    linktype: np.ndarray,
) -> tuple[int, int, int]:
    """Index packets of ``buf`` from ``pos`` into the output arrays.

    Returns (packets written, outcome, position): on ``FULL`` and ``GROW`` call again from
    the position with the same state; on ``STOP`` the packet at the position is the
    reference's to read. ``state`` (``N_STATE`` int64, zeros for a new file),
    ``interfaces``/``time_offset`` (the pcapng interface table) and ``last_time`` (one
    float64) carry everything needed to resume.
    """
    capacity = min(offset.shape[0], length.shape[0], time.shape[0], linktype.shape[0])
    if (
        state.shape[0] < N_STATE
        or interfaces.shape[1] < N_INTERFACE
        or last_time.shape[0] < 1
        or not 0 <= state[S_INTERFACES] <= min(interfaces.shape[0], time_offset.shape[0])
        or not 0 <= pos <= buf.shape[0]
    ):
        return 0, STOP, pos  # not a call the wrapper makes; refuse rather than read astray
    if state[S_FORMAT] == F_UNKNOWN:
        pos = _read_header(buf, state)
        if pos < 0:
            return 0, STOP, 0
    if state[S_FORMAT] == F_PCAP:
        return _index_pcap(buf, pos, state, offset, length, time, linktype, capacity)
    return _index_pcapng(
        buf,
        pos,
        state,
        interfaces,
        time_offset,
        last_time,
        offset,
        length,
        time,
        linktype,
        capacity,
    )


# --- Python side ---------------------------------------------------------------------------


class PacketBatch(NamedTuple):
    """Consecutive packets of a capture: packet ``first + i`` is
    ``(time[i], linktype[i], buf[offset[i]:offset[i] + length[i]])``."""

    first: int  # number of this batch's first packet in the file (0-based)
    offset: NDArray[np.int64]
    length: NDArray[np.int64]
    time: NDArray[np.float64]
    linktype: NDArray[np.int64]
    # Set on the last batch when the index stopped early: packets from this number on come
    # from the reference reader. Always first + len(offset) when set.
    handover: int | None
    # With handover: where and in what state the reference goes on (resume_packets(buf,
    # resume)); None when the index could not read even the file header (then the
    # reference reads from the start: reference_packets(buf, handover)).
    resume: Resume | None = None


def index_packets(buf: Buffer, *, chunk_packets: int = CHUNK_PACKETS) -> Iterator[PacketBatch]:
    """The packets of the capture in ``buf``, in batches of at most ``chunk_packets``.

    Batches with no packet are not yielded, except a last one that only carries ``handover``
    (a capture the index cannot read from its first packet, a wrong magic included).
    """
    if chunk_packets < 1:
        raise ValueError(f"chunk_packets must be at least 1, not {chunk_packets}")
    state = np.zeros(N_STATE, dtype=np.int64)
    interfaces = np.zeros((INTERFACES_START, N_INTERFACE), dtype=np.int64)
    time_offset = np.zeros(INTERFACES_START, dtype=np.float64)
    last_time = np.zeros(1, dtype=np.float64)
    pos = 0
    first = 0
    while True:
        offset = np.empty(chunk_packets, dtype=np.int64)
        length = np.empty(chunk_packets, dtype=np.int64)
        time = np.empty(chunk_packets, dtype=np.float64)
        linktype = np.empty(chunk_packets, dtype=np.int64)
        # A view of buf only for the call: none is left to stop the caller closing an mmap.
        data = np.frombuffer(buf, dtype=np.uint8)
        data.flags.writeable = False  # one compiled specialisation for bytes, mmap, bytearray
        count, outcome, pos = _index_chunk(
            data, pos, state, interfaces, time_offset, last_time, offset, length, time, linktype
        )
        del data
        handover = first + count if outcome == STOP else None
        resume = None
        if handover is not None and state[S_FORMAT] != F_UNKNOWN:
            resume = _resume(pos, state, interfaces, time_offset, float(last_time[0]))
        if count or handover is not None:
            yield PacketBatch(
                first,
                offset[:count],
                length[:count],
                time[:count],
                linktype[:count],
                handover,
                resume,
            )
        first += count
        if outcome in (DONE, STOP):
            return
        if outcome == GROW:
            rows = interfaces.shape[0]
            interfaces = np.concatenate([interfaces, np.zeros_like(interfaces)])
            time_offset = np.concatenate([time_offset, np.zeros(rows, dtype=np.float64)])


def _resume(
    pos: int,
    state: NDArray[np.int64],
    interfaces: NDArray[np.int64],
    time_offset: NDArray[np.float64],
    last_time: float,
) -> Resume:
    """The reference reader's state at the block or record ``pos`` where the index stopped.

    (A stop at a section header may leave the byte order and interface count of the new
    section in ``state``: the reference reads that header again and resets both itself.)
    """
    order = ">" if state[S_BIG_ENDIAN] else "<"
    if state[S_FORMAT] == F_PCAP:
        return Resume(False, pos, order, 1e9 if state[S_NANO] else 1e6)
    declared = int(state[S_INTERFACES])
    return Resume(
        True,
        pos,
        order,
        interfaces=tuple(
            Interface(
                int(interfaces[i, I_LINKTYPE]),
                int(interfaces[i, I_SNAPLEN]),
                int(interfaces[i, I_BASE]) ** int(interfaces[i, I_EXPONENT]),
                float(time_offset[i]),
            )
            for i in range(declared)
        ),
        last_time=last_time,
    )


def reference_packets(buf: Buffer, skip: int) -> Iterator[Packet]:
    """``packet_source(buf)`` without its first ``skip`` packets (the handover after
    :func:`index_packets`); raises as ``packet_source`` does."""
    return islice(packet_source(buf), skip, None)


def iter_packets_fast(buf: Buffer, *, chunk_packets: int = CHUNK_PACKETS) -> Iterator[Packet]:
    """Exactly what ``packet_source(buf)`` yields and raises, read through the index."""
    reference = packet_source(buf)  # raises CaptureFormatError now, as packet_source does
    return _indexed_packets(buf, reference, chunk_packets)


def _indexed_packets(
    buf: Buffer, reference: Iterator[Packet], chunk_packets: int
) -> Iterator[Packet]:
    handover = None
    resume = None
    for batch in index_packets(buf, chunk_packets=chunk_packets):
        for start, packet_length, time, linktype in zip(
            batch.offset.tolist(),
            batch.length.tolist(),
            batch.time.tolist(),
            batch.linktype.tolist(),
            strict=True,
        ):
            yield time, linktype, buf[start : start + packet_length]
        handover, resume = batch.handover, batch.resume
    if resume is not None:
        yield from resume_packets(buf, resume)
    elif handover is not None:
        yield from islice(reference, handover, None)
