"""Scale factors, sentinels, enums, and the compiled code against the field codecs."""

from __future__ import annotations

import enum
import random
import struct

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.model import Message, to_jsonable
from dronewatch.protocols.astm import (
    ODID_EPOCH,
    BasicId,
    DescType,
    IdType,
    Location,
    OperatorId,
    SelfId,
    Status,
    System,
    UaType,
    decode,
    encode,
)
from dronewatch.protocols.astm import enums as astm_enums
from dronewatch.protocols.astm import fields as f
from dronewatch.protocols.astm.layout import LAYOUTS, Layout, message_type_of
from dronewatch.protocols.tables import compile_decoder, compile_encoder


def _location(**raw: int) -> bytes:
    """A Location message from raw wire values (defaults: every field 'unknown')."""
    v = {
        "flags": 0b0000_0011,
        "dir": 181,
        "spd": 255,
        "vspd": 126,
        "lat": 0,
        "lon": 0,
        "baro": 0,
        "geo": 0,
        "height": 0,
        "acc1": 0,
        "acc2": 0,
        "ts": 0xFFFF,
        "acc3": 0,
    }
    v.update(raw)
    return struct.pack(
        "<BBBBBiiHHHBBHBx",
        0x12,
        v["flags"],
        v["dir"],
        v["spd"],
        v["vspd"],
        v["lat"],
        v["lon"],
        v["baro"],
        v["geo"],
        v["height"],
        v["acc1"],
        v["acc2"],
        v["ts"],
        v["acc3"],
    )


def _loc(raw: bytes) -> Location:
    (msg,) = decode(raw)
    assert isinstance(msg, Location)
    return msg


def test_all_sentinels_decode_to_none_and_encode_back() -> None:
    raw = _location()
    msg = _loc(raw)
    for name in (
        "direction",
        "speed",
        "vspeed",
        "lat",
        "lon",
        "alt_baro",
        "alt_geo",
        "height",
        "horiz_accuracy",
        "vert_accuracy",
        "baro_accuracy",
        "speed_accuracy",
        "timestamp",
        "timestamp_accuracy",
    ):
        assert getattr(msg, name) is None, name
    assert msg == Location()  # the defaults are "unknown"
    assert encode(Location()) == raw


@pytest.mark.parametrize(
    ("spd", "flags", "expected"),
    [
        (0, 0, 0.0),
        (1, 0, 0.25),
        (255, 0, 63.75),
        (0, 1, 63.75),
        (1, 1, 64.5),
        (254, 1, 254.25),
        (255, 1, None),
    ],
)
def test_speed_scaling(spd: int, flags: int, expected: float | None) -> None:
    assert _loc(_location(spd=spd, flags=flags)).speed == expected


@pytest.mark.parametrize(
    ("dirn", "flags", "expected"),
    [
        (0, 0, 0.0),
        (179, 0, 179.0),
        (0, 2, 180.0),
        (179, 2, 359.0),
        (180, 2, 0.0),
        (181, 2, None),
        (200, 2, None),
    ],
)
def test_direction_ew_bit(dirn: int, flags: int, expected: float | None) -> None:
    assert _loc(_location(dir=dirn, flags=flags)).direction == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0, 0.0), (1, 0.5), (124, 62.0), (0xFF, -0.5), (0x84, -62.0), (126, None), (0x80, None)],
)
def test_vertical_speed(raw: int, expected: float | None) -> None:
    assert _loc(_location(vspd=raw)).vspeed == expected


def test_altitude_and_coordinates() -> None:
    msg = _loc(_location(baro=1, geo=2474, height=65535, lat=-337_000_000, lon=1))
    assert (msg.alt_baro, msg.alt_geo, msg.height) == (-999.5, 237.0, 31767.5)
    assert (msg.lat, msg.lon) == (-33.7, 1e-7)
    # a single zero coordinate is the equator / prime meridian, not "unknown"
    assert _loc(_location(lat=0, lon=5)).lat == 0.0
    # out of range: invalid
    assert _loc(_location(lat=900_000_001, lon=5)).lat is None
    assert _loc(_location(lon=-1_800_000_001, lat=5)).lon is None


def test_timestamp_tenths_after_hour() -> None:
    assert _loc(_location(ts=0)).timestamp == 0.0
    assert _loc(_location(ts=35999)).timestamp == 3599.9
    assert _loc(_location(ts=36000)).timestamp == 3600.0
    assert _loc(_location(ts=36001)).timestamp is None
    assert _loc(_location(ts=0xFFFF)).timestamp is None


