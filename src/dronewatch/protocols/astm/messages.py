"""The decoded Remote ID messages (ASTM F3411-19/-22a, ASD-STAN EN 4709-002).

Field names are the JSON keys. Units follow :mod:`dronewatch.model`: SI, WGS84 degrees, UTC
epoch seconds; a value the sender marks unknown or invalid is ``None``, never the wire
sentinel. Accuracies are given as SI bounds of the 95 % error (the upper edge of the wire
category): ``horiz_accuracy``/``vert_accuracy``/``baro_accuracy`` in metres,
``speed_accuracy`` in m/s, ``timestamp_accuracy`` in seconds; ``None`` when the category is
unknown or reserved. Encoding maps a bound to the tightest category that still contains it.

Every field has a default so a sender (the simulator) can give only what it knows; the
defaults encode as the wire's "unknown" values. ``protocol_version`` defaults to 2 (F3411-22a).
"""

from __future__ import annotations

from typing import ClassVar

from dronewatch.model import Message
from dronewatch.protocols.astm.enums import (
    AuthType,
    CategoryEu,
    ClassEu,
    ClassificationType,
    DescType,
    HeightType,
    IdType,
    OperatorIdType,
    OperatorLocationType,
    Status,
    UaType,
)

__all__ = [
    "Authentication",
    "BasicId",
    "Location",
    "OperatorId",
    "RemoteIdMessage",
    "SelfId",
    "System",
]


class BasicId(Message, frozen=True):
    """Message type 0x0: the aircraft's identity (a drone may send up to two)."""

    type: ClassVar[str] = "basic_id"

    protocol_version: int = 2
    id_type: IdType = IdType.NONE
    ua_type: UaType = UaType.NONE
    uas_id: str | None = None  # up to 20 ASCII characters


class Location(Message, frozen=True):
    """Message type 0x1: position, altitudes, velocity and their accuracies."""

    type: ClassVar[str] = "location"

    protocol_version: int = 2
    status: Status = Status.UNDECLARED
    direction: float | None = None  # track over ground, degrees from true north, 1 deg steps
    speed: float | None = None  # horizontal, m/s (0.25 m/s steps, 0.75 above 63.75)
    vspeed: float | None = None  # m/s, up positive, 0.5 m/s steps, +-62
    lat: float | None = None  # WGS84 degrees, 1e-7 steps
    lon: float | None = None
    alt_baro: float | None = None  # pressure altitude (29.92 inHg), m, 0.5 m steps
    alt_geo: float | None = None  # WGS84 height above ellipsoid, m
    height_type: HeightType = HeightType.ABOVE_TAKEOFF
    height: float | None = None  # m above take-off or ground (height_type)
    horiz_accuracy: float | None = None  # m
    vert_accuracy: float | None = None  # m
    baro_accuracy: float | None = None  # m
    speed_accuracy: float | None = None  # m/s
    timestamp: float | None = None  # seconds after the full UTC hour, 0.1 s steps
    timestamp_accuracy: float | None = None  # s


class Authentication(Message, frozen=True):
    """Message type 0x2: one page of authentication data.

    Page 0 carries ``last_page_index``, ``length`` (bytes of authentication data over all
    pages) and ``auth_timestamp`` and 17 data bytes; pages 1..15 carry 23 data bytes and have
    those three fields ``None``. ``auth_data`` is the page's data bytes as sent (NUL padding
    included: it can be real data; ``length`` says how much is meaningful).
    """

    type: ClassVar[str] = "authentication"

    protocol_version: int = 2
    auth_type: AuthType = AuthType.NONE
    page_number: int = 0
    last_page_index: int | None = None
    length: int | None = None
    auth_timestamp: float | None = None  # UTC epoch seconds
    auth_data: bytes = b""


class SelfId(Message, frozen=True):
    """Message type 0x3: a free-text description of the flight's purpose or status."""

    type: ClassVar[str] = "self_id"

    protocol_version: int = 2
    desc_type: DescType = DescType.TEXT
    description: str | None = None  # up to 23 ASCII characters


class System(Message, frozen=True):
    """Message type 0x4: operator position, group/area, EU classification, system time.

    ``operator_alt`` is sent from protocol version 1 (EN 4709-002, F3411-22a) and
    ``system_timestamp`` from version 2 (F3411-22a); a version-0/1 message decodes the
    latter as ``None`` (those bytes are reserved there).
    """

    type: ClassVar[str] = "system"

    protocol_version: int = 2
    operator_location_type: OperatorLocationType = OperatorLocationType.TAKEOFF
    classification_type: ClassificationType = ClassificationType.UNDECLARED
    operator_lat: float | None = None
    operator_lon: float | None = None
    area_count: int = 1  # aircraft in the group/area
    area_radius: int = 0  # m, 10 m steps
    area_ceiling: float | None = None  # m (WGS84 HAE)
    area_floor: float | None = None  # m
    category_eu: CategoryEu = CategoryEu.UNDECLARED
    class_eu: ClassEu = ClassEu.UNDECLARED
    operator_alt: float | None = None  # m (WGS84 HAE)
    system_timestamp: float | None = None  # UTC epoch seconds (whole seconds)


class OperatorId(Message, frozen=True):
    """Message type 0x5: the operator's registration ID."""

    type: ClassVar[str] = "operator_id"

    protocol_version: int = 2
    operator_id_type: OperatorIdType = OperatorIdType.OPERATOR_ID
    operator_id: str | None = None  # up to 20 ASCII characters


RemoteIdMessage = BasicId | Location | Authentication | SelfId | System | OperatorId
