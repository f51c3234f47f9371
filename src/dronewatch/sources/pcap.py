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

    A file that cannot be mapped (a pipe, a FIFO, a device) is streamed a few MiB at a time
    (:class:`Capture`), never read whole. Frames come from :mod:`.pcap_frames`.

Sensors
    A capture holding what several sensors received has one interface per sensor (and link
    type): ``if_name`` is the sensor id, ``if_description`` ``dronewatch sensor; lat=..;
    lon=..; alt_m=..``. :func:`leading_sensors` lists them; an :class:`InterfaceTap` tells
    which interface each packet came in on, so frames keep their sensor id.

Writers
    :class:`PcapngWriter` (any number of link types, one interface per link type, nanosecond
    timestamps; :meth:`PcapngWriter.sensor_interface` declares a sensor's interface) and
    :class:`PcapWriter` (one link type), both with ``write(time, linktype, data)``.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import struct
from collections.abc import Generator, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from dronewatch.errors import Corrupt, DecodeError, Truncated
from dronewatch.model import SensorSite
from dronewatch.stats import DecodeStats

if TYPE_CHECKING:
    pass

__all__ = [
    "Capture",
    "CaptureFormatError",
    "Packet",
    "PacketStream",
    "PcapWriter",
    "PcapngWriter",
    "SensorSite",
    "iter_packets",
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

OPT_ENDOFOPT = 0
OPT_IF_NAME = 2
OPT_IF_DESCRIPTION = 3
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14

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


class Damage(Exception):
    """Internal: damage found; carries the error to count or raise. A capture cut short at a
    record or block boundary also carries where to go on once more bytes have come
    (``resume``: what a stream needs, see :class:`PacketStream`)."""

    def __init__(self, error: DecodeError, resume: Resume | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.resume = resume


def count_or_raise(error: DecodeError, stats: DecodeStats | None, strict: bool) -> None:
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
    return _guard(packet_source(buf), stats, strict)


def packet_source(buf: bytes | mmap.mmap, tap: InterfaceTap | None = None) -> Iterator[Packet]:
    """The raw packet generator for ``buf`` (raises ``Damage`` on damage); ``tap`` is told
    the interface of every pcapng packet."""
    head = bytes(buf[:4])
    if len(head) < 4:
        raise CaptureFormatError("empty or too short to be a capture", reason="empty-file")
    if head == _PCAPNG_SHB:
        return _iter_pcapng(buf, tap=tap)
    if head in _PCAP_MAGIC:
        return _iter_pcap(buf, *_PCAP_MAGIC[head])
    raise CaptureFormatError(f"not a pcap or pcapng file (magic {head.hex()})")


def _guard(packets: Iterator[Packet], stats: DecodeStats | None, strict: bool) -> Iterator[Packet]:
    try:
        yield from packets
    except Damage as stop:
        count_or_raise(stop.error, stats, strict)


def _iter_pcap(
    buf: bytes | mmap.mmap, order: str, divisor: float, start: int = 24
) -> Generator[Packet, None, Resume]:
    """The records of a classic pcap file, from the record at ``start`` (after the header);
    returns where the next record would start."""
    size = len(buf)
    if size < 24:
        raise Damage(Truncated("pcap file header cut short", reason="truncated-header"))
    e = _ENDIAN[order]
    _magic, major, _minor, _zone, _sigfigs, _snaplen, network = e["pcap_hdr"].unpack_from(buf, 0)
    if major != 2:
        raise Damage(Corrupt(f"pcap major version {major}", reason="bad-version"))
    # Some writers put FCS length bits in the top of the link type field.
    linktype = network & 0x0FFFFFFF
    rec = _REC[order]
    pos = start
    while pos < size:
        if pos + 16 > size:
            raise Damage(
                Truncated("pcap record header cut short", reason="truncated"),
                Resume(False, pos, order, divisor),
            )
        sec, frac, incl, _orig = rec(buf, pos)
        if incl > MAX_PACKET:
            raise Damage(Corrupt(f"pcap record of {incl} bytes", reason="bad-record-length"))
        start = pos + 16
        if start + incl > size:
            raise Damage(
                Truncated("pcap record data cut short", reason="truncated"),
                Resume(False, pos, order, divisor),
            )
        pos = start + incl
        yield sec + frac / divisor, linktype, buf[start:pos]
    return Resume(False, pos, order, divisor)


#: How an interface says it is a dronewatch sensor: ``if_name`` is the sensor id and
#: ``if_description`` reads ``dronewatch sensor; lat=..; lon=..; alt_m=..`` (readable in
#: Wireshark's capture file properties too).
SENSOR_TAG = "dronewatch sensor"


def sensor_description(site: SensorSite | None) -> str:
    """The ``if_description`` of a sensor interface."""
    if site is None:
        return SENSOR_TAG
    return f"{SENSOR_TAG}; lat={site.lat:.7f}; lon={site.lon:.7f}; alt_m={site.alt_m:.2f}"


def parse_sensor_description(text: str) -> tuple[bool, SensorSite | None]:
    """(is a sensor interface, its site when the description gives a valid one)."""
    if not text.startswith(SENSOR_TAG):
        return False, None
    fields: dict[str, float] = {}
    for part in text[len(SENSOR_TAG):].split(";"):
        key, _, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            continue
        if math.isfinite(number):
            fields[key.strip()] = number
    lat, lon = fields.get("lat"), fields.get("lon")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return True, None
    return True, SensorSite(lat, lon, fields.get("alt_m", 2.0))


class Interface:
    """A pcapng interface: link type, snap length, timestamp divisor and offset (seconds);
    ``sensor_id`` and ``site`` when it is a dronewatch sensor interface (else ``None``)."""

    __slots__ = ("divisor", "linktype", "offset", "sensor_id", "site", "snaplen")

    def __init__(self, linktype: int, snaplen: int, divisor: int, offset: float,
                 sensor_id: str | None = None, site: SensorSite | None = None) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        self.divisor = divisor
        self.offset = offset
        self.sensor_id = sensor_id
        self.site = site


class InterfaceTap:
    """Filled by the pcapng reader: the interface of the packet it yielded last (``None``
    for classic pcap), so a caller can tell which sensor heard it."""

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current: Interface | None = None


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
    interfaces: tuple[Interface, ...] = ()
    last_time: float = 0.0


def resume_packets(
    buf: bytes | mmap.mmap, resume: Resume, tap: InterfaceTap | None = None
) -> Generator[Packet, None, Resume]:
    """The packets of the capture in ``buf`` from ``resume`` on (raises ``Damage`` on damage,
    as the reader from the start does); returns where the next packet would start."""
    if resume.pcapng:
        return _iter_pcapng(buf, resume, tap)
    return _iter_pcap(buf, resume.order, resume.divisor, resume.position)


def _options(
    buf: bytes | mmap.mmap, pos: int, end: int, order: str
) -> Iterator[tuple[int, bytes]]:
    opt = _ENDIAN[order]["opt"]
    while pos + 4 <= end:
        code, length = opt.unpack_from(buf, pos)
        if code == OPT_ENDOFOPT:
            return
        start = pos + 4
        stop = start + length
        if stop > end:
            return  # a damaged option list: ignore the rest of it, keep the block
        yield code, bytes(buf[start:stop])
        pos = start + ((length + 3) & ~3)


def _parse_idb(buf: bytes | mmap.mmap, pos: int, end: int, order: str) -> Interface:
    e = _ENDIAN[order]
    if pos + 16 > end:
        raise Damage(Corrupt("interface description block too short", reason="bad-idb"))
    linktype, _reserved, snaplen = e["idb"].unpack_from(buf, pos + 8)
    divisor = 1_000_000
    offset = 0.0
    name: str | None = None
    sensor = False
    site: SensorSite | None = None
    for code, value in _options(buf, pos + 16, end, order):
        if code == OPT_IF_NAME:
            name = value.decode("utf-8", "replace").rstrip("\0") or None
        elif code == OPT_IF_DESCRIPTION:
            sensor, site = parse_sensor_description(value.decode("utf-8", "replace"))
        if code == OPT_IF_TSRESOL and len(value) >= 1:
            r = value[0]
            exp = r & 0x7F
            if exp > 63:
                raise Damage(Corrupt(f"if_tsresol {r:#x}", reason="bad-tsresol"))
            divisor = 2**exp if r & 0x80 else 10**exp
        elif code == OPT_IF_TSOFFSET and len(value) >= 8:
            offset = float(e["i64"].unpack_from(value, 0)[0])
    if not sensor or name is None:
        return Interface(linktype, snaplen, divisor, offset)
    return Interface(linktype, snaplen, divisor, offset, name, site)


def _iter_pcapng(
    buf: bytes | mmap.mmap, resume: Resume | None = None, tap: InterfaceTap | None = None
) -> Generator[Packet, None, Resume]:
    """The packets of a pcapng file; from the block and state of ``resume`` if given.
    Returns (and, cut short at a block, raises with) where the next block starts. ``tap``
    is told the interface of each packet before it is yielded."""
    size = len(buf)
    pos = 0
    order = "<"
    interfaces: list[Interface] = []
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
            raise Damage(
                Truncated("pcapng block header cut short", reason="truncated"),
                Resume(True, pos, order, interfaces=tuple(interfaces), last_time=last_time),
            )
        if btype == SHB:  # (the SHB type reads the same in both byte orders)
            # A new section: its byte-order magic decides how everything after it is read.
            bom = bytes(buf[pos + 8 : pos + 12])
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                raise Damage(Corrupt("bad pcapng byte-order magic", reason="bad-byte-order"))
            blk = _BLK[order]
            head = _HEAD[order]
            u32 = _U32[order]
            opb = _OPB[order]
            interfaces = []
            btype, blen = blk(buf, pos)
        if blen < 12 or blen & 3:
            raise Damage(Corrupt(f"pcapng block length {blen}", reason="bad-block-length"))
        end = pos + blen
        if end > size:
            raise Damage(
                Truncated("pcapng block cut short", reason="truncated"),
                Resume(True, pos, order, interfaces=tuple(interfaces), last_time=last_time),
            )
        if u32(buf, end - 4)[0] != blen:
            raise Damage(Corrupt("pcapng trailing block length mismatch", reason="bad-block-length"))
        body_end = end - 4
        if btype in (EPB, OPB):
            if btype == OPB:  # the obsolete Packet Block: 16-bit interface id and drop count
                if pos + 28 > body_end:
                    raise Damage(Corrupt("packet block too short", reason="bad-packet-block"))
                iface, _drops, hi, lo, caplen, _orig = opb(buf, pos + 8)
            start = pos + 28
            stop = start + caplen
            if stop > body_end:  # (also an EPB shorter than its fixed fields)
                raise Damage(Corrupt("packet data runs past its block", reason="bad-packet-block"))
            if iface >= len(interfaces):
                raise Damage(Corrupt(f"packet on undeclared interface {iface}", reason="bad-interface"))
            it = interfaces[iface]
            sec, frac = divmod((hi << 32) | lo, it.divisor)
            last_time = sec + frac / it.divisor + it.offset
            if tap is not None:
                tap.current = it
            yield last_time, it.linktype, buf[start:stop]
        elif btype == SHB:
            major = _ENDIAN[order]["u16"].unpack_from(buf, pos + 12)[0]
            if major != 1:
                raise Damage(Corrupt(f"pcapng major version {major}", reason="bad-version"))
        elif btype == IDB:
            interfaces.append(_parse_idb(buf, pos, body_end, order))
        elif btype == SPB:
            if not interfaces:
                raise Damage(Corrupt("simple packet without an interface", reason="bad-interface"))
            if pos + 12 > body_end:
                raise Damage(Corrupt("simple packet block too short", reason="bad-spb"))
            it = interfaces[0]
            orig = _ENDIAN[order]["u32"].unpack_from(buf, pos + 8)[0]
            caplen = min(orig, body_end - (pos + 12))
            if it.snaplen:
                caplen = min(caplen, it.snaplen)
            if tap is not None:
                tap.current = it
            # A simple packet has no timestamp: it inherits the previous packet's time.
            yield last_time, it.linktype, buf[pos + 12 : pos + 12 + caplen]
        # any other block (NRB, ISB, DSB, custom...) carries no packet: skipped
        pos = end
    return Resume(True, pos, order, interfaces=tuple(interfaces), last_time=last_time)


def leading_sensors(buf: bytes | mmap.mmap) -> dict[str, SensorSite | None]:
    """The dronewatch sensor interfaces a pcapng capture declares before its first packet
    (sensor id -> site, ``None`` when it gives no valid position); empty for anything else
    (classic pcap, other pcapng files, damage)."""
    out: dict[str, SensorSite | None] = {}
    if bytes(buf[:4]) != _PCAPNG_SHB or len(buf) < 12:
        return out
    order = "<" if bytes(buf[8:12]) == b"\x4d\x3c\x2b\x1a" else ">"
    blk = _BLK[order]
    pos, size = 0, len(buf)
    while pos + 12 <= size:
        btype, blen = blk(buf, pos)
        if btype in (EPB, SPB, OPB) or blen < 12 or blen & 3 or pos + blen > size:
            break
        if btype == IDB:
            try:
                it = _parse_idb(buf, pos, pos + blen - 4, order)
            except Damage:
                break
            if it.sensor_id is not None:
                out.setdefault(it.sensor_id, it.site)
        pos += blen
    return out


def capture_sensors(path: str | Path) -> dict[str, SensorSite | None]:
    """:func:`leading_sensors` of a capture file (empty for a file that is no pcapng, cannot
    be mapped or read)."""
    try:
        capture = Capture(Path(path))
    except OSError:
        return {}
    try:
        return leading_sensors(capture.buf) if capture.buf is not None else {}
    finally:
        capture.close()


#: Bytes read at a time from a capture that cannot be mapped (a pipe, a FIFO, a device).
STREAM_CHUNK = 4 << 20
#: A stream holding this many bytes without completing a record or block is broken.
MAX_STREAM_BLOCK = 16 << 20


class Capture:
    """A capture file opened for reading: ``buf``, the whole file mapped read-only (plain
    bytes when empty), or ``None`` for a file that cannot be mapped (a pipe, a FIFO, a
    device): read it with :meth:`packets`, which streams those in bounded memory."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("rb")
        self.buf: bytes | mmap.mmap | None
        try:
            self.buf = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty regular file
            self.buf = b""
        except OSError:  # not mappable: streamed
            self.buf = None

    def packets(self, tap: InterfaceTap | None = None) -> Iterator[Packet]:
        """``packet_source`` of the file: it raises ``CaptureFormatError`` at once for a
        wrong magic and ``Damage`` on damage (``tap``: see :class:`InterfaceTap`; not for a
        streamed file)."""
        if self.buf is not None:
            return packet_source(self.buf, tap)
        return _stream_packets(self._fh)

    def close(self) -> None:
        if isinstance(self.buf, mmap.mmap):
            # a view still alive (held by the traceback of an error on its way out): the map
            # goes with the last view, and the error, not this, is reported
            with contextlib.suppress(BufferError):
                self.buf.close()
        self._fh.close()


def _stream_packets(fh: BinaryIO) -> Iterator[Packet]:
    """The packets of a capture read from a stream, ``STREAM_CHUNK`` bytes at a time, through
    a :class:`PacketStream`; damage raises ``Damage`` as it does for a file."""
    stream = PacketStream()
    try:
        while chunk := fh.read(STREAM_CHUNK):
            yield from stream.feed(chunk)
        stream.close()
    except CaptureFormatError:
        raise
    except DecodeError as exc:
        raise Damage(exc) from None


class PacketStream:
    """The reader, fed a capture piece by piece as it arrives (stdin, a FIFO, TCP).

    :meth:`feed` returns the packets completed by the new bytes at once; a record or block cut
    short waits for the rest (the readers stop at its start with the state to resume from).
    Damage raises ``Corrupt`` (a stream cannot find its way after it), a wrong magic
    ``CaptureFormatError``; :meth:`close` says whether bytes were left over at the end
    (``Truncated``). Memory is bounded: at most one block waits (``MAX_STREAM_BLOCK``).
    """

    def __init__(self) -> None:
        self._buf = b""
        self._resume: Resume | None = None
        self._header = b""  # a classic pcap's file header, kept in front of what is pending
        self.bytes_read = 0

    @property
    def started(self) -> bool:
        """The file header has been read: a capture is coming."""
        return self._resume is not None

    def feed(self, data: bytes) -> list[Packet]:
        self.bytes_read += len(data)
        buf = self._buf + data if self._buf else bytes(data)
        resume = self._resume
        if resume is None:
            if len(buf) < 4:
                self._buf = buf
                return []
            head = buf[:4]
            if head == _PCAPNG_SHB:
                resume = Resume(True, 0, "<")
            elif head in _PCAP_MAGIC:
                if len(buf) < 24:
                    self._buf = buf
                    return []
                self._header = buf[:24]
                resume = Resume(False, 24, *_PCAP_MAGIC[head])
            else:
                raise CaptureFormatError(f"not a pcap or pcapng stream (magic {head.hex()})")
        packets: list[Packet] = []
        reader = resume_packets(buf, resume)
        try:
            while True:
                packets.append(next(reader))
        except StopIteration as end:
            resume = end.value
        except Damage as stop:
            if stop.resume is None:
                raise stop.error from None
            resume = stop.resume
        # Keep only what is not read yet (and a classic pcap's header in front of it).
        keep = len(self._header)
        self._buf = self._header + buf[resume.position :]
        self._resume = resume._replace(position=keep)
        if len(self._buf) - keep > MAX_STREAM_BLOCK:
            raise Corrupt(
                f"{len(self._buf) - keep} bytes without a complete packet",
                reason="bad-block-length",
            )
        return packets

    def close(self) -> None:
        """The input ended: ``Truncated`` if it stopped inside a packet or file header."""
        left = len(self._buf) - len(self._header)
        if left > 0 or (self._resume is None and self.bytes_read):
            raise Truncated(f"the stream ended {left} bytes into a packet", reason="truncated")


def read_packets(
    path: str | Path, stats: DecodeStats | None = None, *, strict: bool = False
) -> Iterator[Packet]:
    """The packets of a capture file (see :func:`iter_packets`); one that cannot be mapped
    (a pipe...) is streamed in bounded memory."""
    capture = Capture(Path(path))
    try:
        yield from _guard(capture.packets(), stats, strict)
    finally:
        capture.close()


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
        self._ifaces: dict[tuple[int, str | None], int] = {}
        opts = _option(4, application.encode()) + _option(0, b"")  # shb_userappl
        body = struct.pack("<IHHq", _BOM, 1, 0, -1) + opts
        self._block(SHB, body)

    def _block(self, btype: int, body: bytes) -> None:
        total = 12 + len(body)
        self._fh.write(struct.pack("<II", btype, total) + body + struct.pack("<I", total))

    def interface(self, linktype: int, name: str | None = None) -> int:
        """The interface id for ``linktype`` (declared on first use)."""
        return self._declare(linktype, None, name, None)

    def sensor_interface(self, linktype: int, sensor_id: str, site: SensorSite | None) -> int:
        """Declare (once) the interface of sensor ``sensor_id`` for ``linktype``: ``if_name``
        is the sensor id, ``if_description`` its position (:func:`sensor_description`)."""
        return self._declare(linktype, sensor_id, sensor_id, sensor_description(site))

    def _declare(self, linktype: int, sensor: str | None, name: str | None,
                 description: str | None) -> int:
        key = (linktype, sensor)
        iface = self._ifaces.get(key)
        if iface is None:
            iface = len(self._ifaces)
            opts = b""
            if name:
                opts += _option(OPT_IF_NAME, name.encode())
            if description:
                opts += _option(OPT_IF_DESCRIPTION, description.encode())
            opts += _option(OPT_IF_TSRESOL, b"\x09") + _option(0, b"")
            self._block(IDB, struct.pack("<HHI", linktype, 0, self._snaplen) + opts)
            self._ifaces[key] = iface
        return iface

    def write(self, time: float, linktype: int, data: bytes, sensor: str | None = None) -> None:
        """One packet; ``sensor``: on that sensor's interface (declared before with
        :meth:`sensor_interface`)."""
        iface = self._ifaces[(linktype, sensor)] if sensor is not None else self.interface(linktype)
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
