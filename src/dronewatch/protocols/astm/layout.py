"""The wire layout of every Remote ID message, declared once; it drives decode and encode.

Each layout row is ``Field(name, codec, *wire)``: the dataclass field ``name``, the
:mod:`.fields` codec that scales it, and the wire locations (:class:`At`) the codec reads.
Offsets are bytes from the start of the 25-byte message (byte 0 is the header: message type
in the high nibble, protocol version in the low one, added by :func:`_layout`); multi-byte
integers are little-endian; bit fields give their least significant bit and width. The table
engine (:mod:`dronewatch.protocols.tables`) compiles them into the decoders and encoders.

References: ASTM F3411-22a section 5.4.5 tables, ASD-STAN EN 4709-002, and the structures of
the opendroneid-core-c reference implementation.
"""

from __future__ import annotations

from dronewatch.model import Message
from dronewatch.protocols.astm import fields as f
from dronewatch.protocols.astm.constants import (
    AUTH_PAGE0_DATA_SIZE,
    AUTH_PAGE_DATA_SIZE,
    MESSAGE_SIZE,
    SUPPORTED_VERSIONS,
)
from dronewatch.protocols.astm.enums import (
    HORIZONTAL_ACCURACY_M,
    SPEED_ACCURACY_MPS,
    TIMESTAMP_ACCURACY_S,
    VERTICAL_ACCURACY_M,
    AuthType,
    CategoryEu,
    ClassEu,
    ClassificationType,
    DescType,
    HeightType,
    IdType,
    MessageType,
    OperatorIdType,
    OperatorLocationType,
    Status,
    UaType,
)
from dronewatch.protocols.astm.messages import (
    Authentication,
    BasicId,
    Location,
    OperatorId,
    SelfId,
    System,
)
from dronewatch.protocols.tables import At, Field, Layout, register_layout

__all__ = ["LAYOUTS", "At", "Field", "Layout", "message_type_of"]


def _layout(
    message_type: MessageType, cls: type[Message], fields: tuple[Field, ...], variant: str = ""
) -> Layout:
    """A 25-byte message layout: the header byte (message type in the high nibble, protocol
    version in the low one) and ``fields``."""
    return register_layout(Layout(
        f"astm.{cls.type}",
        (Field("protocol_version", _VERSION, At(0, lsb=0, width=4)), *fields),
        MESSAGE_SIZE,
        cls,
        constants=((At(0, lsb=4, width=4), int(message_type)),),
        version="protocol_version",
        variant=variant,
    ))


def message_type_of(layout: Layout) -> MessageType:
    """The message type of an ASTM layout (the constant of its header)."""
    return MessageType(layout.constants[0][1])


_VERSION = f.Version(SUPPORTED_VERSIONS)
_ALT = f.Altitude()

BASIC_ID = _layout(
    MessageType.BASIC_ID,
    BasicId,
    (
        Field("id_type", f.Enum(IdType, 4), At(1, lsb=4, width=4)),
        Field("ua_type", f.Enum(UaType, 4), At(1, lsb=0, width=4)),
        Field("uas_id", f.Text(20), At(2, "20s")),
        # bytes 22-24 reserved
    ),
)

LOCATION = _layout(
    MessageType.LOCATION,
    Location,
    (
        Field("status", f.Enum(Status, 4), At(1, lsb=4, width=4)),
        # byte 1 bit 3 reserved
        Field("height_type", f.Enum(HeightType, 1), At(1, lsb=2, width=1)),
        Field("direction", f.Direction(), At(2), At(1, lsb=1, width=1)),
        Field("speed", f.Speed(), At(3), At(1, lsb=0, width=1)),
        Field("vspeed", f.VerticalSpeed(), At(4)),
        Field("lat", f.Coordinate(90), At(5, "i"), At(9, "i")),
        Field("lon", f.Coordinate(180), At(9, "i"), At(5, "i")),
        Field("alt_baro", _ALT, At(13, "H")),
        Field("alt_geo", _ALT, At(15, "H")),
        Field("height", _ALT, At(17, "H")),
        Field("vert_accuracy", f.Accuracy(VERTICAL_ACCURACY_M, 4), At(19, lsb=4, width=4)),
        Field("horiz_accuracy", f.Accuracy(HORIZONTAL_ACCURACY_M, 4), At(19, lsb=0, width=4)),
        Field("baro_accuracy", f.Accuracy(VERTICAL_ACCURACY_M, 4), At(20, lsb=4, width=4)),
        Field("speed_accuracy", f.Accuracy(SPEED_ACCURACY_MPS, 4), At(20, lsb=0, width=4)),
        Field("timestamp", f.HourTimestamp(), At(21, "H")),
        Field("timestamp_accuracy", f.Accuracy(TIMESTAMP_ACCURACY_S, 4), At(23, lsb=0, width=4)),
        # byte 23 high nibble and byte 24 reserved
    ),
)

