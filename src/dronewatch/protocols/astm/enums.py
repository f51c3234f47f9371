"""Enumerations of ASTM F3411-19/-22a and ASD-STAN EN 4709-002 Remote ID messages.

Every enum covers the whole range of its wire field: values the standard reserves (or leaves
to private use) are pseudo-members named ``RESERVED_<n>`` / ``PRIVATE_<n>``, so a decoder
never fails on a reserved value and a re-encoded message keeps it. Iterating an enum
yields only the named (standard) members.

JSON renders these enums by lower-case name (``IdType.SERIAL_NUMBER`` -> ``"serial_number"``).
"""

from __future__ import annotations

import enum

__all__ = [
    "AuthType",
    "CategoryEu",
    "ClassEu",
    "ClassificationType",
    "DescType",
    "HeightType",
    "HorizontalAccuracy",
    "IdType",
    "MessageType",
    "OperatorIdType",
    "OperatorLocationType",
    "SpeedAccuracy",
    "Status",
    "TimestampAccuracy",
    "UaType",
    "VerticalAccuracy",
]


class MessageType(enum.IntEnum):
    """The high nibble of a message's first byte."""

    BASIC_ID = 0x0
    LOCATION = 0x1
    AUTHENTICATION = 0x2
    SELF_ID = 0x3
    SYSTEM = 0x4
    OPERATOR_ID = 0x5
    MESSAGE_PACK = 0xF


class IdType(enum.IntEnum):
    """Basic ID: what kind of identifier ``uas_id`` is (4 bits)."""

    NONE = 0
    SERIAL_NUMBER = 1  # ANSI/CTA-2063-A serial number
    CAA_REGISTRATION_ID = 2  # civil aviation authority registration
    UTM_ASSIGNED_UUID = 3  # UTM (traffic management) assigned session UUID
    SPECIFIC_SESSION_ID = 4  # -22a: first byte of the ID says which session-ID scheme


class UaType(enum.IntEnum):
    """Basic ID: the kind of aircraft (4 bits)."""

    NONE = 0
    AEROPLANE = 1
    HELICOPTER_OR_MULTIROTOR = 2
    GYROPLANE = 3
    HYBRID_LIFT = 4  # VTOL fixed wing
    ORNITHOPTER = 5
    GLIDER = 6
    KITE = 7
    FREE_BALLOON = 8
    CAPTIVE_BALLOON = 9
    AIRSHIP = 10
    FREE_FALL_PARACHUTE = 11
    ROCKET = 12
    TETHERED_POWERED_AIRCRAFT = 13
    GROUND_OBSTACLE = 14
    OTHER = 15


class Status(enum.IntEnum):
    """Location: operational status (4 bits)."""

    UNDECLARED = 0
    GROUND = 1
    AIRBORNE = 2
    EMERGENCY = 3
    REMOTE_ID_SYSTEM_FAILURE = 4  # -22a (protocol version 2)


class HeightType(enum.IntEnum):
    """Location: the reference of ``height`` (1 bit)."""

    ABOVE_TAKEOFF = 0
    ABOVE_GROUND = 1


class HorizontalAccuracy(enum.IntEnum):
    """Location: horizontal position accuracy category (95 % bound), 4 bits."""

    UNKNOWN = 0
    NM_10 = 1  # < 18.52 km
    NM_4 = 2  # < 7.408 km
    NM_2 = 3  # < 3.704 km
    NM_1 = 4  # < 1.852 km
    NM_0_5 = 5  # < 926 m
    NM_0_3 = 6  # < 555.6 m
    NM_0_1 = 7  # < 185.2 m
    NM_0_05 = 8  # < 92.6 m
    METERS_30 = 9
    METERS_10 = 10
    METERS_3 = 11
    METERS_1 = 12


class VerticalAccuracy(enum.IntEnum):
    """Location: geodetic or barometric altitude accuracy category (95 % bound), 4 bits."""

    UNKNOWN = 0
    METERS_150 = 1
    METERS_45 = 2
    METERS_25 = 3
    METERS_10 = 4
    METERS_3 = 5
    METERS_1 = 6


class SpeedAccuracy(enum.IntEnum):
    """Location: horizontal speed accuracy category (95 % bound), 4 bits."""

    UNKNOWN = 0
    MPS_10 = 1
    MPS_3 = 2
    MPS_1 = 3
    MPS_0_3 = 4


