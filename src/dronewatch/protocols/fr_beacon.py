"""The French "signalement électronique" beacon (arrêté du 27 décembre 2019).

A Wi-Fi beacon carrying a vendor-specific element with OUI ``6A:5C:35``. The payload is the
element body after the OUI: one vendor-specific type byte (``0x01``), then TLVs
(type byte, length byte, value; values big-endian):

====  ======  =======================================================================
type  length  value
====  ======  =======================================================================
1     1       protocol version (1)
2     30      ID FR: manufacturer (3) + model (3) + serial (24), ASCII
3     var     ID ANSI/CTA-2063 physical serial number, ASCII
4     4       latitude, signed, 1e-5 degree
5     4       longitude, signed, 1e-5 degree
6     2       altitude above mean sea level, signed, metres
7     2       height above the take-off point, signed, metres
8     4       take-off (home) latitude, signed, 1e-5 degree
9     4       take-off (home) longitude, signed, 1e-5 degree
10    1       horizontal ground speed, unsigned, m/s
11    2       route over ground, degrees 0-359 clockwise from true north
====  ======  =======================================================================

Unknown TLV types are skipped (later versions may add some). A position of exactly (0, 0)
is read as "no position" -> ``None``.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from dronewatch.errors import Corrupt, NotMine, Truncated, Unsupported
from dronewatch.model import Message, Transport
from dronewatch.protocols import register
from dronewatch.protocols.tables import (
    At,
    ExprCodec,
    Field,
    Layout,
    compile_decoder,
    register_layout,
)

FR_OUI: Final = bytes.fromhex("6a5c35")
VS_TYPE: Final = 0x01
PROTOCOL_VERSION: Final = 1
ID_FR_LENGTH: Final = 30
POS_SCALE: Final = 1e5  # raw units per degree


class FrBeacon(Message, frozen=True):
    """One French beacon frame: identity, position, home point and motion."""

    type: ClassVar[str] = "fr_beacon"

    version: int | None = PROTOCOL_VERSION
    uas_id: str | None = None  # ID FR (30 characters)
    serial: str | None = None  # ANSI/CTA-2063 serial number
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None  # metres above mean sea level
    height: float | None = None  # metres above the take-off point
    home_lat: float | None = None
    home_lon: float | None = None
    speed: float | None = None  # m/s
    direction: float | None = None  # degrees from true north, [0, 360)


@dataclass(slots=True, frozen=True)
class Tlv:
    """One TLV of the layout: message attribute, struct code (None = variable ASCII).

    ``decode_source`` is ``decode`` as a Python expression over ``{raw}``, pasted into the
    compiled decoders (:func:`_compile_shape`); ``None`` makes them call ``decode``. It must
    compute exactly what ``decode`` computes (the tests check it).
    """

    code: int
    name: str
    fmt: str | None
    decode: Callable[[Any], Any]
    encode: Callable[[Any], Any]
    decode_source: str | None = None

    @property
    def codec(self) -> ExprCodec:
        """The TLV's value codec for the table engine."""
        return ExprCodec(self.decode, self.encode, None, self.decode_source)


def _text_decode(raw: bytes) -> str | None:
    text = raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
    return text or None


def _ansi_decode(raw: bytes) -> str | None:
    """CTA-2063 serial: 4-character manufacturer code, 1 length character, serial.

    Some senders put the length as a binary byte (1-15) instead of its hex character.
    """
    if len(raw) > 4 and 1 <= raw[4] <= 15:
        raw = raw[:4] + b"%X" % raw[4] + raw[5:]
    return _text_decode(raw)


def _text_encode(size: int | None) -> Callable[[str], bytes]:
    def enc(text: str) -> bytes:
        data = text.encode("ascii", errors="replace")
        return data if size is None else data[:size].ljust(size, b"\x00")

    return enc


def _pos_decode(raw: int) -> float:
    return raw / POS_SCALE


def _pos_encode(deg: float) -> int:
    return max(-(2**31), min(2**31 - 1, round(deg * POS_SCALE)))


def _i16(v: float) -> int:
    return max(-32768, min(32767, round(v)))


def _direction_decode(raw: int) -> float | None:
    return float(raw) if 0 <= raw < 360 else None


