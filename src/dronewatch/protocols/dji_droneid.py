"""DJI DroneID records: the codec shared by DJI Wi-Fi beacons and DJI OcuSync.

A *record* starts at its type byte (Kismet's "subcommand"): in a Wi-Fi vendor element it
follows three header bytes after the OUI; in an OcuSync transport block it follows the
length byte (and is closed by a CRC-16 that the OcuSync layer checks). Records:

``0x10`` flight telemetry, version 1 (Wi-Fi, Kismet) or version 2 (Wi-Fi and OcuSync)
    All integers little-endian. Positions are ``round(radians * 1e7)``; degrees are
    ``raw / 174532.9252`` (= ``raw * 180 / (pi * 1e7)``; the ``174533`` used by several
    receivers is 2.5 m off at 51 deg N). A raw position of 0 means "no fix" -> ``None``.
``0x11`` flight information (Wi-Fi, Kismet layout): serial, drone id, flight purpose.
    Over OcuSync the 0x11 record is different (serial + 124 unknown bytes, ``cc aa 02``
    then zeros on a Mavic Air 2): decode it with ``decode_record(data, ocusync=True)``.
Encrypted O3+/O4 records carry an ASCII tag after the type byte (``INFP``, ``CRYP``):
    they decode to :class:`DjiEncrypted` (detection without plaintext).

Units. No primary source documents them; public decoders disagree, so they are settled
by the only real plaintext frames there are (a Mavic Air 2 over OcuSync, telemetry sequence
589 and 591 in ``tests/data/mavic_air_2.cf32``: raw ``141`` at offset 31 in both,
``37`` -> ``42`` at offset 33, ``v_up`` 28 and 26, horizontal velocity 0 to 2, position
unchanged, 8-12 m from home) and checked by ``tests/protocols/test_dji_droneid.py``:

* ``alt`` (offset 31, "altitude"): metres, as sent. 141 m above sea level is where that
  drone was (Bochum, terrain about 40-200 m, a few metres above its home point); as feet (the
  DroneSecurity reading, ``/ 3.281``) it would be 43 m, as decimetres 14 m.
* ``height`` (offset 33, "height" above home): decimetres (``height_raw / 10``), as the
  cyber-defence-campus RemoteIDReceiver parser reads it. The altitude did not move by a
  metre while the height rose by 5 units: the height's unit is finer than a metre. Kismet's
  disabled v2 code reads the two the other way round (offset 31 in decimetres, 33 raw), which
  puts a drone 8 m from home 37-42 m up with a "barometric height" of 14 m: inconsistent.
* velocities north/east/up: cm/s -> m/s (``speed_*_raw / 100``), as gr-droneid and ATK:
  ``v_up`` 0.26-0.28 m/s is the 0.5 m climb over the two sequence steps (about 2 s);
  the horizontal 0.02 m/s a hover at an unchanged position.
* yaw/pitch/roll: centi-degrees (Kismet). ``yaw`` is reported in [0, 360).

The raw wire values are kept beside the converted ones (``alt_raw``, ``height_raw``,
``speed_north_raw``...) so a consumer can apply another interpretation, and the encoder
writes the raw values (build messages with :func:`make_telemetry` to get both).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from math import atan2, degrees, hypot
from typing import Any, ClassVar, Final

from dronewatch.errors import Corrupt, NotMine, Truncated, Unsupported
from dronewatch.model import Message
from dronewatch.protocols.tables import (
    At,
    ExprCodec,
    Layout,
    compile_decoder,
    register_layout,
    sequential,
)

RECORD_TELEMETRY: Final = 0x10
RECORD_FLIGHT_INFO: Final = 0x11
RECORD_CRYPT: Final = 0x13

RAD_E7_PER_DEG: Final = 1e7 * math.pi / 180.0  # 174532.9252 raw units per degree
ENCRYPTED_TAGS: Final = (b"INFP", b"CRYP")

# ---------------------------------------------------------------------------------------------
# Product types (offset 67 of the OcuSync block), each with where it comes from:
#   DS  = RUB-SysSec/DroneSecurity src/droneid_packet.py DRONEID_DRONE_TYPES
#   KIS = kismetwireless/kismet dot11_parsers/dot11_ie_221_dji_droneid.h product_type_str()
#   BEN = /work/shared/docs/droneid.md section 2.5 ("BEN additions")
#   AS  = an AeroScope-to-server forwarder's DRONE_MODELS table (public Python code found by
#         the code search, 1..96 and 240; its repository is not named by the index)
#   DCA = DJI Cloud API "product support" enumeration (developer.dji.com/doc/cloud-api-
#         tutorial, overview/product-support): aircraft types 60 M300 RTK, 67 M30, 77 Mavic 3
#         Enterprise, 89 M350 RTK, 91 Matrice 3D. Where both are known (60, 67) DJI's own
#         aircraft type numbers are the DroneID codes, which corroborates AS on 77, 89, 91.
# For 88, AS says Mini 2 SE; another public table found by the code search says Avata, but it
# also puts M30 at 74 and M300 RTK at 86, against DJI's own numbers (DCA): AS is followed.

PRODUCT_TYPES: Final[dict[int, str]] = {
    1: "Inspire 1",  # DS, KIS
    2: "Phantom 3 Series",  # DS, KIS
    3: "Phantom 3 Series Pro",  # DS, KIS (Phantom 3 Series); BEN (P3 Pro)
    4: "Phantom 3 Std",  # DS, KIS
    5: "M100",  # DS, KIS
    6: "ACEONE",  # DS, KIS
    7: "WKM",  # DS, KIS
    8: "NAZA",  # DS, KIS
    9: "A2",  # DS, KIS
    10: "A3",  # DS, KIS
    11: "Phantom 4",  # DS, KIS
    12: "MG1",  # DS, KIS
    14: "M600",  # DS, KIS
    15: "Phantom 3 4K",  # DS, KIS
    16: "Mavic Pro",  # DS, KIS
    17: "Inspire 2",  # DS, KIS
    18: "Phantom 4 Pro",  # DS, KIS
    20: "N2",  # DS, KIS
    21: "Spark",  # DS, KIS
    23: "M600 Pro",  # DS, KIS
    24: "Mavic Air",  # DS, KIS
    25: "M200",  # DS, KIS
    26: "Phantom 4 Series",  # DS, KIS
    27: "Phantom 4 Adv",  # DS, KIS
    28: "M210",  # DS, KIS
    30: "M210RTK",  # DS, KIS
    31: "A3_AG",  # DS, KIS
    32: "MG2",  # DS, KIS
    34: "MG1A",  # DS, KIS
    35: "Phantom 4 RTK",  # DS, KIS
    36: "Phantom 4 Pro V2.0",  # DS, KIS
    38: "MG1P",  # DS, KIS
    40: "MG1P-RTK",  # DS (KIS: "MV1P-RTK", a typo)
    41: "Mavic 2",  # DS, KIS
    44: "M200 V2 Series",  # DS, KIS
    51: "Mavic 2 Enterprise",  # DS, KIS
    53: "Mavic Mini",  # DS, KIS
    58: "Mavic Air 2",  # DS, KIS; a real Mavic Air 2 sends it (tests/data/mavic_air_2.cf32)
    59: "P4M",  # DS, KIS
    60: "M300 RTK",  # DS, KIS, DCA
    61: "DJI FPV",  # DS, KIS
    63: "Mini 2",  # DS, KIS
    64: "AGRAS T10",  # DS, KIS
    65: "AGRAS T30",  # DS, KIS
    66: "Air 2S",  # DS, KIS
    67: "M30",  # DS, DCA
    68: "Mavic 3",  # DS, KIS
    69: "Mavic 2 Enterprise Advanced",  # DS, KIS
    70: "Mini SE",  # DS, KIS
    73: "Mini 3 Pro",  # BEN, AS
    75: "Avata",  # AS
    76: "Inspire 3",  # AS
    77: "Mavic 3 Enterprise",  # AS (E/T/M), DCA
    78: "FlyCart 30",  # AS
    82: "AGRAS T25",  # AS
    83: "AGRAS T50",  # AS
    84: "Mavic 3 Pro",  # AS
    86: "Mavic 3 Classic",  # AS
    87: "Mini 3",  # AS
    88: "Mini 2 SE",  # AS (see above)
    89: "M350 RTK",  # AS, DCA
    90: "Air 3",  # AS
    91: "Matrice 3D",  # AS (3D/3TD), DCA
    93: "Mini 4 Pro",  # AS
    95: "AGRAS T60",  # AS
    96: "AGRAS T25P",  # AS
    240: "Yuneec H480",  # BEN, AS: a non-DJI AeroScope partner
}


def product_name(code: int | None) -> str | None:
    """The model name of a product type code; ``"unknown (N)"`` for codes not in the table."""
    if code is None:
        return None
    return PRODUCT_TYPES.get(code, f"unknown ({code})")


# ---------------------------------------------------------------------------------------------
# Value codecs: wire integer/bytes <-> message value


class Codec(ExprCodec):
    """Wire value <-> message value (a :class:`~dronewatch.protocols.tables.ExprCodec`):
    ``decode``, ``encode``, ``encode_many`` (``encode`` on numpy arrays, NaN for ``None``, or
    on one scalar for the whole batch) and ``decode_expr``, ``decode`` as a Python expression
    over ``{raw}`` that the table engine pastes into the compiled decoders (``None``: they call
    ``decode``). It must compute exactly what ``decode`` computes (the tests check it).
    """

    def __init__(
        self,
        decode: Callable[[Any], Any],
        encode: Callable[[Any], Any],
        encode_many: Callable[[Any], Any] = lambda v: v,
        decode_expr: str | None = None,
    ) -> None:
        super().__init__(decode, encode, encode_many, decode_expr)


class DecodeMemo(dict[bytes, Any]):
    """``memo[raw]`` is ``decode(raw)``, computed once per distinct ``raw``.

    Senders repeat the same serial number and UUID in every frame: looking their text up
    costs a fraction of decoding it. The memo is cleared when it reaches ``max_size``
    entries, so arbitrary input cannot grow it without bound.
    """

    __slots__ = ("_decode", "_max_size")

    def __init__(self, decode: Callable[[bytes], Any], max_size: int = 4096) -> None:
        super().__init__()
        self._decode = decode
        self._max_size = max_size

    def __missing__(self, raw: bytes) -> Any:
        if len(self) >= self._max_size:
            self.clear()
        value = self[raw] = self._decode(raw)
        return value


def _pos_decode(raw: int) -> float | None:
    return None if raw == 0 else raw / RAD_E7_PER_DEG


def _pos_encode(deg: float | None) -> int:
    return 0 if deg is None else _clamp(round(deg * RAD_E7_PER_DEG), -(2**31), 2**31 - 1)


def _np() -> Any:
    import numpy

    return numpy


def _clamp(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else hi if v > hi else v


def _scaled(scale: float, bits: int) -> Codec:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return Codec(
        lambda raw: raw / scale if scale != 1 else float(raw),
        lambda v: 0 if v is None else _clamp(round(v * scale), lo, hi),
        lambda v: _rint_many(v, scale, lo, hi),
        f"{{raw}} / {scale!r}" if scale != 1 else "float({raw})",
    )


def _rint_many(v: Any, scale: float, lo: int, hi: int) -> Any:
    """Vectorised ``clamp(round(v * scale))`` with NaN/None -> 0 (round half to even, as
    Python's ``round``)."""
    if v is None:
        return 0
    import numpy as np

    a = np.asarray(v, dtype=np.float64) * scale
    return np.where(np.isnan(a), 0.0, np.clip(np.rint(a), lo, hi)).astype(np.int64)


def _yaw_encode_many(v: Any) -> Any:
    if v is None:
        return 0
    import numpy as np

    a = np.asarray(v, dtype=np.float64)
    centi = np.where(np.isnan(a), 0.0, np.rint(a * 100.0)) % 36000
    return np.where(centi > 18000, centi - 36000, centi).astype(np.int64)


def _str_decode(raw: bytes) -> str | None:
    text = raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()
    return text or None


def _str_encode_to(size: int) -> Callable[[str | None], bytes]:
    def enc(text: str | None) -> bytes:
        data = (text or "").encode("utf-8")[:size]
        return data.ljust(size, b"\x00")

    return enc


def _yaw_decode(raw: int) -> float:
    return (raw / 100.0) % 360.0


def _yaw_encode(deg: float | None) -> int:
    if deg is None:
        return 0
    centi = round(deg * 100.0) % 36000  # [0, 36000)
    return centi - 36000 if centi > 18000 else centi


GPS_TIME_SECONDS_BELOW: Final = 10**11  # a ms count this small would be 1973: it is seconds


def _gps_time_decode(raw: int) -> float | None:
    """Milliseconds since the epoch (OcuSync, MEASURED); some Wi-Fi senders put seconds."""
    if raw == 0:
        return None
    return float(raw) if raw < GPS_TIME_SECONDS_BELOW else raw / 1000.0


def _gps_time_encode(t: float | None) -> int:
    return 0 if t is None else _clamp(round(t * 1000.0), 0, 2**64 - 1)


IDENT: Final = Codec(lambda raw: raw, lambda v: 0 if v is None else v,
                     lambda v: 0 if v is None else v, "{raw}")
POS: Final = Codec(_pos_decode, _pos_encode,
                   lambda v: _rint_many(v, RAD_E7_PER_DEG, -(2**31), 2**31 - 1),
                   f"(None if {{raw}} == 0 else {{raw}} / {RAD_E7_PER_DEG!r})")
ANGLE_CENTI: Final = _scaled(100.0, 16)
YAW: Final = Codec(_yaw_decode, _yaw_encode, _yaw_encode_many, "(({raw} / 100.0) % 360.0)")
GPS_TIME_MS: Final = Codec(
    _gps_time_decode, _gps_time_encode, lambda v: _rint_many(v, 1000.0, 0, 2**63 - 1),
    f"(None if {{raw}} == 0 else float({{raw}}) if {{raw}} < {GPS_TIME_SECONDS_BELOW}"
    " else {raw} / 1000.0)",
)
SERIAL16: Final = Codec(
    DecodeMemo(_str_decode).__getitem__, _str_encode_to(16), _str_encode_to(16)
)


def _record(name: str, record_type: int, *specs: tuple[str, str, Codec]) -> Layout:
    """A record layout from its type byte on: the type (a constant), then fields laid end
    to end, ``(name, struct code, codec)``, little-endian."""
    fields, size = sequential("<", *specs, start=1)
    return register_layout(
        Layout(name, fields, size, constants=((At(0, "B"), record_type),))
    )


UUID_FIELD_SIZE: Final = 20  # bytes reserved for the UUID (19 characters + NUL on OcuSync)

# Telemetry record 0x10 from the type byte on. The uuid (uuid_len bytes of a 20-byte field)
# follows the fixed part.
_TELEMETRY_HEAD: Final = (
    ("version", "B", IDENT),
    ("sequence", "H", IDENT),
    ("state_info", "H", IDENT),
    ("serial", "16s", SERIAL16),
    ("lon", "i", POS),
    ("lat", "i", POS),
    ("alt_raw", "h", IDENT),
    ("height_raw", "h", IDENT),
    ("speed_north_raw", "h", IDENT),
    ("speed_east_raw", "h", IDENT),
    ("speed_up_raw", "h", IDENT),
)
_TELEMETRY_TAIL: Final = (
    ("home_lon", "i", POS),
    ("home_lat", "i", POS),
    ("product_type", "B", IDENT),
    ("uuid_len", "B", IDENT),
)
TELEMETRY_V1: Final = _record(
    "dji.telemetry_v1",
    RECORD_TELEMETRY,
    *_TELEMETRY_HEAD,
    ("pitch", "h", ANGLE_CENTI),
    ("roll", "h", ANGLE_CENTI),
    ("yaw", "h", YAW),
    *_TELEMETRY_TAIL,
)
TELEMETRY_V2: Final = _record(
    "dji.telemetry_v2",
    RECORD_TELEMETRY,
    *_TELEMETRY_HEAD,
    ("yaw", "h", YAW),
    ("gps_time", "Q", GPS_TIME_MS),
    ("operator_lat", "i", POS),
    ("operator_lon", "i", POS),
    *_TELEMETRY_TAIL,
)
TELEMETRY_LAYOUTS: Final = {1: TELEMETRY_V1, 2: TELEMETRY_V2}

# Flight information 0x11 over Wi-Fi (Kismet): drone id is a 10-byte field with a length
# byte; the purpose length byte is followed by the text (DJI sometimes sends less than it says).
FLIGHT_INFO: Final = _record(
    "dji.flight_info",
    RECORD_FLIGHT_INFO,
    ("serial", "16s", SERIAL16),
    ("drone_id_len", "B", IDENT),
    ("drone_id_raw", "10s", IDENT),
    ("purpose_len", "B", IDENT),
)
DRONE_ID_SIZE: Final = 10

# OcuSync 0x11: type, serial, then bytes whose meaning is unknown.
OCUSYNC_SERIAL: Final = _record(
    "dji.ocusync_serial", RECORD_FLIGHT_INFO, ("serial", "16s", SERIAL16)
)
# What a Mavic Air 2 sends after the serial (record length 141 from the type byte).
OCUSYNC_SERIAL_UNKNOWN_DEFAULT: Final = b"\xcc\xaa\x02" + bytes(121)

# ---------------------------------------------------------------------------------------------
# Messages

# state_info bits (Kismet's reverse engineering; bits 6-11 are guesses).
STATE_SERIAL_VALID: Final = 0x0001
STATE_PRIVATE_MODE_DISABLED: Final = 0x0002
STATE_HOME_SET: Final = 0x0004
STATE_UUID_SET: Final = 0x0008
STATE_MOTOR_ON: Final = 0x0010
STATE_IN_AIR: Final = 0x0020
STATE_GPS_VALID: Final = 0x0040
STATE_ALT_VALID: Final = 0x0080
STATE_HEIGHT_VALID: Final = 0x0100
STATE_HORIZONTAL_VALID: Final = 0x0200
STATE_VUP_VALID: Final = 0x0400
STATE_ATTITUDE_VALID: Final = 0x0800
STATE_FLYING_DEFAULT: Final = 0x1FF7  # what a flying Mavic Air 2 sends

# Scale factors of the fields whose unit is a choice (see the module docstring).
ALT_SCALE: Final = 1.0  # raw per metre
HEIGHT_SCALE: Final = 10.0  # raw per metre (decimetres)
SPEED_SCALE: Final = 100.0  # raw per m/s (cm/s)


class DjiTelemetry(Message, frozen=True):
    """DJI DroneID flight telemetry (record 0x10, version 1 or 2)."""

    type: ClassVar[str] = "dji_telemetry"

    serial: str | None
    sequence: int
    version: int
    state_info: int
    lat: float | None
    lon: float | None
    alt: float | None  # metres (raw as sent, see module docstring)
    height: float | None  # metres above home (raw decimetres)
    speed_north: float | None  # m/s (raw cm/s)
    speed_east: float | None
    speed_up: float | None
    speed: float | None  # horizontal ground speed, m/s, from north/east
    direction: float | None  # track over ground, degrees [0, 360), None when hovering
    yaw: float | None  # heading of the airframe, degrees [0, 360)
    pitch: float | None  # degrees (version 1 only)
    roll: float | None  # degrees (version 1 only)
    home_lat: float | None
    home_lon: float | None
    operator_lat: float | None  # pilot / app position (version 2 only)
    operator_lon: float | None
    gps_time: float | None  # app GPS time, UTC epoch seconds (version 2 only)
    product_type: int
    product: str | None
    uuid: str | None
    alt_raw: int
    height_raw: int
    speed_north_raw: int
    speed_east_raw: int
    speed_up_raw: int

    @property
    def in_air(self) -> bool:
        return bool(self.state_info & STATE_IN_AIR)

    @property
    def motor_on(self) -> bool:
        return bool(self.state_info & STATE_MOTOR_ON)

    @property
    def private_mode(self) -> bool:
        """True when the pilot hides positions (bit 1 clear)."""
        return not self.state_info & STATE_PRIVATE_MODE_DISABLED


class DjiFlightInfo(Message, frozen=True):
    """DJI DroneID flight information over Wi-Fi (record 0x11): user-entered text."""

    type: ClassVar[str] = "dji_flight_info"

    serial: str | None
    drone_id: str | None
    purpose: str | None


class DjiSerial(Message, frozen=True):
    """DJI DroneID over OcuSync record 0x11: the serial number and bytes of unknown meaning."""

    type: ClassVar[str] = "dji_serial"

    serial: str | None
    unknown: bytes = OCUSYNC_SERIAL_UNKNOWN_DEFAULT


class DjiEncrypted(Message, frozen=True):
    """An encrypted DroneID record (O3+/O4 ``INFP`` / ``CRYP``): seen, but not readable."""

    type: ClassVar[str] = "dji_encrypted"

    record_type: int
    tag: str  # "INFP" or "CRYP"
    length: int  # record length from the type byte
    ciphertext: bytes  # what follows the tag


# ---------------------------------------------------------------------------------------------
# Decoding


_PRODUCT_NAMES: Final = tuple(PRODUCT_TYPES.get(code, f"unknown ({code})") for code in range(256))
_UUID_TEXTS: Final = DecodeMemo(lambda field: _str_decode(field.replace(b"\x00", b"")))


def _telemetry(
    version: int,
    sequence: int,
    state_info: int,
    serial: str | None,
    lat: float | None,
    lon: float | None,
    alt_raw: int,
    height_raw: int,
    speed_north_raw: int,
    speed_east_raw: int,
    speed_up_raw: int,
    yaw: float,
    pitch: float | None,
    roll: float | None,
    gps_time: float | None,
    operator_lat: float | None,
    operator_lon: float | None,
    home_lat: float | None,
    home_lon: float | None,
    product_type: int,
    uuid_len: int,
    uuid_field: bytes,
) -> DjiTelemetry:
    """The message from a telemetry record's decoded fields (the parameters are the layouts'
    field names; ``None`` for those the record's version lacks) and the bytes of its UUID
    field (up to 20, fewer if the record ends early).

    Coordinate pairs are both kept or both dropped (``None``): a missing or out-of-range one
    drops its pair. Speed and direction over ground come from the north/east velocities.
    """
    if uuid_len > UUID_FIELD_SIZE:
        raise Corrupt(f"DJI UUID length {uuid_len} > {UUID_FIELD_SIZE}", reason="bad-uuid-length")
    if len(uuid_field) < uuid_len:
        raise Truncated("DJI telemetry record ends inside its UUID", reason="truncated")
    if lat is None or lon is None or not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        lat = lon = None
    if home_lat is None or home_lon is None or not (
        -90.0 <= home_lat <= 90.0 and -180.0 <= home_lon <= 180.0
    ):
        home_lat = home_lon = None
    if operator_lat is None or operator_lon is None or not (
        -90.0 <= operator_lat <= 90.0 and -180.0 <= operator_lon <= 180.0
    ):
        operator_lat = operator_lon = None
    speed_north = speed_north_raw / SPEED_SCALE
    speed_east = speed_east_raw / SPEED_SCALE
    speed = hypot(speed_north, speed_east)
    # Positional, in field order: msgspec matches 29 keywords ~7x slower than it takes
    # positions (tests compare with the keyword-built message).
    return DjiTelemetry(
        serial,
        sequence,
        version,
        state_info,
        lat,
        lon,
        alt_raw / ALT_SCALE,  # alt
        height_raw / HEIGHT_SCALE,  # height
        speed_north,
        speed_east,
        speed_up_raw / SPEED_SCALE,  # speed_up
        speed,
        None if speed == 0.0 else degrees(atan2(speed_east, speed_north)) % 360.0,  # direction
        yaw,
        pitch,
        roll,
        home_lat,
        home_lon,
        operator_lat,
        operator_lon,
        gps_time,
        product_type,
        _PRODUCT_NAMES[product_type],  # product
        # the whole 20-byte field when present: some senders misplace the text by a byte
        _UUID_TEXTS[uuid_field] if uuid_len else None,  # uuid
        alt_raw,
        height_raw,
        speed_north_raw,
        speed_east_raw,
        speed_up_raw,
    )


TelemetryDecoder = Callable[[bytes], DjiTelemetry]


def _compile_telemetry_decoder(layout: Layout) -> TelemetryDecoder:
    """A function ``record bytes (>= layout.size) -> DjiTelemetry`` generated by the table
    engine from ``layout``: one struct unpack, the codecs' ``decode_expr`` pasted inline,
    then :func:`_telemetry` with the decoded fields by name (and the UUID field's bytes)."""
    end = layout.size + UUID_FIELD_SIZE
    fn: TelemetryDecoder = compile_decoder(
        layout, _telemetry, extra={"uuid_field": f"data[{layout.size}:{end}]"}
    )
    return fn


# version -> (fixed record size, decoder)
_TELEMETRY_DECODERS: dict[int, tuple[int, TelemetryDecoder]] = {}
for _version, _layout in TELEMETRY_LAYOUTS.items():
    _TELEMETRY_DECODERS[_version] = (_layout.size, _compile_telemetry_decoder(_layout))
    register_layout(_layout, _TELEMETRY_DECODERS[_version][1])


def _decode_telemetry(data: bytes) -> DjiTelemetry:
    if len(data) < 2:
        raise Truncated("DJI telemetry record without a version byte", reason="truncated")
    version = data[1]
    entry = _TELEMETRY_DECODERS.get(version)
    if entry is None:
        raise Unsupported(
            f"DJI telemetry version {version} not supported", reason="unsupported-version"
        )
    size, decoder = entry
    if len(data) < size:
        raise Truncated(
            f"DJI telemetry v{version} needs {size} bytes, got {len(data)}", reason="truncated"
        )
    return decoder(data)


def _decode_flight_info(data: bytes) -> DjiFlightInfo:
    if len(data) < FLIGHT_INFO.size:
        raise Truncated(
            f"DJI flight information needs {FLIGHT_INFO.size} bytes, got {len(data)}",
            reason="truncated",
        )
    v = FLIGHT_INFO.unpack(data)
    if v["drone_id_len"] > DRONE_ID_SIZE:
        raise Corrupt(
            f"DJI drone id length {v['drone_id_len']} > {DRONE_ID_SIZE}",
            reason="bad-drone-id-length",
        )
    drone_id = _str_decode(v["drone_id_raw"][: v["drone_id_len"]])
    # DJI sends fewer purpose bytes than announced at times: take what is there.
    purpose = _str_decode(data[FLIGHT_INFO.size : FLIGHT_INFO.size + v["purpose_len"]])
    return DjiFlightInfo(serial=v["serial"], drone_id=drone_id, purpose=purpose)


def _decode_ocusync_serial(data: bytes) -> DjiSerial:
    if len(data) < OCUSYNC_SERIAL.size:
        raise Truncated("DJI serial record shorter than its serial number", reason="truncated")
    v = OCUSYNC_SERIAL.unpack(data)
    return DjiSerial(serial=v["serial"], unknown=bytes(data[OCUSYNC_SERIAL.size :]))


def decode_record(data: bytes, *, ocusync: bool = False) -> Message:
    """Decode one DroneID record starting at its type byte.

    ``ocusync`` selects the OcuSync reading of record 0x11 (:class:`DjiSerial`) instead of
    the Wi-Fi one (:class:`DjiFlightInfo`). Raises ``Truncated``/``Corrupt`` for broken
    records, ``Unsupported`` for unknown record types and versions, ``NotMine`` for nothing.
    """
    if type(data) is not bytes:
        data = bytes(data)
    if not data:
        raise NotMine("empty DJI DroneID record", reason="empty")
    record_type = data[0]
    tag = data[1:5]
    if tag in ENCRYPTED_TAGS:
        return DjiEncrypted(
            record_type=record_type, tag=tag.decode("ascii"), length=len(data), ciphertext=data[5:]
        )
    if record_type == RECORD_TELEMETRY:
        return _decode_telemetry(data)
    if record_type == RECORD_FLIGHT_INFO:
        return _decode_ocusync_serial(data) if ocusync else _decode_flight_info(data)
    raise Unsupported(f"DJI record type 0x{record_type:02x}", reason="unknown-record-type")


# ---------------------------------------------------------------------------------------------
# Encoding


def _telemetry_values(m: DjiTelemetry) -> dict[str, Any]:
    values: dict[str, Any] = {
        "version": m.version,
        "sequence": m.sequence & 0xFFFF,
        "state_info": m.state_info & 0xFFFF,
        "serial": m.serial,
        "lon": m.lon,
        "lat": m.lat,
        "alt_raw": m.alt_raw,
        "height_raw": m.height_raw,
        "speed_north_raw": m.speed_north_raw,
        "speed_east_raw": m.speed_east_raw,
        "speed_up_raw": m.speed_up_raw,
        "pitch": m.pitch,
        "roll": m.roll,
        "yaw": m.yaw,
        "gps_time": m.gps_time,
        "operator_lat": m.operator_lat,
        "operator_lon": m.operator_lon,
        "home_lon": m.home_lon,
        "home_lat": m.home_lat,
        "product_type": m.product_type & 0xFF,
    }
    return values


def _encode_telemetry(m: DjiTelemetry) -> bytes:
    layout = TELEMETRY_LAYOUTS.get(m.version)
    if layout is None:
        raise Unsupported(
            f"cannot encode DJI telemetry version {m.version}", reason="unsupported-version"
        )
    uuid = (m.uuid or "").encode("utf-8")[: UUID_FIELD_SIZE - 1]  # keep the NUL terminator
    values = _telemetry_values(m)
    values["uuid_len"] = len(uuid)
    return layout.pack(values) + uuid.ljust(UUID_FIELD_SIZE, b"\x00")


def _encode_flight_info(m: DjiFlightInfo) -> bytes:
    drone_id = (m.drone_id or "").encode("utf-8")[:DRONE_ID_SIZE]
    purpose = (m.purpose or "").encode("utf-8")[:255]
    head = FLIGHT_INFO.pack(
        {
            "serial": m.serial,
            "drone_id_len": len(drone_id),
            "drone_id_raw": drone_id.ljust(DRONE_ID_SIZE, b"\x00"),
            "purpose_len": len(purpose),
        }
    )
    return head + purpose


def encode_record(message: Message) -> bytes:
    """The record bytes (from the type byte) of a DJI DroneID message."""
    if isinstance(message, DjiTelemetry):
        return _encode_telemetry(message)
    if isinstance(message, DjiFlightInfo):
        return _encode_flight_info(message)
    if isinstance(message, DjiSerial):
        head = OCUSYNC_SERIAL.pack({"serial": message.serial})
        return head + message.unknown
    if isinstance(message, DjiEncrypted):
        return (
            bytes([message.record_type & 0xFF])
            + message.tag.encode("ascii")[:4].ljust(4, b"\x00")
            + message.ciphertext
        )
    raise TypeError(f"not a DJI DroneID message: {type(message).__name__}")


def encode_telemetry(
    *,
    serial: str | None,
    lat: float | None,
    lon: float | None,
    alt: float | None = None,
    height: float | None = None,
    speed_north: float = 0.0,
    speed_east: float = 0.0,
    speed_up: float = 0.0,
    yaw: float | None = None,
    pitch: float | None = None,
    roll: float | None = None,
    home_lat: float | None = None,
    home_lon: float | None = None,
    operator_lat: float | None = None,
    operator_lon: float | None = None,
    gps_time: float | None = None,
    product_type: int = 58,
    uuid: str | None = None,
    sequence: int = 0,
    version: int = 2,
    state_info: int = STATE_FLYING_DEFAULT,
) -> bytes:
    """The telemetry record bytes for SI values, without building a message (fast path).

    ``alt``/``height`` in metres, speeds in m/s, angles in degrees, positions in WGS84
    degrees (``None`` = no fix), ``gps_time`` in UTC epoch seconds.
    """
    layout = TELEMETRY_LAYOUTS.get(version)
    if layout is None:
        raise Unsupported(f"DJI telemetry version {version}", reason="unsupported-version")
    uuid_bytes = (uuid or "").encode("utf-8")[: UUID_FIELD_SIZE - 1]
    values: dict[str, Any] = {
        "version": version,
        "sequence": sequence & 0xFFFF,
        "state_info": state_info & 0xFFFF,
        "serial": serial,
        "lat": lat,
        "lon": lon,
        "alt_raw": 0 if alt is None else _clamp(round(alt * ALT_SCALE), -32768, 32767),
        "height_raw": 0 if height is None else _clamp(round(height * HEIGHT_SCALE), -32768, 32767),
        "speed_north_raw": _clamp(round(speed_north * SPEED_SCALE), -32768, 32767),
        "speed_east_raw": _clamp(round(speed_east * SPEED_SCALE), -32768, 32767),
        "speed_up_raw": _clamp(round(speed_up * SPEED_SCALE), -32768, 32767),
        "pitch": pitch,
        "roll": roll,
        "yaw": yaw,
        "gps_time": gps_time,
        "operator_lat": operator_lat,
        "operator_lon": operator_lon,
        "home_lat": home_lat,
        "home_lon": home_lon,
        "product_type": product_type & 0xFF,
        "uuid_len": len(uuid_bytes),
    }
    return layout.pack(values) + uuid_bytes.ljust(UUID_FIELD_SIZE, b"\x00")


def encode_telemetry_many(
    n: int,
    *,
    serial: str | None,
    lat: Any,
    lon: Any,
    alt: Any = None,
    height: Any = None,
    speed_north: Any = 0.0,
    speed_east: Any = 0.0,
    speed_up: Any = 0.0,
    yaw: Any = None,
    home_lat: float | None = None,
    home_lon: float | None = None,
    operator_lat: Any = None,
    operator_lon: Any = None,
    gps_time: Any = None,
    product_type: int = 58,
    uuid: str | None = None,
    sequence: Any = 0,
    state_info: Any = STATE_FLYING_DEFAULT,
) -> list[bytes]:
    """``n`` version-2 telemetry records at once (numpy), byte-identical to ``n`` calls of
    :func:`encode_telemetry`. Array arguments have ``n`` values (NaN for ``None``); scalars
    apply to every record."""
    uuid_bytes = (uuid or "").encode("utf-8")[: UUID_FIELD_SIZE - 1]
    suffix = uuid_bytes.ljust(UUID_FIELD_SIZE, b"\x00")
    values: dict[str, Any] = {
        "version": 2,
        "sequence": _np().asarray(sequence) & 0xFFFF,
        "state_info": _np().asarray(state_info) & 0xFFFF,
        "serial": serial,
        "lat": lat,
        "lon": lon,
        "alt_raw": _rint_many(alt, ALT_SCALE, -32768, 32767),
        "height_raw": _rint_many(height, HEIGHT_SCALE, -32768, 32767),
        "speed_north_raw": _rint_many(speed_north, SPEED_SCALE, -32768, 32767),
        "speed_east_raw": _rint_many(speed_east, SPEED_SCALE, -32768, 32767),
        "speed_up_raw": _rint_many(speed_up, SPEED_SCALE, -32768, 32767),
        "yaw": yaw,
        "gps_time": gps_time,
        "operator_lat": operator_lat,
        "operator_lon": operator_lon,
        "home_lat": home_lat,
        "home_lon": home_lon,
        "product_type": product_type & 0xFF,
        "uuid_len": len(uuid_bytes),
    }
    raw = TELEMETRY_V2.pack_many(values, n)
    size = TELEMETRY_V2.size
    return [raw[i : i + size] + suffix for i in range(0, n * size, size)]


def make_telemetry(**kwargs: Any) -> DjiTelemetry:
    """A telemetry message from SI values (the arguments of :func:`encode_telemetry`),
    quantised exactly as the wire carries them.

    ``decode_record(encode_record(make_telemetry(...)))`` gives the same message back.
    """
    return _decode_telemetry(encode_telemetry(**kwargs))
