"""pcap and pcapng captures: a small fast reader, and writers.

Reader
    :func:`iter_packets` walks a capture held in memory (an ``mmap`` of the file) with
    precompiled ``struct`` layouts and yields ``(time, linktype, data)`` per packet.
    Classic pcap (micro- and nanosecond magic, both byte orders) and pcapng (every section,
    both byte orders; IDB with ``if_tsresol``/``if_tsoffset``; EPB, SPB, OPB; several
    interfaces with different link types; unknown blocks skipped) are understood.

    A damaged capture never raises in the default mode: the reader counts one skip with a
    reason (``pcap: truncated``, ``pcap: bad-block-length``...) and stops, keeping every good
    packet before the damage. With ``strict`` it raises :class:`~dronewatch.errors.Truncated`
    or :class:`~dronewatch.errors.Corrupt` instead. A file that is not a capture at all
    (wrong magic) raises :class:`CaptureFormatError` in both modes: nothing in it is usable.

    :func:`read_frames` is what :func:`dronewatch.sources.open_capture` calls: packets go
    through :func:`dronewatch.protocols.link.frames_from_packet`.

Writers
    :class:`PcapngWriter` (any number of link types, one interface per link type, nanosecond
    timestamps) and :class:`PcapWriter` (one link type), both with ``write(time, linktype,
    data)``.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import struct
import time as _time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from dronewatch.errors import Corrupt, DecodeError, NotMine, Partial, Truncated
from dronewatch.model import Frame
from dronewatch.sources import CaptureOptions
from dronewatch.stats import DecodeStats

if TYPE_CHECKING:
    from dronewatch.protocols.link import LinkParser

__all__ = [
    "CaptureFormatError",
    "Packet",
    "PcapWriter",
    "PcapngWriter",
    "iter_packets",
    "read_frames",
    "read_packets",
]

Packet = tuple[float, int, bytes]  # (UTC epoch seconds, link type, link-layer bytes)


class CaptureFormatError(Corrupt):
    """The file is not a pcap or pcapng capture (wrong magic)."""

    reason = "bad-magic"


# --- layouts -------------------------------------------------------------------------------

# classic pcap: magic -> (byte order, timestamp fraction divisor)
_PCAP_MAGIC: dict[bytes, tuple[str, float]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e6),
    b"\xa1\xb2\xc3\xd4": (">", 1e6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e9),
    b"\xa1\xb2\x3c\x4d": (">", 1e9),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_BOM = 0x1A2B3C4D

# pcapng block types
SHB = 0x0A0D0D0A
IDB = 0x00000001
OPB = 0x00000002
SPB = 0x00000003
EPB = 0x00000006

_OPT_ENDOFOPT = 0
_OPT_IF_TSRESOL = 9
_OPT_IF_TSOFFSET = 14

# Largest packet we accept (the pcap/pcapng "huge" limit used by libpcap is 256 KiB; IEEE
# 802.11 and BLE frames are far smaller). A larger length is treated as corruption.
MAX_PACKET = 1 << 20

# Every on-disk layout, declared once (little-endian); the big-endian twins are derived.
_LE = {
    "u16": struct.Struct("<H"),
    "u32": struct.Struct("<I"),
    "i64": struct.Struct("<q"),
    "pcap_hdr": struct.Struct("<IHHiIII"),  # magic, major, minor, zone, sigfigs, snaplen, network
    "rec": struct.Struct("<IIII"),  # ts sec, ts fraction, captured length, original length
    "blk": struct.Struct("<II"),  # block type, block total length
    "head": struct.Struct("<IIIIIII"),  # block header + EPB: interface, ts hi, ts lo, caplen, orig
    "opb": struct.Struct("<HHIIII"),  # interface, drops, ts hi, ts lo, caplen, orig
    "idb": struct.Struct("<HHI"),  # link type, reserved, snaplen
    "opt": struct.Struct("<HH"),  # option code, option length
}
_BE = {k: struct.Struct(">" + v.format[1:]) for k, v in _LE.items()}
_ENDIAN = {"<": _LE, ">": _BE}

# Bound unpackers of the hot paths, per byte order.
_REC = {o: e["rec"].unpack_from for o, e in _ENDIAN.items()}
_BLK = {o: e["blk"].unpack_from for o, e in _ENDIAN.items()}
_HEAD = {o: e["head"].unpack_from for o, e in _ENDIAN.items()}
_U32 = {o: e["u32"].unpack_from for o, e in _ENDIAN.items()}
_OPB = {o: e["opb"].unpack_from for o, e in _ENDIAN.items()}


class _Stop(Exception):
    """Internal: damage found; carries the error to count or raise."""

    def __init__(self, error: DecodeError) -> None:
        super().__init__(str(error))
        self.error = error


def _fail(error: DecodeError, stats: DecodeStats | None, strict: bool) -> None:
    if strict:
        raise error
    if stats is not None:
        stats.skip(f"pcap: {error.reason}")


# --- reader --------------------------------------------------------------------------------


def iter_packets(
    buf: bytes | mmap.mmap,
    stats: DecodeStats | None = None,
    *,
    strict: bool = False,
) -> Iterator[Packet]:
    """Every packet of the capture in ``buf``, in file order.

    Damage after a valid file header is counted in ``stats`` (``pcap: <reason>``) and ends
    the iteration, or raises with ``strict``. A wrong magic raises :class:`CaptureFormatError`.
    """
    return _guard(_packet_source(buf), stats, strict)


def _packet_source(buf: bytes | mmap.mmap) -> Iterator[Packet]:
    """The raw packet generator for ``buf`` (raises ``_Stop`` on damage)."""
    head = bytes(buf[:4])
    if len(head) < 4:
        raise CaptureFormatError("empty or too short to be a capture", reason="empty-file")
    if head == _PCAPNG_SHB:
        return _iter_pcapng(buf)
    if head in _PCAP_MAGIC:
        return _iter_pcap(buf, *_PCAP_MAGIC[head])
    raise CaptureFormatError(f"not a pcap or pcapng file (magic {head.hex()})")


def _guard(packets: Iterator[Packet], stats: DecodeStats | None, strict: bool) -> Iterator[Packet]:
    try:
        yield from packets
    except _Stop as stop:
        _fail(stop.error, stats, strict)


def _iter_pcap(
    buf: bytes | mmap.mmap, order: str, divisor: float, start: int = 24
) -> Iterator[Packet]:
    """The records of a classic pcap file, from the record at ``start`` (after the header)."""
    size = len(buf)
    if size < 24:
        raise _Stop(Truncated("pcap file header cut short", reason="truncated-header"))
    e = _ENDIAN[order]
    _magic, major, _minor, _zone, _sigfigs, _snaplen, network = e["pcap_hdr"].unpack_from(buf, 0)
    if major != 2:
        raise _Stop(Corrupt(f"pcap major version {major}", reason="bad-version"))
    # Some writers put FCS length bits in the top of the link type field.
    linktype = network & 0x0FFFFFFF
    rec = _REC[order]
    pos = start
    while pos < size:
        if pos + 16 > size:
            raise _Stop(Truncated("pcap record header cut short", reason="truncated"))
        sec, frac, incl, _orig = rec(buf, pos)
        if incl > MAX_PACKET:
            raise _Stop(Corrupt(f"pcap record of {incl} bytes", reason="bad-record-length"))
        start = pos + 16
        pos = start + incl
        if pos > size:
            raise _Stop(Truncated("pcap record data cut short", reason="truncated"))
        yield sec + frac / divisor, linktype, buf[start:pos]


class _Interface:
    """A pcapng interface: link type, snap length, timestamp divisor and offset (seconds)."""

    __slots__ = ("divisor", "linktype", "offset", "snaplen")

    def __init__(self, linktype: int, snaplen: int, divisor: int, offset: float) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        self.divisor = divisor
        self.offset = offset


class Resume(NamedTuple):
    """Where and in what state to go on reading a capture part-way (see ``resume_packets``).

    ``pcapng``: block position, section byte order, the section's interfaces and the time of
    the last packet (a simple packet inherits it). Classic pcap: the record position, the
    byte order and the timestamp divisor (``interfaces`` empty).
    """

    pcapng: bool
    position: int
    order: str
    divisor: float = 1e6
    interfaces: tuple[_Interface, ...] = ()
    last_time: float = 0.0


def resume_packets(buf: bytes | mmap.mmap, resume: Resume) -> Iterator[Packet]:
    """The packets of the capture in ``buf`` from ``resume`` on (raises ``_Stop`` on damage,
    as the reader from the start does)."""
    if resume.pcapng:
        return _iter_pcapng(buf, resume)
    return _iter_pcap(buf, resume.order, resume.divisor, resume.position)


def _options(
    buf: bytes | mmap.mmap, pos: int, end: int, order: str
) -> Iterator[tuple[int, bytes]]:
    opt = _ENDIAN[order]["opt"]
    while pos + 4 <= end:
        code, length = opt.unpack_from(buf, pos)
        if code == _OPT_ENDOFOPT:
            return
        start = pos + 4
        stop = start + length
        if stop > end:
            return  # a damaged option list: ignore the rest of it, keep the block
        yield code, bytes(buf[start:stop])
        pos = start + ((length + 3) & ~3)


def _parse_idb(buf: bytes | mmap.mmap, pos: int, end: int, order: str) -> _Interface:
    e = _ENDIAN[order]
    if pos + 16 > end:
        raise _Stop(Corrupt("interface description block too short", reason="bad-idb"))
    linktype, _reserved, snaplen = e["idb"].unpack_from(buf, pos + 8)
    divisor = 1_000_000
    offset = 0.0
    for code, value in _options(buf, pos + 16, end, order):
        if code == _OPT_IF_TSRESOL and len(value) >= 1:
            r = value[0]
            exp = r & 0x7F
            if exp > 63:
                raise _Stop(Corrupt(f"if_tsresol {r:#x}", reason="bad-tsresol"))
            divisor = 2**exp if r & 0x80 else 10**exp
        elif code == _OPT_IF_TSOFFSET and len(value) >= 8:
            offset = float(e["i64"].unpack_from(value, 0)[0])
    return _Interface(linktype, snaplen, divisor, offset)


def _iter_pcapng(buf: bytes | mmap.mmap, resume: Resume | None = None) -> Iterator[Packet]:
    """The packets of a pcapng file; from the block and state of ``resume`` if given."""
    size = len(buf)
    pos = 0
    order = "<"
    interfaces: list[_Interface] = []
    last_time = 0.0
    if resume is not None:
        pos, order, interfaces, last_time = (
            resume.position, resume.order, list(resume.interfaces), resume.last_time
        )
    blk = _BLK[order]
    head = _HEAD[order]
    u32 = _U32[order]
    opb = _OPB[order]
    while pos < size:
        # One unpack reads the block header and, for an EPB, its fixed fields (hot path).
        if pos + 28 <= size:
            btype, blen, iface, hi, lo, caplen, _orig = head(buf, pos)
        elif pos + 12 <= size:
            btype, blen = blk(buf, pos)
            iface = hi = lo = caplen = 0
        else:
            raise _Stop(Truncated("pcapng block header cut short", reason="truncated"))
        if btype == SHB:  # (the SHB type reads the same in both byte orders)
            # A new section: its byte-order magic decides how everything after it is read.
            bom = bytes(buf[pos + 8 : pos + 12])
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                raise _Stop(Corrupt("bad pcapng byte-order magic", reason="bad-byte-order"))
            blk = _BLK[order]
            head = _HEAD[order]
            u32 = _U32[order]
            opb = _OPB[order]
            interfaces = []
            btype, blen = blk(buf, pos)
        if blen < 12 or blen & 3:
            raise _Stop(Corrupt(f"pcapng block length {blen}", reason="bad-block-length"))
        end = pos + blen
        if end > size:
            raise _Stop(Truncated("pcapng block cut short", reason="truncated"))
        if u32(buf, end - 4)[0] != blen:
            raise _Stop(Corrupt("pcapng trailing block length mismatch", reason="bad-block-length"))
        body_end = end - 4
        if btype in (EPB, OPB):
            if btype == OPB:  # the obsolete Packet Block: 16-bit interface id and drop count
                if pos + 28 > body_end:
                    raise _Stop(Corrupt("packet block too short", reason="bad-packet-block"))
                iface, _drops, hi, lo, caplen, _orig = opb(buf, pos + 8)
            start = pos + 28
            stop = start + caplen
            if stop > body_end:  # (also an EPB shorter than its fixed fields)
                raise _Stop(Corrupt("packet data runs past its block", reason="bad-packet-block"))
            if iface >= len(interfaces):
                raise _Stop(Corrupt(f"packet on undeclared interface {iface}", reason="bad-interface"))
            it = interfaces[iface]
            sec, frac = divmod((hi << 32) | lo, it.divisor)
            last_time = sec + frac / it.divisor + it.offset
            yield last_time, it.linktype, buf[start:stop]
        elif btype == SHB:
            major = _ENDIAN[order]["u16"].unpack_from(buf, pos + 12)[0]
            if major != 1:
                raise _Stop(Corrupt(f"pcapng major version {major}", reason="bad-version"))
        elif btype == IDB:
            interfaces.append(_parse_idb(buf, pos, body_end, order))
        elif btype == SPB:
            if not interfaces:
                raise _Stop(Corrupt("simple packet without an interface", reason="bad-interface"))
            if pos + 12 > body_end:
                raise _Stop(Corrupt("simple packet block too short", reason="bad-spb"))
            it = interfaces[0]
            orig = _ENDIAN[order]["u32"].unpack_from(buf, pos + 8)[0]
            caplen = min(orig, body_end - (pos + 12))
            if it.snaplen:
                caplen = min(caplen, it.snaplen)
            # A simple packet has no timestamp: it inherits the previous packet's time.
            yield last_time, it.linktype, buf[pos + 12 : pos + 12 + caplen]
        # any other block (NRB, ISB, DSB, custom...) carries no packet: skipped
        pos = end


class _Mapped:
    """A read-only view of a whole file (mmap; plain bytes for empty files)."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("rb")
        try:
            self.buf: bytes | mmap.mmap = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):  # empty file, or one that cannot be mapped (a pipe...)
            self.buf = self._fh.read()

    def close(self) -> None:
        if isinstance(self.buf, mmap.mmap):
            # a view still alive (held by the traceback of an error on its way out): the map
            # goes with the last view, and the error, not this, is reported
            with contextlib.suppress(BufferError):
                self.buf.close()
        self._fh.close()