_POS_SOURCE: Final = f"{{raw}} / {POS_SCALE!r}"

# The layout, in the order the encoder writes it.
TLVS: Final = (
    Tlv(1, "version", "B", lambda r: r, lambda v: v & 0xFF, "{raw}"),
    Tlv(2, "uas_id", f"{ID_FR_LENGTH}s", _text_decode, _text_encode(ID_FR_LENGTH)),
    Tlv(3, "serial", None, _ansi_decode, _text_encode(None)),
    Tlv(4, "lat", "i", _pos_decode, _pos_encode, _POS_SOURCE),
    Tlv(5, "lon", "i", _pos_decode, _pos_encode, _POS_SOURCE),
    Tlv(6, "alt", "h", float, _i16, "float({raw})"),
    Tlv(7, "height", "h", float, _i16, "float({raw})"),
    Tlv(8, "home_lat", "i", _pos_decode, _pos_encode, _POS_SOURCE),
    Tlv(9, "home_lon", "i", _pos_decode, _pos_encode, _POS_SOURCE),
    Tlv(10, "speed", "B", float, lambda v: max(0, min(255, round(v))), "float({raw})"),
    Tlv(11, "direction", "H", _direction_decode, lambda v: round(v) % 360,
        "(float({raw}) if 0 <= {raw} < 360 else None)"),
)
_BY_CODE: Final = {t.code: t for t in TLVS}
_STRUCTS: Final = {t.code: struct.Struct(">" + t.fmt) for t in TLVS if t.fmt is not None}


def _pair(lat: Any, lon: Any) -> tuple[float | None, float | None]:
    if lat is None or lon is None or (lat == 0 and lon == 0):
        return None, None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None, None
    return lat, lon


Shape = tuple[tuple[int, int], ...]  # (code, length) of each TLV, in order
ShapeDecoder = Callable[[bytes], "FrBeacon | None"]

# A sender repeats one TLV shape in every frame, so each shape seen in SHAPE_COMPILE_AFTER
# good frames gets a decoder compiled for it. At most MAX_SHAPES are compiled (each costs
# ~0.2 ms and some memory); frames of other shapes take the TLV walk.
SHAPE_COMPILE_AFTER: Final = 3
MAX_SHAPES: Final = 64
_MAX_SHAPE_COUNTS: Final = 4096
_compiled: dict[int, tuple[ShapeDecoder, ...]] = {}  # by payload length
_compiled_count = 0
_shape_counts: dict[Shape, int] = {}  # good frames per shape not yet compiled


def _finish(
    version: int | None = PROTOCOL_VERSION,
    uas_id: str | None = None,
    serial: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    alt: float | None = None,
    height: float | None = None,
    home_lat: float | None = None,
    home_lon: float | None = None,
    speed: float | None = None,
    direction: float | None = None,
) -> FrBeacon:
    """The beacon from its decoded TLV values (the parameters are its fields), checked: a
    supported version, an identifier, positions only as plausible pairs."""
    if version is not None and version != PROTOCOL_VERSION:
        raise Unsupported(f"French beacon version {version}", reason="unsupported-version")
    if uas_id is None and serial is None:
        raise Corrupt("French beacon without an identifier", reason="no-id")
    lat, lon = _pair(lat, lon)
    home_lat, home_lon = _pair(home_lat, home_lon)
    return FrBeacon(version, uas_id, serial, lat, lon, alt, height, home_lat, home_lon, speed,
                    direction)


def shape_layout(shape: Shape) -> Layout:
    """The fixed layout of the payloads whose TLVs are exactly ``shape`` (a shape the TLV walk
    accepted): the vendor-specific type and every TLV header are constants the decoder
    checks (another shape of the same length decodes to ``None``); TLVs of later versions
    are skipped; a repeated TLV counts last."""
    constants = [(At(0, "B"), VS_TYPE)]
    fields: list[Field] = []
    pos = 1
    for code, length in shape:
        constants.append((At(pos, "H"), code << 8 | length))
        tlv = _BY_CODE.get(code)
        if tlv is not None:
            if tlv.fmt is None:
                fmt = f"{length}s"
            elif _STRUCTS[code].size == length:
                fmt = tlv.fmt
            else:
                raise ValueError(f"TLV {code} of length {length} in a shape")
            fields.append(Field(tlv.name, tlv.codec, At(pos + 2, fmt)))
        pos += 2 + length
    return Layout("fr.beacon", tuple(fields), pos, order=">", constants=tuple(constants),
                  checked=True, variant=str(shape))