_AUTH_TYPE = Field("auth_type", f.Enum(AuthType, 4), At(1, lsb=4, width=4))
_AUTH_PAGE = Field("page_number", f.UInt(4), At(1, lsb=0, width=4))

AUTHENTICATION_PAGE0 = _layout(
    MessageType.AUTHENTICATION,
    Authentication,
    (
        _AUTH_TYPE,
        _AUTH_PAGE,
        Field("last_page_index", f.OptionalUInt(8), At(2)),
        Field("length", f.OptionalUInt(8), At(3)),
        Field("auth_timestamp", f.EpochTimestamp(), At(4, "I")),
        Field("auth_data", f.Data(AUTH_PAGE0_DATA_SIZE), At(8, f"{AUTH_PAGE0_DATA_SIZE}s")),
    ),
    "page0",
)

AUTHENTICATION_PAGE = _layout(
    MessageType.AUTHENTICATION,
    Authentication,
    (
        _AUTH_TYPE,
        _AUTH_PAGE,
        Field("auth_data", f.Data(AUTH_PAGE_DATA_SIZE), At(2, f"{AUTH_PAGE_DATA_SIZE}s")),
    ),
    "page",
)

SELF_ID = _layout(
    MessageType.SELF_ID,
    SelfId,
    (
        Field("desc_type", f.Enum(DescType, 8), At(1)),
        Field("description", f.Text(23), At(2, "23s")),
    ),
)

SYSTEM = _layout(
    MessageType.SYSTEM,
    System,
    (
        Field("operator_location_type", f.Enum(OperatorLocationType, 2), At(1, lsb=0, width=2)),
        Field("classification_type", f.Enum(ClassificationType, 3), At(1, lsb=2, width=3)),
        # byte 1 bits 5-7 reserved
        Field("operator_lat", f.Coordinate(90), At(2, "i"), At(6, "i")),
        Field("operator_lon", f.Coordinate(180), At(6, "i"), At(2, "i")),
        Field("area_count", f.UInt(16), At(10, "H")),
        Field("area_radius", f.Scaled(8, 10), At(12)),
        Field("area_ceiling", _ALT, At(13, "H")),
        Field("area_floor", _ALT, At(15, "H")),
        Field("category_eu", f.Enum(CategoryEu, 4), At(17, lsb=4, width=4)),
        Field("class_eu", f.Enum(ClassEu, 4), At(17, lsb=0, width=4)),
        Field("operator_alt", _ALT, At(18, "H")),
        Field("system_timestamp", f.EpochTimestamp(), At(20, "I"), since_version=2),
        # byte 24 reserved
    ),
)

OPERATOR_ID = _layout(
    MessageType.OPERATOR_ID,
    OperatorId,
    (
        Field("operator_id_type", f.Enum(OperatorIdType, 8), At(1)),
        Field("operator_id", f.Text(20), At(2, "20s")),
        # bytes 22-24 reserved
    ),
)

LAYOUTS: tuple[Layout, ...] = (
    BASIC_ID,
    LOCATION,
    AUTHENTICATION_PAGE0,
    AUTHENTICATION_PAGE,
    SELF_ID,
    SYSTEM,
    OPERATOR_ID,
)