def read_packets(
    path: str | Path, stats: DecodeStats | None = None, *, strict: bool = False
) -> Iterator[Packet]:
    """The packets of a capture file (see :func:`iter_packets`)."""
    mapped = _Mapped(Path(path))
    try:
        yield from iter_packets(mapped.buf, stats, strict=strict)
    finally:
        mapped.close()


#: Captures at least this large are read through the compiled index and link scan
#: (:mod:`.pcap_index`, :mod:`dronewatch.protocols.link_batch`); smaller ones by the
#: reference parsers alone: below ~150,000 packets the kernels take longer to load (~1 s)
#: than they save.
FAST_PATH_MIN_BYTES = 32 << 20


def read_frames(path: Path, options: CaptureOptions, stats: DecodeStats) -> Iterator[Frame]:
    """Frames carrying drone payloads from a pcap/pcapng file, in file order.

    Packets without a drone payload are passed over silently (they are counted in
    ``stats.packets_read`` only); broken ones are counted by reason in ``stats.skipped``
    (or raise with ``options.strict``).
    """
    mapped = _Mapped(Path(path))
    try:
        packets = _packet_source(mapped.buf)  # a wrong magic raises here, before any frame
        try:
            if len(mapped.buf) >= FAST_PATH_MIN_BYTES:
                yield from _scanned_frames(mapped.buf, packets, options, stats)
            else:
                yield from _parsed_frames(packets, options, stats)
        except _Stop as stop:
            _fail(stop.error, stats, options.strict)
    finally:
        mapped.close()


