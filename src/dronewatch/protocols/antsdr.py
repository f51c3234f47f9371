"""The AntSDR E200 DJI DroneID firmware's TCP feed (WarDragon, Kismet's ``antsdr-droneid``).

The AntSDR decodes DroneID in its FPGA and serves reports on TCP port 41030. Each frame is a
5-byte header and a payload:

======  ======  ==============================================================
offset  size    content
======  ======  ==============================================================
0       2       unknown (a frame marker; not checked)
2       1       frame type: 0x01 = a DroneID report (others are skipped, counted)
3       2       length, u16 little-endian (see below)
5       ...     payload
======  ======  ==============================================================

Type 0x01 payload (227 bytes, little-endian, packed): serial (64 bytes, NUL-padded ASCII),
product type text (64 bytes), product type code (u8), then doubles: pilot (app) lat, lon,
drone lat, lon, height, altitude, home lat, lon, frequency, speed east, north, up; RSSI
(i16). Layout as read by public clients of the feed (WarDragon's DJI receiver scripts and
Kismet's ``capture_antsdr_droneid``); positions in degrees, heights/altitudes in metres,
speeds in m/s, frequency as the firmware reports it (MHz or GHz, normalised to Hz here).

The length field: WarDragon's reader takes it as the whole frame's length (header
included: 232 for a report), Kismet's reads that many bytes after the header. Both come from
the same firmware, so :func:`frame_payload_length` accepts either for a report (232 or 227)
and takes other types' lengths as whole-frame lengths, as WarDragon does. The encoder writes
whole-frame lengths.

A report whose serial or product text is not printable is from an encrypted (O4) drone: it
is reported as such (:class:`DjiAntsdrReport` with ``encrypted=True``), not dropped.
"""

from __future__ import annotations

import math
import struct
from typing import ClassVar, Final

from dronewatch.errors import Corrupt, Truncated
from dronewatch.model import Message, Transport
from dronewatch.protocols import register

HEADER: Final = 5
TYPE_REPORT: Final = 0x01
REPORT_BYTES: Final = 227
MAX_FRAME: Final = 4096
DEFAULT_PORT: Final = 41030
MARKER: Final = b"\x00\x00"  # what the encoder writes in bytes 0-1 (readers ignore them)
_DOUBLES: Final = struct.Struct("<12d")
_NAMES: Final = ("operator_lat", "operator_lon", "lat", "lon", "height", "alt", "home_lat",
                 "home_lon", "freq", "speed_east", "speed_north", "speed_up")


class DjiAntsdrReport(Message, frozen=True):
    """A DroneID report decoded by an AntSDR (its FPGA did the PHY)."""

    type: ClassVar[str] = "dji_antsdr"

    serial: str | None
    product: str | None
    product_type: int
    lat: float | None  # degrees (None when 0/0 or not finite)
    lon: float | None
    height: float | None  # metres above home
    alt: float | None  # metres
    home_lat: float | None
    home_lon: float | None
    operator_lat: float | None
    operator_lon: float | None
    speed_east: float | None  # m/s
    speed_north: float | None
    speed_up: float | None
    frequency_hz: float | None
    rssi: int
    encrypted: bool = False


def frame_payload_length(frame_type: int, length: int) -> int:
    """The payload length a header's ``length`` field means (see the module doc)."""
    if frame_type == TYPE_REPORT and length == REPORT_BYTES:
        return REPORT_BYTES  # a payload length (Kismet's reading)
    if length < HEADER:
        raise Corrupt(f"AntSDR frame length {length} < its {HEADER}-byte header",
                      reason="antsdr-length")
    return length - HEADER