class TimestampAccuracy(enum.IntEnum):
    """Location: timestamp accuracy, 0.1 s steps (4 bits, 0 = unknown)."""

    UNKNOWN = 0
    S_0_1 = 1
    S_0_2 = 2
    S_0_3 = 3
    S_0_4 = 4
    S_0_5 = 5
    S_0_6 = 6
    S_0_7 = 7
    S_0_8 = 8
    S_0_9 = 9
    S_1_0 = 10
    S_1_1 = 11
    S_1_2 = 12
    S_1_3 = 13
    S_1_4 = 14
    S_1_5 = 15


class AuthType(enum.IntEnum):
    """Authentication: the authentication scheme (4 bits; 0xA-0xF private use)."""

    NONE = 0
    UAS_ID_SIGNATURE = 1
    OPERATOR_ID_SIGNATURE = 2
    MESSAGE_SET_SIGNATURE = 3
    NETWORK_REMOTE_ID = 4  # authentication provided by Network Remote ID
    SPECIFIC_AUTHENTICATION = 5  # first data byte says which scheme


class DescType(enum.IntEnum):
    """Self-ID: what the description text is (8 bits; 201-255 private use)."""

    TEXT = 0
    EMERGENCY = 1  # -22a: clarifies an EMERGENCY status
    EXTENDED_STATUS = 2  # -22a: clarifies any other status


class OperatorIdType(enum.IntEnum):
    """Operator ID: the kind of operator identifier (8 bits; 201-255 private use)."""

    OPERATOR_ID = 0  # CAA-issued operator registration ID


class OperatorLocationType(enum.IntEnum):
    """System: where the operator position comes from (2 bits)."""

    TAKEOFF = 0
    LIVE_GNSS = 1
    FIXED = 2


class ClassificationType(enum.IntEnum):
    """System: which classification scheme ``category_eu``/``class_eu`` follow (3 bits)."""

    UNDECLARED = 0
    EUROPEAN_UNION = 1


class CategoryEu(enum.IntEnum):
    """System: EU operation category (4 bits), meaningful when classification is EU."""

    UNDECLARED = 0
    OPEN = 1
    SPECIFIC = 2
    CERTIFIED = 3


class ClassEu(enum.IntEnum):
    """System: EU aircraft class C0-C6 (4 bits), meaningful when classification is EU."""

    UNDECLARED = 0
    CLASS_0 = 1
    CLASS_1 = 2
    CLASS_2 = 3
    CLASS_3 = 4
    CLASS_4 = 5
    CLASS_5 = 6
    CLASS_6 = 7


def _complete(cls: type[enum.IntEnum], bits: int, private_from: int | None = None) -> None:
    """Add pseudo-members for every unnamed value of a ``bits``-wide field.

    Values at or above ``private_from`` are named ``PRIVATE_<n>``, others ``RESERVED_<n>``.
    Lookups (``cls(n)``) return them; iteration does not (``_member_names_`` is untouched).
    """
    table = cls._value2member_map_
    for value in range(1 << bits):
        if value in table:
            continue
        private = private_from is not None and value >= private_from
        member = int.__new__(cls, value)
        member._name_ = f"{'PRIVATE' if private else 'RESERVED'}_{value}"
        member._value_ = value
        table[value] = member


_complete(IdType, 4)
_complete(Status, 4)
_complete(HorizontalAccuracy, 4)
_complete(VerticalAccuracy, 4)
_complete(SpeedAccuracy, 4)
_complete(AuthType, 4, private_from=0xA)
_complete(DescType, 8, private_from=201)
_complete(OperatorIdType, 8, private_from=201)
_complete(OperatorLocationType, 2)
_complete(ClassificationType, 3)
_complete(CategoryEu, 4)
_complete(ClassEu, 4)


# Accuracy categories as SI bounds (the upper bound of the 95 % error), by wire code; a code
# without a bound (unknown, reserved) is absent.
HORIZONTAL_ACCURACY_M: dict[int, float] = {
    1: 18520.0,
    2: 7408.0,
    3: 3704.0,
    4: 1852.0,
    5: 926.0,
    6: 555.6,
    7: 185.2,
    8: 92.6,
    9: 30.0,
    10: 10.0,
    11: 3.0,
    12: 1.0,
}
VERTICAL_ACCURACY_M: dict[int, float] = {1: 150.0, 2: 45.0, 3: 25.0, 4: 10.0, 5: 3.0, 6: 1.0}
SPEED_ACCURACY_MPS: dict[int, float] = {1: 10.0, 2: 3.0, 3: 1.0, 4: 0.3}
TIMESTAMP_ACCURACY_S: dict[int, float] = {n: n / 10 for n in range(1, 16)}
