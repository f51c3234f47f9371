"""Hypothesis round trips of every Remote ID message type, enum, version and the pack.

* messages drawn on the wire grid: ``decode(encode(m)) == m`` exactly, and
  ``encode(decode(encode(m))) == encode(m)``;
* arbitrary in-range floats: the decoded value is within half a resolution step;
* packs of 1..9 messages round-trip in order.
"""

from __future__ import annotations

import enum
import math
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.model import Message
from dronewatch.protocols.astm import (
    ODID_EPOCH,
    Authentication,
    AuthType,
    BasicId,
    CategoryEu,
    ClassEu,
    ClassificationType,
    DescType,
    HeightType,
    IdType,
    Location,
    OperatorId,
    OperatorIdType,
    OperatorLocationType,
    SelfId,
    Status,
    System,
    UaType,
    decode,
    decode_message,
    encode,
    encode_pack,
)
from dronewatch.protocols.astm.enums import (
    HORIZONTAL_ACCURACY_M,
    SPEED_ACCURACY_MPS,
    TIMESTAMP_ACCURACY_S,
    VERTICAL_ACCURACY_M,
)

versions = st.integers(0, 2)


def enum_values(cls: type[enum.IntEnum], bits: int) -> st.SearchStrategy[Any]:
    """Named members and the reserved/private pseudo-members of a ``bits``-wide field."""
    return st.one_of(st.sampled_from(list(cls)), st.integers(0, (1 << bits) - 1).map(cls))


def grid(step: float, lo: int, hi: int, offset: float = 0.0) -> st.SearchStrategy[float]:
    return st.integers(lo, hi).map(lambda k: offset + k * step)


def optional(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), s)


def accuracy(table: dict[int, float]) -> st.SearchStrategy[float | None]:
    return optional(st.sampled_from(sorted(table.values())))


text_chars = string.ascii_letters + string.digits + string.punctuation + " "


def text(size: int) -> st.SearchStrategy[str | None]:
    return optional(
        st.text(text_chars, min_size=1, max_size=size).filter(lambda s: s == s.strip(" ") != "")
    )


altitude = optional(grid(0.5, 1, 0xFFFF, -1000.0))
speed = optional(st.one_of(grid(0.25, 0, 255), grid(0.75, 0, 254, 63.75)))
vspeed = optional(grid(0.5, -124, 124))
direction = optional(st.integers(0, 359).map(float))
timestamp = optional(st.integers(0, 36000).map(lambda k: k / 10))
epoch_time = optional(st.integers(1, 0xFFFFFFFF).map(lambda k: float(k + ODID_EPOCH)))


@st.composite
def position(draw: st.DrawFn) -> tuple[float | None, float | None]:
    if draw(st.booleans()):
        return None, None
    lat = draw(st.integers(-900_000_000, 900_000_000))
    lon = draw(st.integers(-1_800_000_000, 1_800_000_000))
    if lat == lon == 0:
        return None, None
    return lat / 1e7, lon / 1e7


basic_ids = st.builds(
    BasicId,
    protocol_version=versions,
    id_type=enum_values(IdType, 4),
    ua_type=enum_values(UaType, 4),
    uas_id=text(20),
)


@st.composite
def locations(draw: st.DrawFn) -> Location:
    lat, lon = draw(position())
    return Location(
        protocol_version=draw(versions),
        status=draw(enum_values(Status, 4)),
        direction=draw(direction),
        speed=draw(speed),
        vspeed=draw(vspeed),
        lat=lat,
        lon=lon,
        alt_baro=draw(altitude),
        alt_geo=draw(altitude),
        height_type=draw(st.sampled_from(list(HeightType))),
        height=draw(altitude),
        horiz_accuracy=draw(accuracy(HORIZONTAL_ACCURACY_M)),
        vert_accuracy=draw(accuracy(VERTICAL_ACCURACY_M)),
        baro_accuracy=draw(accuracy(VERTICAL_ACCURACY_M)),
        speed_accuracy=draw(accuracy(SPEED_ACCURACY_MPS)),
        timestamp=draw(timestamp),
        timestamp_accuracy=draw(accuracy(TIMESTAMP_ACCURACY_S)),
    )


@st.composite
def authentications(draw: st.DrawFn) -> Authentication:
    page = draw(st.integers(0, 15))
    common: dict[str, Any] = {
        "protocol_version": draw(versions),
        "auth_type": draw(enum_values(AuthType, 4)),
        "page_number": page,
    }
    if page == 0:
        return Authentication(
            **common,
            last_page_index=draw(st.integers(0, 15)),
            length=draw(st.integers(0, 255)),
            auth_timestamp=draw(epoch_time),
            auth_data=draw(st.binary(min_size=17, max_size=17)),
        )
    return Authentication(**common, auth_data=draw(st.binary(min_size=23, max_size=23)))


self_ids = st.builds(
    SelfId, protocol_version=versions, desc_type=enum_values(DescType, 8), description=text(23)
)


@st.composite
def systems(draw: st.DrawFn) -> System:
    version = draw(versions)
    lat, lon = draw(position())
    return System(
        protocol_version=version,
        operator_location_type=draw(enum_values(OperatorLocationType, 2)),
        classification_type=draw(enum_values(ClassificationType, 3)),
        operator_lat=lat,
        operator_lon=lon,
        area_count=draw(st.integers(0, 0xFFFF)),
        area_radius=draw(st.integers(0, 255).map(lambda k: k * 10)),
        area_ceiling=draw(altitude),
        area_floor=draw(altitude),
        category_eu=draw(enum_values(CategoryEu, 4)),
        class_eu=draw(enum_values(ClassEu, 4)),
        operator_alt=draw(altitude),
        system_timestamp=draw(epoch_time) if version >= 2 else None,
    )