def test_accuracies_in_si_units() -> None:
    msg = _loc(_location(acc1=0x4C, acc2=0x62, acc3=0xF3))
    assert msg.horiz_accuracy == 1.0  # 12
    assert msg.vert_accuracy == 10.0  # 4
    assert msg.baro_accuracy == 1.0  # 6
    assert msg.speed_accuracy == 3.0  # 2
    assert msg.timestamp_accuracy == pytest.approx(0.3)  # 3, high nibble reserved
    assert _loc(_location(acc1=0x7D)).horiz_accuracy is None  # 13 reserved
    assert _loc(_location(acc1=0x7D)).vert_accuracy is None  # 7 reserved
    # encoding picks the tightest category containing the value
    assert encode(Location(horiz_accuracy=12.0))[19] & 0x0F == 9  # 30 m
    assert encode(Location(horiz_accuracy=10.0))[19] & 0x0F == 10
    assert encode(Location(horiz_accuracy=0.2))[19] & 0x0F == 12
    assert encode(Location(horiz_accuracy=20000.0))[19] & 0x0F == 0  # worse than 10 NM


def test_system_timestamp_epoch_and_version() -> None:
    v2 = encode(System(system_timestamp=ODID_EPOCH + 100.0))
    assert struct.unpack_from("<I", v2, 20)[0] == 100
    (msg,) = decode(v2)
    assert isinstance(msg, System) and msg.system_timestamp == ODID_EPOCH + 100.0
    # version 1: the same bytes are reserved and ignored
    v1 = bytes([0x41]) + v2[1:]
    (msg1,) = decode(v1)
    assert isinstance(msg1, System) and msg1.system_timestamp is None
    assert encode(System(protocol_version=1, system_timestamp=1e9))[20:24] == bytes(4)


def test_area_radius_steps() -> None:
    raw = encode(System(area_radius=2550, area_count=7))
    assert raw[12] == 255 and struct.unpack_from("<H", raw, 10)[0] == 7
    assert encode(System(area_radius=99999))[12] == 255
    (msg,) = decode(raw)
    assert isinstance(msg, System) and msg.area_radius == 2550


def test_text_fields() -> None:
    assert f.decode_text(b"ABC\0\0\0") == "ABC"
    assert f.decode_text(b"  ABC  \0") == "ABC"
    assert f.decode_text(b"AB\0CD") == "AB"  # C string: what follows the NUL is padding
    assert f.decode_text(b"\0" * 20) is None
    assert f.decode_text(b"A\x01B\xff") == "A\ufffdB\ufffd"
    assert f.decode_text(b"GBR-OP-123ABCD") == "GBR-OP-123ABCD"
    with pytest.raises(ValueError, match="ASCII"):
        encode(BasicId(uas_id="caf\u00e9"))
    with pytest.raises(ValueError, match="longer"):
        encode(BasicId(uas_id="X" * 21))
    assert encode(SelfId(description="x" * 23))[2:] == b"x" * 23


def test_encode_rejects_out_of_range_enums_and_versions() -> None:
    with pytest.raises(ValueError):
        encode(BasicId(id_type=16))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="version"):
        encode(BasicId(protocol_version=3))
    with pytest.raises(TypeError):
        encode(Message())


def test_enums_cover_every_wire_value() -> None:
    for cls, bits in (
        (astm_enums.IdType, 4),
        (astm_enums.Status, 4),
        (astm_enums.AuthType, 4),
        (astm_enums.DescType, 8),
        (astm_enums.OperatorIdType, 8),
        (astm_enums.ClassificationType, 3),
        (astm_enums.OperatorLocationType, 2),
        (astm_enums.CategoryEu, 4),
        (astm_enums.ClassEu, 4),
        (astm_enums.UaType, 4),
    ):
        for value in range(1 << bits):
            member = cls(value)
            assert isinstance(member, cls) and int(member) == value
    assert astm_enums.AuthType(0xA).name == "PRIVATE_10"
    assert astm_enums.AuthType(7).name == "RESERVED_7"
    assert DescType(250).name == "PRIVATE_250"
    assert Status(4) is Status.REMOTE_ID_SYSTEM_FAILURE
    assert len(list(IdType)) == 5  # iteration: the standard's members only


def test_enum_json_names() -> None:
    assert to_jsonable(IdType.SERIAL_NUMBER) == "serial_number"
    assert to_jsonable(UaType.HELICOPTER_OR_MULTIROTOR) == "helicopter_or_multirotor"
    assert to_jsonable(IdType(9)) == "reserved_9"


def test_messages_are_frozen_slotted_and_equal_to_init_built() -> None:
    (msg,) = decode(encode(OperatorId(operator_id="FIN87astrdge12k8")))
    assert type(msg) is OperatorId
    assert msg == OperatorId(operator_id="FIN87astrdge12k8")
    assert hash(msg) == hash(OperatorId(operator_id="FIN87astrdge12k8"))
    with pytest.raises(AttributeError):
        msg.operator_id = "x"  # type: ignore[misc]
    assert not hasattr(msg, "__dict__")
    assert msgspec.structs.replace(msg, operator_id="y").operator_id == "y"
    assert msg.fields()["operator_id_type"] == "operator_id"