def _compile_shape(shape: Shape) -> ShapeDecoder:
    """The decoder of one TLV shape, generated by the table engine (see :func:`shape_layout`):
    one struct unpack of the whole payload, the TLV headers compared with the shape's, the
    TLVs' ``decode_source`` pasted inline, then :func:`_finish`."""
    fn: ShapeDecoder = compile_decoder(shape_layout(shape), _finish)
    return fn


def _count_shape(shape: Shape, length: int) -> None:
    """Note one good frame of ``shape`` (``length`` bytes); compile it when it recurs."""
    global _compiled_count
    count = _shape_counts.get(shape, 0) + 1
    if count < SHAPE_COMPILE_AFTER:
        if len(_shape_counts) >= _MAX_SHAPE_COUNTS:
            _shape_counts.clear()
        _shape_counts[shape] = count
        return
    _shape_counts.pop(shape, None)
    if _compiled_count < MAX_SHAPES:
        _compiled[length] = (*_compiled.get(length, ()), _compile_shape(shape))
        _compiled_count += 1


def _decode_walk(payload: bytes) -> tuple[FrBeacon, Shape]:
    """The beacon in ``payload`` (bytes, first byte VS_TYPE) read TLV by TLV, and its shape."""
    values: dict[str, Any] = {}
    shape: list[tuple[int, int]] = []
    pos = 1
    end = len(payload)
    while pos < end:
        if pos + 2 > end:
            raise Truncated("French beacon TLV header cut off", reason="truncated")
        code, length = payload[pos], payload[pos + 1]
        pos += 2
        if pos + length > end:
            raise Truncated(f"French beacon TLV {code} cut off", reason="truncated")
        value = payload[pos : pos + length]
        pos += length
        shape.append((code, length))
        tlv = _BY_CODE.get(code)
        if tlv is None:
            continue  # a TLV of a later version
        if tlv.fmt is None:
            values[tlv.name] = tlv.decode(value)
            continue
        st = _STRUCTS[code]
        if length != st.size:
            raise Corrupt(
                f"French beacon TLV {code} has length {length}, expected {st.size}",
                reason="bad-tlv-length",
            )
        values[tlv.name] = tlv.decode(st.unpack(value)[0])
    return _finish(**values), tuple(shape)


@register(Transport.FR_BEACON)
def decode(payload: bytes) -> list[Message]:
    """The French beacon in a vendor element body (after the OUI ``6A:5C:35``)."""
    if type(payload) is not bytes:
        payload = bytes(payload)
    for decode_shape in _compiled.get(len(payload), ()):
        msg = decode_shape(payload)
        if msg is not None:
            return [msg]
    if not payload:
        raise Truncated("empty French beacon element", reason="truncated")
    if payload[0] != VS_TYPE:
        raise NotMine(f"vendor type 0x{payload[0]:02x} is not the French beacon", reason="vs-type")
    beacon, shape = _decode_walk(payload)
    _count_shape(shape, len(payload))
    return [beacon]


# The shape the encoder writes for a beacon with every field (a 20-character serial), for
# reading its generated decoder: python -m dronewatch.protocols.tables --show fr.beacon
_FULL_SHAPE: Final = tuple(
    (t.code, 20 if t.fmt is None else _STRUCTS[t.code].size) for t in TLVS
)
register_layout(
    dataclasses.replace(shape_layout(_FULL_SHAPE), variant=""), _compile_shape(_FULL_SHAPE)
)


def encode(message: FrBeacon) -> bytes:
    """The vendor element body (after the OUI) for ``message``; ``None`` fields are left out."""
    out = bytearray([VS_TYPE])
    for tlv in TLVS:
        value = getattr(message, tlv.name)
        if value is None:
            continue
        if tlv.fmt is None:
            data = tlv.encode(value)[:255]
        else:
            data = _STRUCTS[tlv.code].pack(tlv.encode(value))
        out += bytes((tlv.code, len(data))) + data
    return bytes(out)
