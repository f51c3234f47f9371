"""The data model shared by every source, decoder, tracker and sink.

Conventions (the same everywhere, including the HTTP API and JSON Lines output):

* times are UTC, as float seconds since the Unix epoch;
* positions are WGS84 degrees (``lat``, ``lon``); altitudes and heights are metres;
  speeds are m/s; directions are degrees clockwise from true north in [0, 360);
* a value the sender marks unknown or invalid is ``None``, never the wire's sentinel.

Field names are the JSON keys; units follow from the conventions above and, where a field
is not in those units, the unit is part of its name (``rssi_dbm``, ``frequency_hz``...).
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec


class Transport(enum.StrEnum):
    """How a broadcast reached us. The value is the JSON ``transport`` key."""

    WIFI_BEACON = "wifi-beacon"
    WIFI_NAN = "wifi-nan"
    BLE_LEGACY = "ble-legacy"
    BLE_LONG_RANGE = "ble-long-range"
    DJI_WIFI = "dji-wifi"
    DJI_OCUSYNC = "dji-ocusync"
    FR_BEACON = "fr-beacon"
    ANTSDR_DRONEID = "antsdr-droneid"  # a DroneID report decoded by an AntSDR (its TCP feed)


class FrameKind(enum.StrEnum):
    """Which kind of link-layer frame carried a payload: the JSON ``frame_kind`` key.

    The transport says how a broadcast is sent (``wifi-beacon`` is the Remote ID "Wi-Fi
    Beacon" method, whatever 802.11 frame carries its vendor element); the frame kind says
    which frame it was. A probe response carries the same vendor elements as the beacon it
    answers for: its payload keeps the transport of the element (``wifi-beacon``,
    ``dji-wifi``, ``fr-beacon``) and says ``probe_response`` here.
    """

    BEACON = "beacon"  # 802.11 beacon
    PROBE_RESPONSE = "probe_response"  # 802.11 probe response (unicast, may be retried)
    ACTION = "action"  # 802.11 public action frame: Wi-Fi NAN service discovery
    ADVERT = "advert"  # Bluetooth LE legacy advertising PDU or legacy advertising report
    AUX_ADVERT = "aux_advert"  # Bluetooth LE extended advertising PDU (AUX_ADV_IND...) or report
    BURST = "burst"  # a DJI OcuSync burst received from IQ samples
    REPORT = "report"  # a report of a receiver that decoded the PHY itself (AntSDR)


class Frame(msgspec.Struct, frozen=True, gc=False):
    """One received broadcast payload, before decoding.

    ``payload`` is exactly the bytes the protocol decoder for ``transport`` reads: for
    Remote ID the message counter byte is stripped and ``payload`` is one 25-byte message or a
    message pack; for DJI Wi-Fi and the French beacon it is the vendor element body after the
    OUI (and OUI type); for DJI OcuSync it is the CRC-checked transport block.

    Frames and :class:`Decoded` records are built once per frame and per message on the
    decode path, hundreds of thousands per second: they are ``msgspec`` structs, which
    construct in a fifth of the time of a frozen dataclass and, holding no cycles, stay out
    of the garbage collector (``gc=False``). Use ``msgspec.structs.replace`` to copy one.
    """

    payload: bytes
    time: float
    transport: Transport
    source: str | None = None  # transmitter address, "aa:bb:cc:dd:ee:ff"
    rssi_dbm: float | None = None
    channel: int | None = None
    frequency_hz: float | None = None
    sensor_id: str = "local"
    counter: int | None = None  # Remote ID message counter, when the transport carries one
    extra: dict[str, Any] | None = None  # what the PHY measured, e.g. snr_db, cfo_hz
    # Fields added later go last, with defaults: positional construction and the msgpack
    # wire of older sensors stay valid.
    frame_kind: str | None = None  # a FrameKind value (a plain str on the wire: new kinds
    # from newer sensors must not make an older server drop the batch)
    link_seq: int | None = None  # 802.11 sequence number (0..4095), for frames that have one
    link_retry: bool = False  # 802.11 retry flag: a retransmission of link_seq


class Message(msgspec.Struct, frozen=True, gc=False):
    """Base of every decoded message: an immutable ``msgspec`` struct.

    Subclasses (``class Location(Message, frozen=True): ...``, ``frozen`` repeated for mypy)
    declare their fields, with defaults where a sender may leave them out, and set ``type``
    (the JSON ``type`` key, e.g. ``"location"`` or ``"dji_telemetry"``). Decoders build hundreds of
    thousands of messages a second: a struct is built in one C call, and holding only plain
    values (no cycles) it stays out of the garbage collector (``gc=False``).
    ``msgspec.structs.replace`` copies one with changes.
    """

    type: ClassVar[str] = "message"

    def fields(self) -> dict[str, Any]:
        """The message's fields as plain JSON-able values (enums by their value)."""
        out = msgspec.structs.asdict(self)
        for name in _convertible_fields(type(self)):
            value = out[name]
            if type(value) not in _PLAIN:
                out[name] = to_jsonable(value)
        return out


# Types that are JSON as they are.
_PLAIN = frozenset((float, int, str, bool, type(None)))
_CONVERTIBLE: dict[type, tuple[str, ...]] = {}


def _hints(cls: type[Message]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}


def _convertible_fields(cls: type[Message]) -> tuple[str, ...]:
    """The fields of ``cls`` whose values may need :func:`to_jsonable` (enums, bytes...),
    from its type hints; all of them if the hints cannot be read."""
    names = _CONVERTIBLE.get(cls)
    if names is None:
        try:
            hints = typing.get_type_hints(cls)
            names = tuple(
                name
                for name in cls.__struct_fields__
                if not set(typing.get_args(hints[name]) or (hints[name],)) <= _PLAIN
            )
        except (NameError, TypeError, KeyError):
            names = cls.__struct_fields__
        _CONVERTIBLE[cls] = names
    return names


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for enums, bytes, tuples and nested dataclasses."""
    if isinstance(value, enum.Enum):
        texts = _ENUM_TEXTS.get(type(value))
        if texts is None:
            texts = _ENUM_TEXTS[type(value)] = {}
        text = texts.get(value)
        if text is None:
            text = texts[value] = _enum_text(value)
        return text
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Message):
        return value.fields()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _enum_text(value: enum.Enum) -> str:
    """A string enum by its value, any other by its lower-case name."""
    return str(value.value) if isinstance(value, enum.StrEnum) else value.name.lower()


# JSON texts of enum members, per enum class (an IntEnum member equals those of other
# IntEnums with the same number, so one dict for all would mix them up); reading
# ``Enum.name`` is slow on the JSON Lines hot path.
_ENUM_TEXTS: dict[type, dict[enum.Enum, str]] = {}


class Decoded(msgspec.Struct, frozen=True, gc=False):
    """A decoded message with the frame it came in."""

    frame: Frame
    message: Message

    def to_json(self) -> dict[str, Any]:
        """The JSON Lines record: frame metadata, then the message's own fields."""
        f = self.frame
        out: dict[str, Any] = {
            "time": f.time,
            "transport": f.transport.value,
            "frame_kind": f.frame_kind,
            "source": f.source,
            "rssi": f.rssi_dbm,
            "channel": f.channel,
            "frequency": f.frequency_hz,
            "sensor": f.sensor_id,
            "type": self.message.type,
        }
        if f.extra:
            out.update(f.extra)
        out.update(self.message.fields())
        return out


_FRAME_KEYS = (
    "time", "transport", "frame_kind", "source", "rssi", "channel", "frequency", "sensor", "type"
)
# A frame's own keys (all but "type"), encoded once for all the messages it carries.
_FrameHead = msgspec.defstruct("FrameHead", [(k, Any) for k in _FRAME_KEYS[:-1]], gc=False)
BodyBuilder = typing.Callable[[Message], Any]
_BODY_BUILDERS: dict[type, BodyBuilder | None] = {}
_NO_BUILDER: Any = object()


class JsonLineEncoder:
    """:class:`Decoded` messages as JSON Lines: each line the bytes msgspec gives for
    :meth:`Decoded.to_json`, built in a fraction of the time (the ``--json`` hot path).

    A frame's keys are encoded once for all of its messages, and a message's own part once
    for as long as the decoders hand out the same object (they cache messages by their bytes:
    a drone's Basic ID, System and Operator ID repeat).
    """

    BODIES_MAX = 8192

    __slots__ = ("_bodies", "_encode", "_frame", "_head")

    def __init__(self) -> None:
        self._encode = msgspec.json.Encoder(enc_hook=str).encode
        self._frame: Frame | None = None
        self._head = b""
        # id(message) -> (message, its part of the line): the message is held, so its id
        # cannot be reused by another object while the entry lives (an entry found for the
        # id of a message is that message's).
        self._bodies: dict[int, tuple[Message, bytes]] = {}

    def line(self, decoded: Decoded) -> bytes:
        """One JSON Lines line (ending in a newline) for ``decoded``."""
        f, m = decoded.frame, decoded.message
        build = _BODY_BUILDERS.get(type(m), _NO_BUILDER)
        if build is _NO_BUILDER:
            build = _BODY_BUILDERS[type(m)] = _body_builder(type(m))
        if build is None or f.extra:
            return self._encode(decoded.to_json()) + b"\n"
        if f is not self._frame:
            self._frame = f
            # '{"time":...,"sensor":"..."' and the comma before the message's keys
            self._head = self._encode(_FrameHead(
                f.time, f.transport, f.frame_kind, f.source, f.rssi_dbm, f.channel,
                f.frequency_hz, f.sensor_id,
            ))[:-1] + b","
        entry = self._bodies.get(id(m))
        if entry is not None:
            return self._head + entry[1]
        body = self._encode(build(m))[1:] + b"\n"  # '"type":...}' and the newline
        if len(self._bodies) >= self.BODIES_MAX:
            self._bodies.clear()
        self._bodies[id(m)] = (m, body)
        return self._head + body

    def lines(self, f: Frame, messages: list[Message]) -> bytes:
        """The lines of a frame's messages: what :meth:`line` gives for each, joined (the
        frame's keys are encoded once, with no :class:`Decoded` built per message)."""
        if f.extra:
            return b"".join([self.line(Decoded(f, m)) for m in messages])
        self._frame = f
        head = self._head = self._encode(_FrameHead(
            f.time, f.transport, f.frame_kind, f.source, f.rssi_dbm, f.channel,
            f.frequency_hz, f.sensor_id,
        ))[:-1] + b","
        bodies = self._bodies
        builders = _BODY_BUILDERS
        parts: list[bytes] = []
        for m in messages:
            entry = bodies.get(id(m))
            if entry is not None:
                parts.append(entry[1])
                continue
            build = builders.get(type(m), _NO_BUILDER)
            if build is _NO_BUILDER:
                build = builders[type(m)] = _body_builder(type(m))
            if build is None:  # lines of their own (see line)
                return b"".join([self.line(Decoded(f, m)) for m in messages])
            body = self._encode(build(m))[1:] + b"\n"
            if len(bodies) >= self.BODIES_MAX:
                bodies.clear()
            bodies[id(m)] = (m, body)
            parts.append(body)
        return head + head.join(parts)


def _body_builder(cls: type[Message]) -> BodyBuilder | None:
    """The builder of a message's own part of its JSON line (``type`` and its fields), as a
    msgspec struct with the keys of :meth:`Decoded.to_json` in the same order; ``None`` when
    a message field is named like a frame key (the dict of ``to_json`` has them once)."""
    names = cls.__struct_fields__
    if set(names) & set(_FRAME_KEYS):
        return None
    record = msgspec.defstruct(
        f"{cls.__name__}Record", [(k, Any) for k in ("type", *names)], gc=False
    )
    # Per converted field: its enum class and the texts of its members (a direct lookup),
    # or None (bytes, tuples, nested messages: to_jsonable).
    converted: list[tuple[int, type | None, dict[Any, str]]] = []
    hints = _hints(cls)
    for name in _convertible_fields(cls):
        enums = [a for a in typing.get_args(hints.get(name)) or (hints.get(name),)
                 if isinstance(a, type) and issubclass(a, enum.Enum)]
        if len(enums) == 1:
            converted.append((names.index(name), enums[0],
                              {m: to_jsonable(m) for m in enums[0]}))
        else:
            converted.append((names.index(name), None, {}))
    # One generated function per class: the fields unpacked once, each converted field's
    # expression inline (this runs for every new message on the --json path).
    ns: dict[str, Any] = {"_astuple": msgspec.structs.astuple, "_record": record,
                          "_plain": _PLAIN, "_jsonable": to_jsonable, "_type": cls.type}
    args = [f"v{i}" for i in range(len(names))]
    for i, enum_cls, texts in converted:
        v = f"v{i}"
        if enum_cls is None:
            args[i] = f"({v} if type({v}) in _plain else _jsonable({v}))"
        else:
            ns[f"_e{i}"], ns[f"_t{i}"] = enum_cls, texts
            args[i] = (f"(_t{i}[{v}] if type({v}) is _e{i} else "
                       f"{v} if type({v}) in _plain else _jsonable({v}))")
    unpack = "".join(f"v{i}, " for i in range(len(names)))
    src = (f"def build(m):\n    {unpack}= _astuple(m)\n"
           f"    return _record(_type, {', '.join(args)})\n") if names else (
        "def build(m):\n    return _record(_type)\n")
    exec(src, ns)
    build: BodyBuilder = ns["build"]
    return build


@dataclass(slots=True)
class Observation:
    """What one decoded message says about one drone, normalised across every format.

    The tracker consumes only observations, so it never needs to know a wire format.
    Identity: ``uas_id`` (Remote ID, any ID type), ``serial`` (DJI / French ID / RID serial
    number) and ``session_id``; ``source`` is the transmitter MAC (may be randomised).
    """

    time: float
    transport: Transport
    message_type: str
    sensor_id: str = "local"
    source: str | None = None
    rssi_dbm: float | None = None
    uas_id: str | None = None
    id_type: str | None = None
    serial: str | None = None
    session_id: str | None = None
    ua_type: str | None = None
    product: str | None = None
    operator_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    alt_geo: float | None = None
    alt_baro: float | None = None
    height: float | None = None  # above take-off or ground, metres
    speed: float | None = None  # horizontal, m/s
    direction: float | None = None  # track over ground, degrees from true north
    vspeed: float | None = None  # m/s, up positive
    operator_lat: float | None = None
    operator_lon: float | None = None
    operator_alt: float | None = None
    home_lat: float | None = None
    home_lon: float | None = None
    sender_time: float | None = None  # the drone's own timestamp, UTC epoch seconds, if sent


class SensorSite(typing.NamedTuple):
    """Where a sensor's antenna is: WGS84 degrees, metres above the ground."""

    lat: float
    lon: float
    alt_m: float = 2.0


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(slots=True, frozen=True)
class TrackPoint:
    time: float
    lat: float
    lon: float
    alt: float | None = None


@dataclass(slots=True)
class Track:
    """One drone, fused across transports and sensors, with its pilot and home point."""

    track_id: str
    first_seen: float
    last_seen: float
    uas_id: str | None = None
    serial: str | None = None
    operator_id: str | None = None
    ua_type: str | None = None
    product: str | None = None
    transports: set[str] = field(default_factory=set)
    sensors: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)  # transmitter MACs seen
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None  # best altitude: geodetic, else barometric
    height: float | None = None
    speed: float | None = None
    direction: float | None = None
    vspeed: float | None = None
    operator_lat: float | None = None
    operator_lon: float | None = None
    operator_alt: float | None = None
    home_lat: float | None = None
    home_lon: float | None = None
    takeoff_time: float | None = None
    max_alt: float | None = None
    rssi_by_sensor: dict[str, float] = field(default_factory=dict)
    positions: list[TrackPoint] = field(default_factory=list)
    state: str = "active"  # "active", "stale", "ended"


class AlertStatus(enum.StrEnum):
    OPEN = "open"  # a new episode
    UPDATE = "update"  # the episode escalated
    CLOSED = "closed"  # the episode ended


@dataclass(slots=True)
class Alert:
    """One alert episode event: a rule fired for a track (once per episode, with updates)."""

    alert_id: str
    rule: str
    severity: Severity
    status: AlertStatus
    track_id: str
    time: float
    message: str  # a short sentence for people
    uas_id: str | None = None
    serial: str | None = None
    zone: str | None = None
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    operator_lat: float | None = None
    operator_lon: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