operator_ids = st.builds(
    OperatorId,
    protocol_version=versions,
    operator_id_type=enum_values(OperatorIdType, 8),
    operator_id=text(20),
)

messages = st.one_of(basic_ids, locations(), authentications(), self_ids, systems(), operator_ids)


def _roundtrip(msg: Message) -> None:
    raw = encode(msg)
    assert len(raw) == 25
    assert (
        raw[0] >> 4
        == {
            "basic_id": 0,
            "location": 1,
            "authentication": 2,
            "self_id": 3,
            "system": 4,
            "operator_id": 5,
        }[msg.type]
    )
    assert raw[0] & 0x0F == msg.protocol_version  # type: ignore[attr-defined]
    back = decode_message(raw)
    assert back == msg
    assert type(back) is type(msg)
    assert encode(back) == raw
    assert decode(raw) == [msg]


@given(basic_ids)
def test_basic_id_roundtrip(msg: BasicId) -> None:
    _roundtrip(msg)


@given(locations())
def test_location_roundtrip(msg: Location) -> None:
    _roundtrip(msg)


@given(authentications())
def test_authentication_roundtrip(msg: Authentication) -> None:
    _roundtrip(msg)


@given(self_ids)
def test_self_id_roundtrip(msg: SelfId) -> None:
    _roundtrip(msg)


@given(systems())
def test_system_roundtrip(msg: System) -> None:
    _roundtrip(msg)


@given(operator_ids)
def test_operator_id_roundtrip(msg: OperatorId) -> None:
    _roundtrip(msg)


@given(st.lists(messages, min_size=1, max_size=9), versions)
def test_pack_roundtrip(msgs: list[Message], version: int) -> None:
    raw = encode_pack(msgs, version=version)
    assert len(raw) == 3 + 25 * len(msgs)
    assert raw[:3] == bytes((0xF0 | version, 25, len(msgs)))
    assert decode(raw) == msgs
    # already-encoded messages pack the same
    assert encode_pack([encode(m) for m in msgs], version=version) == raw


@settings(max_examples=300)
@given(
    lat=st.floats(-90, 90, allow_nan=False, allow_infinity=False).filter(lambda v: abs(v) > 1e-6),
    lon=st.floats(-180, 180, allow_nan=False, allow_infinity=False),
    alt=st.floats(-999.5, 31767.5, allow_nan=False, allow_infinity=False),
    spd=st.floats(0, 254.25, allow_nan=False, allow_infinity=False),
    vspd=st.floats(-62, 62, allow_nan=False, allow_infinity=False),
    dirn=st.floats(0, 359.49, allow_nan=False, allow_infinity=False),
    ts=st.floats(0, 3600, allow_nan=False, allow_infinity=False),
    hacc=st.floats(0, 18520, allow_nan=False, allow_infinity=False),
)
def test_location_within_resolution(
    lat: float,
    lon: float,
    alt: float,
    spd: float,
    vspd: float,
    dirn: float,
    ts: float,
    hacc: float,
) -> None:
    msg = Location(
        lat=lat,
        lon=lon,
        alt_geo=alt,
        alt_baro=alt,
        height=alt,
        speed=spd,
        vspeed=vspd,
        direction=dirn,
        timestamp=ts,
        horiz_accuracy=hacc,
    )
    (back,) = decode(encode(msg))
    assert isinstance(back, Location)
    assert back.lat is not None and abs(back.lat - lat) <= 0.5e-7 + 1e-12
    assert back.lon is not None and abs(back.lon - lon) <= 0.5e-7 + 1e-12
    for value in (back.alt_geo, back.alt_baro, back.height):
        assert value is not None and abs(value - alt) <= 0.25
    assert back.speed is not None
    assert abs(back.speed - spd) <= (0.125 if spd <= 63.75 else 0.375) + 1e-9
    assert back.vspeed is not None and abs(back.vspeed - vspd) <= 0.25
    assert back.direction is not None and abs(back.direction - dirn) <= 0.5
    assert back.timestamp is not None and abs(back.timestamp - ts) <= 0.05 + 1e-9
    # accuracy: the tightest category that still contains the value
    assert back.horiz_accuracy is not None and back.horiz_accuracy >= hacc
    tighter = [b for b in HORIZONTAL_ACCURACY_M.values() if b < back.horiz_accuracy]
    assert all(b < hacc for b in tighter)


@settings(max_examples=200)
@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_out_of_range_values_clamp_never_raise(a: float, b: float) -> None:
    msg = Location(
        lat=a,
        lon=b,
        alt_geo=a,
        alt_baro=b,
        height=a,
        speed=b,
        vspeed=a,
        direction=b,
        timestamp=a,
        horiz_accuracy=b,
        vert_accuracy=a,
        speed_accuracy=b,
        timestamp_accuracy=a,
    )
    (back,) = decode(encode(msg))
    assert isinstance(back, Location)
    for value in (back.lat, back.lon, back.alt_geo, back.speed, back.vspeed, back.direction):
        assert value is None or math.isfinite(value)
    system = System(
        operator_lat=a, operator_lon=b, area_radius=5000, area_ceiling=a, system_timestamp=b
    )
    assert len(encode(system)) == 25