def split_frames(buf: bytes | bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """Whole frames at the start of ``buf``: ([(type, payload)], bytes consumed).
    ``Corrupt`` for a length no frame can have (the stream cannot be trusted after it)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while len(buf) - pos >= HEADER:
        ftype = buf[pos + 2]
        n = frame_payload_length(ftype, int.from_bytes(buf[pos + 3 : pos + 5], "little"))
        if HEADER + n > MAX_FRAME:
            raise Corrupt(f"AntSDR frame of {HEADER + n} bytes (at most {MAX_FRAME})",
                          reason="antsdr-length")
        if len(buf) - pos < HEADER + n:
            break
        out.append((ftype, bytes(buf[pos + HEADER : pos + HEADER + n])))
        pos += HEADER + n
    return out, pos


def _text(raw: bytes) -> tuple[str | None, bool]:
    """NUL-padded ASCII -> (text or None, printable)."""
    raw = raw.split(b"\x00", 1)[0]
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None, False
    if not text.isprintable():
        return None, False
    return (text.strip() or None), True


def _deg(v: float, limit: float) -> float | None:
    return v if math.isfinite(v) and abs(v) <= limit else None


def _num(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _pair(lat: float, lon: float) -> tuple[float | None, float | None]:
    a, b = _deg(lat, 90.0), _deg(lon, 180.0)
    if a is None or b is None or (a == 0.0 and b == 0.0):
        return None, None
    return a, b


def _freq_hz(v: float) -> float | None:
    if not math.isfinite(v) or v <= 0:
        return None
    if v < 10:  # GHz
        return v * 1e9
    if v < 10_000:  # MHz
        return v * 1e6
    return v


@register(Transport.ANTSDR_DRONEID)
def decode(payload: bytes) -> list[Message]:
    """Decode one type-0x01 report payload (227 bytes; longer ones: the extra is ignored)."""
    if len(payload) < REPORT_BYTES:
        raise Truncated(f"AntSDR report of {len(payload)} bytes (expected {REPORT_BYTES})",
                        reason="truncated")
    serial, ok1 = _text(payload[0:64])
    product, ok2 = _text(payload[64:128])
    v = _DOUBLES.unpack_from(payload, 129)
    f = dict(zip(_NAMES, v, strict=True))
    rssi = int.from_bytes(payload[225:227], "little", signed=True)
    lat, lon = _pair(f["lat"], f["lon"])
    home_lat, home_lon = _pair(f["home_lat"], f["home_lon"])
    op_lat, op_lon = _pair(f["operator_lat"], f["operator_lon"])
    return [DjiAntsdrReport(
        serial=serial, product=product, product_type=payload[128],
        lat=lat, lon=lon, height=_num(f["height"]), alt=_num(f["alt"]),
        home_lat=home_lat, home_lon=home_lon, operator_lat=op_lat, operator_lon=op_lon,
        speed_east=_num(f["speed_east"]), speed_north=_num(f["speed_north"]),
        speed_up=_num(f["speed_up"]), frequency_hz=_freq_hz(f["freq"]), rssi=rssi,
        encrypted=not (ok1 and ok2),
    )]


def encode(m: DjiAntsdrReport) -> bytes:
    """The 227-byte report payload of ``m`` (the frequency written in MHz)."""

    def text(s: str | None) -> bytes:
        raw = (s or "").encode("ascii")
        if len(raw) > 64:
            raise ValueError(f"text of {len(raw)} bytes does not fit 64")
        return raw.ljust(64, b"\x00")

    def d(x: float | None) -> float:
        return 0.0 if x is None else float(x)

    values = (d(m.operator_lat), d(m.operator_lon), d(m.lat), d(m.lon), d(m.height), d(m.alt),
              d(m.home_lat), d(m.home_lon), d(m.frequency_hz) / 1e6, d(m.speed_east),
              d(m.speed_north), d(m.speed_up))
    return (text(m.serial) + text(m.product) + bytes([m.product_type & 0xFF])
            + _DOUBLES.pack(*values) + int(m.rssi).to_bytes(2, "little", signed=True))


def encode_frame(payload: bytes, frame_type: int = TYPE_REPORT) -> bytes:
    """A whole frame: header (whole-frame length, as WarDragon reads it) and payload."""
    n = HEADER + len(payload)
    return MARKER + bytes([frame_type]) + n.to_bytes(2, "little") + payload