#: Capture times a packet may have: from 2000-01-01T00:00:00Z to one day after the time the
#: capture is read (:func:`time_bounds`). A drone packet stamped outside (a sniffer clock
#: never set, a damaged or hostile timestamp offset) cannot be placed in time: it is counted
#: (``pcap: bad-timestamp``) and skipped, so no output shows an absurd time.
EARLIEST_TIME = 946_684_800.0
FUTURE_SLACK_S = 86_400.0
BAD_TIMESTAMP = "bad-timestamp"


def time_bounds() -> tuple[float, float]:
    """(earliest, latest) capture time accepted now."""
    return EARLIEST_TIME, _time.time() + FUTURE_SLACK_S


def _bad_time(time: float, options: CaptureOptions, stats: DecodeStats) -> None:
    """Count (or, strict, raise for) a drone packet whose capture time is out of bounds."""
    if options.strict:
        raise Corrupt(f"capture time {time!r} is outside 2000-01-01 .. now + 1 day",
                      reason=BAD_TIMESTAMP)
    stats.skip(f"pcap: {BAD_TIMESTAMP}")


def _parsed_frames(
    packets: Iterator[Packet], options: CaptureOptions, stats: DecodeStats
) -> Iterator[Frame]:
    """The reference path: every packet through its link-layer parser."""
    from dronewatch.protocols.link import parsers

    table = parsers()
    earliest, latest = time_bounds()
    for time, linktype, data in packets:
        stats.packets_read += 1
        parse = table.get(linktype)
        if parse is not None:
            frames = _parse(parse, linktype, data, time, options, stats)
            if frames:
                if earliest <= time <= latest:
                    yield from frames
                else:
                    _bad_time(time, options, stats)


