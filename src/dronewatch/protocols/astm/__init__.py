"""ASTM F3411-19/-22a and ASD-STAN EN 4709-002 Remote ID messages: decode and encode.

The same 25-byte messages travel over Wi-Fi beacons, Wi-Fi NAN, BLE legacy and BLE long
range advertising; the framing modules strip the transport (and the message counter byte)
and call :func:`decode` with one message or a message pack.

>>> from dronewatch.protocols.astm import BasicId, IdType, UaType, decode, encode
>>> msg = BasicId(id_type=IdType.SERIAL_NUMBER, ua_type=UaType.HELICOPTER_OR_MULTIROTOR,
...               uas_id="MFG1A0123456789")
>>> decode(encode(msg)) == [msg]
True

Layouts are declared once in :mod:`.layout` and compiled at import by :mod:`.codec`.
"""

from __future__ import annotations

from dronewatch.model import Transport
from dronewatch.protocols import register
from dronewatch.protocols.astm import codec as _codec
from dronewatch.protocols.astm.codec import (
    decode_message,
    decode_with_errors,
    encode,
    encode_pack,
)
from dronewatch.protocols.astm.constants import (
    BLE_SERVICE_UUID,
    DEFAULT_VERSION,
    MAX_PACK_MESSAGES,
    MESSAGE_SIZE,
    ODID_APP_CODE,
    ODID_EPOCH,
    SUPPORTED_VERSIONS,
    WIFI_BEACON_OUI,
    WIFI_BEACON_OUI_TYPE,
    WIFI_NAN_SERVICE_ID,
)
from dronewatch.protocols.astm.enums import (
    AuthType,
    CategoryEu,
    ClassEu,
    ClassificationType,
    DescType,
    HeightType,
    HorizontalAccuracy,
    IdType,
    MessageType,
    OperatorIdType,
    OperatorLocationType,
    SpeedAccuracy,
    Status,
    TimestampAccuracy,
    UaType,
    VerticalAccuracy,
)
from dronewatch.protocols.astm.helpers import auth_payload, location_time
from dronewatch.protocols.astm.messages import (
    Authentication,
    BasicId,
    Location,
    OperatorId,
    RemoteIdMessage,
    SelfId,
    System,
)

__all__ = [
    "BLE_SERVICE_UUID",
    "DEFAULT_VERSION",
    "MAX_PACK_MESSAGES",
    "MESSAGE_SIZE",
    "ODID_APP_CODE",
    "ODID_EPOCH",
    "SUPPORTED_VERSIONS",
    "WIFI_BEACON_OUI",
    "WIFI_BEACON_OUI_TYPE",
    "WIFI_NAN_SERVICE_ID",
    "AuthType",
    "Authentication",
    "BasicId",
    "CategoryEu",
    "ClassEu",
    "ClassificationType",
    "DescType",
    "HeightType",
    "HorizontalAccuracy",
    "IdType",
    "Location",
    "MessageType",
    "OperatorId",
    "OperatorIdType",
    "OperatorLocationType",
    "RemoteIdMessage",
    "SelfId",
    "SpeedAccuracy",
    "Status",
    "System",
    "TimestampAccuracy",
    "UaType",
    "VerticalAccuracy",
    "auth_payload",
    "decode",
    "decode_message",
    "decode_with_errors",
    "encode",
    "encode_pack",
    "location_time",
]


#: Decode one Remote ID payload (counter byte already stripped): a message or a pack.
#: Registered as the payload decoder of every Remote ID transport.
decode = register(
    Transport.WIFI_BEACON, Transport.WIFI_NAN, Transport.BLE_LEGACY, Transport.BLE_LONG_RANGE
)(_codec.decode)
