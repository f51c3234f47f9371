"""DJI DroneID records: real OcuSync blocks, the Wi-Fi sample, round trips and fuzzing."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import Corrupt, DecodeError, Truncated, Unsupported
from dronewatch.protocols.dji_droneid import (
    OCUSYNC_SERIAL_UNKNOWN_DEFAULT,
    RAD_E7_PER_DEG,
    DjiEncrypted,
    DjiFlightInfo,
    DjiSerial,
    DjiTelemetry,
    decode_record,
    encode_record,
    make_telemetry,
    product_name,
)


def _blocks(data_dir: Path) -> list[dict[str, object]]:
    blocks: list[dict[str, object]] = json.loads(
        (data_dir / "mavic_air_2.expected.json").read_text()
    )
    return blocks


def _record(block: dict[str, object]) -> bytes:
    raw = bytes.fromhex(str(block["block_hex"]))
    return raw[1 : raw[0] + 1]  # after the length byte, up to the CRC-16


def test_real_ocusync_serial_record(data_dir: Path) -> None:
    block = _blocks(data_dir)[0]
    msg = decode_record(_record(block), ocusync=True)
    assert isinstance(msg, DjiSerial)
    assert msg.serial == "1WNBH3900201N1"
    assert msg.unknown[:3] == bytes.fromhex("ccaa02")
    assert msg.unknown == OCUSYNC_SERIAL_UNKNOWN_DEFAULT
    assert encode_record(msg) == _record(block)
    assert msg.fields()["unknown"].startswith("ccaa02")


@pytest.mark.parametrize(("index", "seq", "height", "vn", "ve", "vup", "yaw"), [
    (1, 589, 3.7, 0.02, 0.0, 0.28, 360 - 132.61),
    (2, 591, 4.2, -0.02, 0.02, 0.26, 360 - 132.95),
])
def test_real_ocusync_telemetry(
    data_dir: Path, index: int, seq: int, height: float, vn: float, ve: float, vup: float,
    yaw: float,
) -> None:
    block = _blocks(data_dir)[index]
    msg = decode_record(_record(block), ocusync=True)
    assert isinstance(msg, DjiTelemetry)
    assert msg.type == "dji_telemetry"
    assert msg.serial == "1WNBH3900201N1"
    assert msg.sequence == seq
    assert msg.version == 2
    assert msg.state_info == 0x1FF7
    assert msg.in_air and msg.motor_on and not msg.private_mode
    assert msg.lat == pytest.approx(51.446356, abs=1e-6)
    assert msg.lon == pytest.approx(7.267219, abs=1e-6)
    assert msg.operator_lat == pytest.approx(51.44622993, abs=1e-7)
    assert msg.operator_lon == pytest.approx(7.26710446, abs=1e-7)
    assert msg.home_lat == pytest.approx(51.44628150, abs=1e-7)
    assert msg.home_lon == pytest.approx(7.26735657, abs=1e-7)
    assert msg.product_type == 58
    assert msg.product == "Mavic Air 2"
    assert msg.uuid == "1143635532171534336"
    assert msg.gps_time == pytest.approx(1650542026.258)
    assert msg.alt_raw == 141 and msg.alt == 141.0
    assert msg.height == pytest.approx(height)
    assert (msg.speed_north, msg.speed_east, msg.speed_up) == pytest.approx((vn, ve, vup))
    assert msg.yaw == pytest.approx(yaw)
    assert msg.pitch is None and msg.roll is None
    # byte-exact re-encoding of a real record
    assert encode_record(msg) == _record(block)


def test_units_are_physically_plausible_on_the_real_frames(data_dir: Path) -> None:
    """The evidence the units rest on (module docstring of dji_droneid), re-checked."""
    a, b = (decode_record(_record(_blocks(data_dir)[i]), ocusync=True) for i in (1, 2))
    assert isinstance(a, DjiTelemetry) and isinstance(b, DjiTelemetry)
    assert (b.sequence - a.sequence, a.alt_raw, b.alt_raw) == (2, 141, 141)
    assert (a.height_raw, b.height_raw) == (37, 42)
    # the height's unit is finer than the altitude's: 5 units of height, no metre of altitude
    climb = b.height - a.height  # type: ignore[operator]
    assert 0.0 < climb < 1.0 and b.alt == a.alt
    # the climb rate the drone sends explains that climb in about two seconds of flight
    # (two DroneID periods, 0.6-1.2 s each), not in twenty nor in 0.2
    rate = (a.speed_up + b.speed_up) / 2  # type: ignore[operator]
    assert 1.0 <= climb / rate <= 3.0
    # it did not move sideways and says so: hovering speeds, the same position
    assert (a.lat, a.lon) == (b.lat, b.lon) and max(a.speed or 0, b.speed or 0) < 0.1
    # 141 m above sea level near Bochum (terrain about 40-200 m), a few metres above home
    assert 40.0 < a.alt < 200.0 and a.height < 10.0  # type: ignore[operator]


def test_wifi_v2_sample_record() -> None:
    # The record of the vendor element in tests/data/dji_wifi_spoofed_single.pcapng.
    rec = bytes.fromhex(
        "10024d06331f4b3652453057454e414839503851414c019f22003cf51f0037006400"
        "34083c0f8403bcd03f3ca05b0000000018239500178472001784720018239500"
        "580600616c6573736100000000000000000000000000"
    )
    msg = decode_record(rec)
    assert isinstance(msg, DjiTelemetry)
    assert msg.serial == "K6RE0WENAH9P8QAL"
    assert msg.lat == pytest.approx(12.0, abs=1e-4)
    assert msg.lon == pytest.approx(13.0, abs=1e-4)
    assert msg.home_lat == pytest.approx(56.0, abs=1e-4)
    assert msg.home_lon == pytest.approx(43.0, abs=1e-4)
    assert msg.operator_lat == pytest.approx(56.0, abs=1e-4)
    assert msg.speed_north == 21.0 and msg.speed_east == 39.0 and msg.speed_up == 9.0
    assert msg.height == 10.0 and msg.alt == 55.0
    assert msg.yaw == pytest.approx(239.0)
    assert msg.product == "Mini 2 SE"  # the product byte this spoofer sends
    assert msg.uuid == "alessa"
    assert msg.gps_time == 1537227839.0  # this sender puts seconds


def test_zero_position_is_none() -> None:
    msg = make_telemetry(serial="X", lat=None, lon=None, operator_lat=None, operator_lon=None)
    assert msg.lat is None and msg.lon is None and msg.home_lat is None
    assert msg.operator_lat is None
    again = decode_record(encode_record(msg))
    assert again == msg


def test_version_1_layout() -> None:
    msg = make_telemetry(serial="08QDE3U0030000", lat=47.1, lon=8.5, alt=500, height=120.5,
                         pitch=-3.5, roll=2.25, yaw=90.0, home_lat=47.0, home_lon=8.4,
                         version=1, product_type=16, uuid="")
    data = encode_record(msg)
    assert len(data) == 76
    back = decode_record(data)
    assert back == msg
    assert isinstance(back, DjiTelemetry)
    assert back.pitch == -3.5 and back.roll == 2.25 and back.yaw == 90.0
    assert back.gps_time is None and back.operator_lat is None
    assert back.product == "Mavic Pro" and back.uuid is None


def test_flight_info() -> None:
    msg = DjiFlightInfo(serial="0JXDE3U0010000", drone_id="ABC123", purpose="survey of roof")
    data = encode_record(msg)
    assert data[0] == 0x11
    assert decode_record(data) == msg
    # DJI announces more purpose bytes than it sends: read what is there
    short = data[:-4]
    got = decode_record(short)
    assert isinstance(got, DjiFlightInfo) and got.purpose == "survey of"


def test_encrypted_records() -> None:
    infp = bytes([0x10]) + b"INFP" + bytes(range(130))
    msg = decode_record(infp, ocusync=True)
    assert isinstance(msg, DjiEncrypted)
    assert msg.tag == "INFP" and msg.record_type == 0x10 and msg.length == 135
    assert encode_record(msg) == infp
    cryp = decode_record(bytes([0x13]) + b"CRYP" + bytes(160))
    assert isinstance(cryp, DjiEncrypted) and cryp.tag == "CRYP"


def test_errors() -> None:
    with pytest.raises(Unsupported):
        decode_record(bytes([0x12, 0x02]) + bytes(90))
    with pytest.raises(Unsupported):
        decode_record(bytes([0x10, 0x07]) + bytes(90))
    with pytest.raises(Truncated):
        decode_record(bytes([0x10, 0x02]) + bytes(40))
    bad = bytearray(encode_record(make_telemetry(serial="S", lat=1.0, lon=2.0)))
    bad[67] = 40  # uuid_len
    with pytest.raises(Corrupt):
        decode_record(bytes(bad))
    with pytest.raises(DecodeError):
        decode_record(b"")


def test_product_names() -> None:
    assert product_name(58) == "Mavic Air 2"
    assert product_name(63) == "Mini 2"
    assert product_name(99) == "unknown (99)"


def test_scale_factor() -> None:
    assert abs(RAD_E7_PER_DEG - 174532.9252) < 1e-4


_serial = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=1, max_size=16)
# raw 0 means "no fix", so keep clear of the equator and the prime meridian
_lat = st.floats(-89.9, 89.9).filter(lambda x: abs(x) > 1e-3)
_lon = st.floats(-179.9, 179.9).filter(lambda x: abs(x) > 1e-3)


@settings(max_examples=200, deadline=None)
@given(
    serial=_serial, lat=_lat, lon=_lon, alt=st.integers(-500, 9000),
    height=st.floats(-100, 3000), vn=st.floats(-300, 300), ve=st.floats(-300, 300),
    vu=st.floats(-300, 300), yaw=st.floats(0, 359.99), olat=_lat, olon=_lon,
    hlat=_lat, hlon=_lon, gps=st.integers(10**11, 4 * 10**12), product=st.integers(0, 255),
    uuid=st.text(alphabet="0123456789", max_size=19), seq=st.integers(0, 65535),
    version=st.sampled_from([1, 2]),
)
def test_telemetry_round_trip(
    serial: str, lat: float, lon: float, alt: int, height: float, vn: float, ve: float,
    vu: float, yaw: float, olat: float, olon: float, hlat: float, hlon: float, gps: int,
    product: int, uuid: str, seq: int, version: int,
) -> None:
    msg = make_telemetry(
        serial=serial, lat=lat, lon=lon, alt=alt, height=height, speed_north=vn, speed_east=ve,
        speed_up=vu, yaw=yaw, operator_lat=olat, operator_lon=olon, home_lat=hlat,
        home_lon=hlon, gps_time=gps / 1000, product_type=product, uuid=uuid, sequence=seq,
        version=version,
    )
    data = encode_record(msg)
    assert decode_record(data) == msg
    assert encode_record(decode_record(data)) == data
    assert msg.serial == serial
    assert msg.lat is not None and abs(msg.lat - lat) <= 0.5 / RAD_E7_PER_DEG + 1e-12
    assert msg.height is not None and abs(msg.height - height) <= 0.05 + 1e-9
    assert msg.yaw is not None and min(abs(msg.yaw - yaw), 360 - abs(msg.yaw - yaw)) <= 0.006


@settings(max_examples=100, deadline=None)
@given(serial=_serial, drone_id=st.text(alphabet="ABC123", max_size=10),
       purpose=st.text(alphabet="abc def", max_size=100).map(str.strip))
def test_flight_info_round_trip(serial: str, drone_id: str, purpose: str) -> None:
    msg = DjiFlightInfo(serial=serial, drone_id=drone_id or None, purpose=purpose or None)
    assert decode_record(encode_record(msg)) == msg


@settings(max_examples=100, deadline=None)
@given(serial=_serial, unknown=st.binary(max_size=140))
def test_serial_round_trip(serial: str, unknown: bytes) -> None:
    msg = DjiSerial(serial=serial, unknown=unknown)
    assert decode_record(encode_record(msg), ocusync=True) == msg


@settings(max_examples=1500, deadline=None)
@given(data=st.binary(max_size=200), ocusync=st.booleans())
def test_fuzz_random_bytes(data: bytes, ocusync: bool) -> None:
    with contextlib.suppress(DecodeError):
        decode_record(data, ocusync=ocusync)


@settings(max_examples=500, deadline=None)
@given(prefix=st.sampled_from([b"\x10\x01", b"\x10\x02", b"\x11"]), rest=st.binary(max_size=120))
def test_fuzz_typed_bytes(prefix: bytes, rest: bytes) -> None:
    try:
        msg = decode_record(prefix + rest)
    except DecodeError:
        return
    msg.fields()  # whatever decodes is JSON-able


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(_lat, _lon, st.floats(-100, 3000), st.floats(-300, 300),
                               st.floats(0, 720), st.integers(10**11, 4 * 10**12)),
                     min_size=1, max_size=30))
def test_batch_encoder_matches(rows: list[tuple[float, float, float, float, float, int]]) -> None:
    import numpy as np

    from dronewatch.protocols.dji_droneid import encode_telemetry, encode_telemetry_many

    lat, lon, h, v, yaw, gps = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    many = encode_telemetry_many(
        len(rows), serial="SN1", lat=lat, lon=lon, alt=h, height=h, speed_north=v,
        speed_east=-v, speed_up=v / 10, yaw=yaw, home_lat=1.5, home_lon=2.5, operator_lat=lat,
        operator_lon=lon, gps_time=gps / 1000, product_type=63, uuid="42",
        sequence=np.arange(len(rows)), state_info=0x1FF7,
    )
    one = [
        encode_telemetry(
            serial="SN1", lat=r[0], lon=r[1], alt=r[2], height=r[2], speed_north=r[3],
            speed_east=-r[3], speed_up=r[3] / 10, yaw=r[4], home_lat=1.5, home_lon=2.5,
            operator_lat=r[0], operator_lon=r[1], gps_time=r[5] / 1000, product_type=63,
            uuid="42", sequence=i, state_info=0x1FF7,
        )
        for i, r in enumerate(rows)
    ]
    assert many == one


# --- the compiled telemetry decoders against the table-driven reference ----------------------

_INT_RANGES = {"B": (0, 255), "H": (0, 65535), "h": (-32768, 32767), "i": (-(2**31), 2**31 - 1),
               "Q": (0, 2**64 - 1)}


def _raw_values(fmt: str) -> st.SearchStrategy[object]:
    if fmt.endswith("s"):
        return st.binary(min_size=int(fmt[:-1]), max_size=int(fmt[:-1]))
    lo, hi = _INT_RANGES[fmt]
    # the boundaries and the sentinels the codecs special-case, besides arbitrary values
    special = [lo, hi, 0, 1, 10**11 - 1, 10**11, 90 * 174533, 180 * 174533]
    return st.sampled_from([v for v in special if lo <= v <= hi]) | st.integers(lo, hi)


def _codec_fields() -> list[tuple[str, str, object]]:
    from dronewatch.protocols.dji_droneid import TELEMETRY_LAYOUTS

    seen: dict[tuple[str, int], tuple[str, str, object]] = {}
    for layout in TELEMETRY_LAYOUTS.values():
        for f in layout.fields:
            seen.setdefault((f.fmt, id(f.codec)), (f.name, f.fmt, f.codec))
    return list(seen.values())


_CODEC_FIELDS = _codec_fields()


@pytest.mark.parametrize(("name", "fmt", "codec"), _CODEC_FIELDS, ids=[f[0] for f in _CODEC_FIELDS])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_codec_decode_source_matches_decode(
    name: str, fmt: str, codec: object, data: st.DataObject
) -> None:
    from dronewatch.protocols.dji_droneid import Codec

    assert isinstance(codec, Codec)
    raw = data.draw(_raw_values(fmt))
    if codec.decode_expr is None:
        return  # the compiled decoder calls codec.decode itself
    got = eval(codec.decode_expr.format(raw="raw"), {}, {"raw": raw})
    assert repr(got) == repr(codec.decode(raw)), name  # same value and type (1 vs 1.0)


def _record_strategy() -> st.SearchStrategy[bytes]:
    from dronewatch.protocols.dji_droneid import TELEMETRY_LAYOUTS

    def build(version: int) -> st.SearchStrategy[bytes]:
        layout = TELEMETRY_LAYOUTS[version]
        fields = [st.just(0x10)] + [  # the record type, then the fields
            st.just(version) if f.name == "version"
            else st.integers(0, 20) if f.name == "uuid_len"
            else _raw_values(f.fmt)
            for f in layout.fields
        ]
        return st.tuples(*fields).map(lambda v: layout.struct.pack(*v)).flatmap(
            lambda head: st.binary(min_size=20, max_size=20).map(lambda uuid: head + uuid)
        )

    return st.sampled_from([1, 2]).flatmap(build)


def _valid_pair(lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None, None
    return lat, lon


@settings(max_examples=400, deadline=None)
@given(record=_record_strategy())
def test_compiled_decoder_matches_reference(record: bytes) -> None:
    """Every field of the compiled decode, from the wire values through the codecs' own
    ``decode`` (``Layout.unpack``) and the documented semantics."""
    import math

    from dronewatch.protocols.dji_droneid import TELEMETRY_LAYOUTS

    layout = TELEMETRY_LAYOUTS[record[1]]
    v = layout.unpack(record)
    msg = decode_record(record)
    assert type(msg) is DjiTelemetry
    lat, lon = _valid_pair(v["lat"], v["lon"])
    home = _valid_pair(v["home_lat"], v["home_lon"])
    operator = _valid_pair(v.get("operator_lat"), v.get("operator_lon"))
    vn, ve = v["speed_north_raw"] / 100, v["speed_east_raw"] / 100
    speed = math.hypot(vn, ve)
    uuid_text = record[layout.size :].replace(b"\x00", b"")
    uuid = uuid_text.decode("utf-8", "replace").strip() or None if v["uuid_len"] else None
    expected = DjiTelemetry(
        serial=v["serial"], sequence=v["sequence"], version=v["version"],
        state_info=v["state_info"], lat=lat, lon=lon, alt=float(v["alt_raw"]),
        height=v["height_raw"] / 10, speed_north=vn, speed_east=ve,
        speed_up=v["speed_up_raw"] / 100, speed=speed,
        direction=None if speed == 0 else math.degrees(math.atan2(ve, vn)) % 360,
        yaw=v["yaw"], pitch=v.get("pitch"), roll=v.get("roll"), home_lat=home[0],
        home_lon=home[1], operator_lat=operator[0], operator_lon=operator[1],
        gps_time=v.get("gps_time"), product_type=v["product_type"],
        product=product_name(v["product_type"]), uuid=uuid, alt_raw=v["alt_raw"],
        height_raw=v["height_raw"], speed_north_raw=v["speed_north_raw"],
        speed_east_raw=v["speed_east_raw"], speed_up_raw=v["speed_up_raw"],
    )
    assert repr(msg) == repr(expected)  # also tells 1 from 1.0 and -0.0 from 0.0
    # built the fast way (unfrozen twin), it is an ordinary frozen, hashable DjiTelemetry
    assert msg == expected and hash(msg) == hash(expected)
    with pytest.raises(AttributeError):
        msg.lat = 1.0  # type: ignore[misc]
    assert msgspec.structs.replace(msg, sequence=7).sequence == 7


@settings(max_examples=200, deadline=None)
@given(
    lat=_lat, lon=_lon, alt=st.floats(-3000, 3000), height=st.floats(-3000, 3000),
    vn=st.floats(-300, 300), ve=st.floats(-300, 300), vu=st.floats(-300, 300),
    yaw=st.floats(-720, 720), gps=st.integers(10**11, 4 * 10**12), product=st.integers(0, 255),
    uuid=st.text(alphabet="0123456789", min_size=1, max_size=19), version=st.sampled_from([1, 2]),
)
def test_decode_gives_the_encoded_values(
    lat: float, lon: float, alt: float, height: float, vn: float, ve: float, vu: float,
    yaw: float, gps: int, product: int, uuid: str, version: int,
) -> None:
    """SI values through ``encode_telemetry`` come back to within half a wire step."""
    import math

    from dronewatch.protocols.dji_droneid import encode_telemetry

    msg = decode_record(encode_telemetry(
        serial="SN42", lat=lat, lon=lon, alt=alt, height=height, speed_north=vn,
        speed_east=ve, speed_up=vu, yaw=yaw, pitch=yaw / 10, roll=-yaw / 10, home_lat=-lat,
        home_lon=-lon, operator_lat=lat / 2, operator_lon=lon / 2, gps_time=gps / 1000,
        product_type=product, uuid=uuid, sequence=9, version=version,
    ))
    assert isinstance(msg, DjiTelemetry)
    pos_step = 0.5 / RAD_E7_PER_DEG + 1e-12
    assert (msg.serial, msg.sequence, msg.version, msg.uuid) == ("SN42", 9, version, uuid)
    assert msg.lat is not None and msg.lon is not None
    assert abs(msg.lat - lat) <= pos_step and abs(msg.lon - lon) <= pos_step
    assert msg.home_lat is not None and abs(msg.home_lat + lat) <= pos_step
    assert msg.alt is not None and abs(msg.alt - alt) <= 0.5
    assert msg.height is not None and abs(msg.height - height) <= 0.05 + 1e-9
    assert msg.speed_north is not None and abs(msg.speed_north - vn) <= 0.005 + 1e-9
    assert msg.speed_east is not None and abs(msg.speed_east - ve) <= 0.005 + 1e-9
    assert msg.speed_up is not None and abs(msg.speed_up - vu) <= 0.005 + 1e-9
    assert msg.speed == math.hypot(msg.speed_north, msg.speed_east)
    assert msg.yaw is not None and 0 <= msg.yaw < 360
    assert abs((msg.yaw - yaw + 180) % 360 - 180) <= 0.005 + 1e-9
    assert msg.product_type == product and msg.product == product_name(product)
    if version == 2:
        assert msg.operator_lat is not None and abs(msg.operator_lat - lat / 2) <= pos_step
        assert msg.gps_time == pytest.approx(gps / 1000, abs=5e-4)
        assert msg.pitch is None and msg.roll is None
    else:
        assert msg.pitch == pytest.approx(yaw / 10, abs=0.005 + 1e-9)
        assert msg.roll == pytest.approx(-yaw / 10, abs=0.005 + 1e-9)
        assert msg.operator_lat is None and msg.gps_time is None


def test_record_cut_inside_its_uuid() -> None:
    data = encode_record(make_telemetry(serial="S", lat=1.0, lon=2.0, uuid="123456"))
    size = len(data) - 20  # the fixed part; the uuid field is the last 20 bytes
    with pytest.raises(Truncated):
        decode_record(data[: size + 5])
    short = decode_record(data[: size + 6])  # all six characters there
    assert isinstance(short, DjiTelemetry) and short.uuid == "123456"


def test_decode_memo_is_bounded() -> None:
    from dronewatch.protocols.dji_droneid import DecodeMemo

    calls: list[bytes] = []
    memo = DecodeMemo(lambda raw: calls.append(raw) or raw.decode() or None, max_size=3)
    assert memo[b"a"] == "a" and memo[b"a"] == "a" and memo[b""] is None and memo[b""] is None
    assert calls == [b"a", b""]  # computed once each, None remembered too
    memo[b"b"], memo[b"c"]
    assert len(memo) == 1 and calls[-1] == b"c"  # cleared when full