def _parse(
    parse: LinkParser,
    linktype: int,
    data: bytes,
    time: float,
    options: CaptureOptions,
    stats: DecodeStats,
) -> list[Frame]:
    """The frames of one packet; none for a packet that is not ours or is broken (counted)."""
    from dronewatch.protocols.link import family_of

    try:
        frames = parse(data, time, options.sensor_id)
    except NotMine:
        return []
    except DecodeError as exc:
        if options.strict:
            raise
        stats.skip(f"{family_of(linktype)}: {exc.reason}")
        return []
    if isinstance(frames, Partial):  # good frames, then a broken part: count it
        for error in frames.errors:
            if options.strict:
                raise error
            stats.skip(f"{family_of(linktype)}: {error.reason}")
    return frames


def _scanned_frames(
    buf: bytes | mmap.mmap,
    packets: Iterator[Packet],
    options: CaptureOptions,
    stats: DecodeStats,
) -> Iterator[Frame]:
    """The fast path: the same frames as :func:`_parsed_frames`, from the compiled index and
    link scan; the packets the kernels leave (``FALLBACK``) go through the reference parsers,
    and after an early stop of the index (damage) the reference reader takes over."""
    import numpy as np

    from dronewatch.protocols.link import parsers
    from dronewatch.protocols.link_batch import scan_batch
    from dronewatch.protocols.link_scan import FALLBACK
    from dronewatch.sources.pcap_index import index_packets

    table = parsers()
    earliest, latest = time_bounds()
    handover: int | None = None
    view = np.frombuffer(buf, np.uint8)
    try:
        resume: Resume | None = None
        for batch in index_packets(buf):
            times = batch.time.tolist()
            status, frames = scan_batch(
                buf, view, batch.offset, batch.length, times, batch.linktype, options.sensor_id
            )
            # The packets the kernels read give their frames in runs; the reference parsers
            # read the few others (FALLBACK) in between, and the frames of packets stamped
            # out of bounds (rare) are counted instead of given.
            frame_ends = np.cumsum(np.maximum(status, 0)).tolist()
            out_of_time = ~((batch.time >= earliest) & (batch.time <= latest))
            done_packets = done_frames = 0
            special = (status == FALLBACK) | (out_of_time & (status > 0))
            for i in np.flatnonzero(special).tolist():
                stats.packets_read += i - done_packets
                n = int(status[i])
                yield from frames[done_frames : frame_ends[i] - max(n, 0)]
                stats.packets_read += 1
                done_packets, done_frames = i + 1, frame_ends[i]
                if n > 0:  # the kernel's frames of a packet stamped out of bounds
                    _bad_time(times[i], options, stats)
                    continue
                linktype = int(batch.linktype[i])
                parse = table.get(linktype)
                if parse is not None:
                    start = int(batch.offset[i])
                    data = buf[start : start + int(batch.length[i])]
                    packet_frames = _parse(parse, linktype, data, times[i], options, stats)
                    if packet_frames and out_of_time[i]:
                        _bad_time(times[i], options, stats)
                    else:
                        yield from packet_frames
            stats.packets_read += len(status) - done_packets
            yield from frames[done_frames:]
            handover, resume = batch.handover, batch.resume
    finally:
        del view  # an mmap cannot close while a view of it exists
    if resume is not None:  # the index stopped (damage): the reference reads on from there
        yield from _parsed_frames(resume_packets(buf, resume), options, stats)
    elif handover is not None:
        yield from _parsed_frames(islice(packets, handover, None), options, stats)