def test_decoded_message_types_and_json_keys() -> None:
    expected = {
        "basic_id": {"protocol_version", "id_type", "ua_type", "uas_id"},
        "location": {
            "protocol_version",
            "status",
            "direction",
            "speed",
            "vspeed",
            "lat",
            "lon",
            "alt_baro",
            "alt_geo",
            "height_type",
            "height",
            "horiz_accuracy",
            "vert_accuracy",
            "baro_accuracy",
            "speed_accuracy",
            "timestamp",
            "timestamp_accuracy",
        },
        "authentication": {
            "protocol_version",
            "auth_type",
            "page_number",
            "last_page_index",
            "length",
            "auth_timestamp",
            "auth_data",
        },
        "self_id": {"protocol_version", "desc_type", "description"},
        "system": {
            "protocol_version",
            "operator_location_type",
            "classification_type",
            "operator_lat",
            "operator_lon",
            "area_count",
            "area_radius",
            "area_ceiling",
            "area_floor",
            "category_eu",
            "class_eu",
            "operator_alt",
            "system_timestamp",
        },
        "operator_id": {"protocol_version", "operator_id_type", "operator_id"},
    }
    for layout in LAYOUTS:
        assert set(layout.cls().fields()) == expected[layout.cls.type]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: f"{lay.cls.__name__}{lay.variant}")
def test_compiled_decoder_matches_codec_reference(layout: object) -> None:
    """The generated code computes what the codecs' plain ``decode`` methods compute."""
    from dronewatch.protocols.astm.layout import Layout

    assert isinstance(layout, Layout)
    decoder = compile_decoder(layout)
    rng = random.Random(1234)
    for _ in range(300):
        body = bytearray(rng.randbytes(25))
        body[0] = int(message_type_of(layout)) << 4 | rng.randrange(3)
        if layout.variant == "page0":
            body[1] &= 0xF0
        elif layout.variant == "page":
            body[1] |= 0x01
        # sprinkle sentinels
        if rng.random() < 0.3:
            body[2:20] = bytes(18)
        data = bytes(body)
        got = decoder(data)
        for field in layout.fields:
            raws = []
            for at in field.wire:
                (item,) = struct.unpack_from("<" + at.fmt, data, at.offset)
                if at.width:
                    item = item >> at.lsb & ((1 << at.width) - 1)
                raws.append(item)
            want = field.codec.decode(*raws)
            if field.since_version and data[0] & 0x0F < field.since_version:
                continue
            assert getattr(got, field.name) == want, field.name
            if isinstance(want, enum.Enum):
                assert type(getattr(got, field.name)) is type(want)
        assert got.protocol_version == data[0] & 0x0F  # type: ignore[attr-defined]


def test_basic_id_example() -> None:
    msg = BasicId(id_type=IdType.CAA_REGISTRATION_ID, ua_type=UaType.AEROPLANE, uas_id="N123")
    raw = encode(msg)
    assert raw == bytes([0x02, 0x21]) + b"N123" + bytes(19)
    assert decode(raw) == [msg]
    assert int(Status.AIRBORNE) == 2


def test_caches_share_immutable_results_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from dronewatch.protocols.astm import codec

    monkeypatch.setattr(codec, "_CACHE_MAX", 4)
    raw_static = encode(OperatorId(operator_id="OP-1"))
    assert decode(raw_static)[0] is decode(raw_static)[0]
    raws = [encode(Location(lat=1.0, lon=float(i + 1))) for i in range(10)]
    first = [decode(r)[0] for r in raws]
    assert decode(raws[-1])[0] is first[-1]  # a repeated fix is a cache hit
    assert len(codec._cache) <= 4
    for i in range(10):
        decode(encode(BasicId(uas_id=f"ID{i}")))
    assert len(codec._cache) <= 4
    assert [decode(r)[0] for r in raws] == first  # evicted entries decode equal again


_wild_number = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2000, 40000),
    st.integers(-(2**33), 2**33),
    st.sampled_from([0.0, -0.0, 0.1, 1.0, 3.0, 10.0, 30.0, 92.6, 150.0, 0.3, 1.5, 360.0]),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(LAYOUTS), st.data())
def test_inline_encoder_matches_reference_encoder(layout: Layout, data: st.DataObject) -> None:
    """The compiled fast paths give exactly what the codecs' ``encode`` methods give."""
    values: dict[str, object] = {"protocol_version": data.draw(st.integers(0, 2))}
    for field in layout.fields:
        codec = field.codec
        if field.name == "protocol_version":
            continue
        if isinstance(codec, f.Enum | f.UInt):
            values[field.name] = data.draw(st.integers(-1, 300))
        elif isinstance(codec, f.Text | f.Data):
            continue
        elif field.name == "area_radius":
            values[field.name] = data.draw(st.integers(0, 5000))
        else:
            values[field.name] = data.draw(_wild_number)
    if layout.variant == "page":
        values["page_number"] = data.draw(st.integers(1, 15))
    msg = layout.cls(**values)
    outcomes: list[object] = []
    for inline in (True, False):
        encoder = compile_encoder(layout, inline=inline)
        try:
            outcomes.append(encoder(msg))
        except (ValueError, TypeError, OverflowError, struct.error) as exc:
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1]