# --- writers -------------------------------------------------------------------------------


class _Writer:
    def __init__(self, target: str | Path | BinaryIO) -> None:
        if isinstance(target, str | Path):
            self._fh: BinaryIO = Path(target).open("wb")  # noqa: SIM115 - closed by close()
            self._own = True
        else:
            self._fh = target
            self._own = False

    def close(self) -> None:
        self._fh.flush()
        if self._own:
            self._fh.close()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _ticks(time: float, per_second: int) -> int:
    """``time`` in integer ticks without losing the sub-microsecond part to float scaling."""
    if not 0 <= time < 2**32:
        raise ValueError(f"packet time {time} is outside 1970..2106")
    sec = math.floor(time)
    return sec * per_second + round((time - sec) * per_second)


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) & 3)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


class PcapngWriter(_Writer):
    """Write a little-endian pcapng file: one section, one interface per link type.

    Timestamps are written with nanosecond resolution (``if_tsresol`` = 9).
    """

    def __init__(
        self,
        target: str | Path | BinaryIO,
        *,
        application: str = "dronewatch",
        snaplen: int = 262144,
    ) -> None:
        super().__init__(target)
        self._snaplen = snaplen
        self._ifaces: dict[int, int] = {}
        opts = _option(4, application.encode()) + _option(0, b"")  # shb_userappl
        body = struct.pack("<IHHq", _BOM, 1, 0, -1) + opts
        self._block(SHB, body)

    def _block(self, btype: int, body: bytes) -> None:
        total = 12 + len(body)
        self._fh.write(struct.pack("<II", btype, total) + body + struct.pack("<I", total))

    def interface(self, linktype: int, name: str | None = None) -> int:
        """The interface id for ``linktype`` (declared on first use)."""
        iface = self._ifaces.get(linktype)
        if iface is None:
            iface = len(self._ifaces)
            opts = b""
            if name:
                opts += _option(2, name.encode())
            opts += _option(_OPT_IF_TSRESOL, b"\x09") + _option(0, b"")
            self._block(IDB, struct.pack("<HHI", linktype, 0, self._snaplen) + opts)
            self._ifaces[linktype] = iface
        return iface

    def write(self, time: float, linktype: int, data: bytes) -> None:
        iface = self.interface(linktype)
        ts = _ticks(time, 1_000_000_000)
        n = len(data)
        body = struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, n, n) + _pad4(bytes(data))
        self._block(EPB, body)


class PcapWriter(_Writer):
    """Write a classic little-endian pcap file (one link type; micro- or nanoseconds)."""

    def __init__(
        self,
        target: str | Path | BinaryIO,
        linktype: int,
        *,
        nanoseconds: bool = False,
        snaplen: int = 262144,
    ) -> None:
        super().__init__(target)
        self.linktype = linktype
        self._scale = 1_000_000_000 if nanoseconds else 1_000_000
        magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
        self._fh.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, time: float, linktype: int, data: bytes) -> None:
        if linktype != self.linktype:
            raise ValueError(
                f"a pcap file holds one link type ({self.linktype}), not {linktype}: use pcapng"
            )
        ticks = _ticks(time, self._scale)
        sec, frac = divmod(ticks, self._scale)
        n = len(data)
        self._fh.write(struct.pack("<IIII", sec, frac, n, n) + bytes(data))
