"""French beacon: a published example frame, round trips and fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import Corrupt, DecodeError, NotMine, Truncated, Unsupported
from dronewatch.model import Transport
from dronewatch.protocols import decode_payload
from dronewatch.protocols.fr_beacon import FrBeacon, decode, encode

# The element body (after OUI 6A:5C:35) of a public example frame: Toulouse, 155 m.
EXAMPLE = bytes.fromhex(
    "01"  # vendor-specific type
    "010101"  # version 1
    "021e" + b"AMS20B000000000000002021011122".hex()
    + "0314" + b"QQRS".hex() + "0f" + b"AAAAAABCDEFGHIJ".hex()
    + "040400428cc6"  # lat 43.61414
    "050400 02211e".replace(" ", "")  # lon 1.39550
    + "0602009b"  # alt 155
    "0702009b"  # height 155
    "080400428ccf"  # home lat
    "09040002211d"  # home lon
    "0a0100"  # speed 0
    "0b0200bc"  # heading 188
)


def test_example_frame() -> None:
    [msg] = decode_payload(Transport.FR_BEACON, EXAMPLE)
    assert isinstance(msg, FrBeacon)
    assert msg.type == "fr_beacon"
    assert msg.version == 1
    assert msg.uas_id == "AMS20B000000000000002021011122"
    assert msg.serial == "QQRSFAAAAAABCDEFGHIJ"  # binary length byte shown as its hex digit
    assert msg.lat == pytest.approx(43.61414)
    assert msg.lon == pytest.approx(1.39550)
    assert msg.alt == 155.0 and msg.height == 155.0
    assert msg.home_lat == pytest.approx(43.61423)
    assert msg.home_lon == pytest.approx(1.39549)
    assert msg.speed == 0.0 and msg.direction == 188.0
    j = msg.fields()
    assert j["lat"] == msg.lat and j["uas_id"] == msg.uas_id


def test_unknown_tlv_skipped_and_errors() -> None:
    assert decode(EXAMPLE + bytes.fromhex("200201 02"))[0].lat == pytest.approx(43.61414)
    with pytest.raises(Truncated):
        decode(EXAMPLE[:-1])
    with pytest.raises(NotMine):
        decode(b"\x02" + EXAMPLE[1:])
    with pytest.raises(Unsupported):
        decode(b"\x01\x01\x01\x02" + EXAMPLE[4:])
    with pytest.raises(Corrupt):
        decode(bytes.fromhex("01 0403 00428c".replace(" ", "")) + EXAMPLE[1:])
    with pytest.raises(Corrupt):  # no identifier at all
        decode(bytes.fromhex("010101010404 00428cc6".replace(" ", "")))


def test_zero_position_is_none() -> None:
    msg = FrBeacon(uas_id="X" * 30, lat=0.0, lon=0.0)
    [back] = decode(encode(msg))
    assert isinstance(back, FrBeacon)
    assert back.lat is None and back.lon is None


_pos = st.integers(-9_000_000, 9_000_000).filter(lambda v: v != 0).map(lambda v: v / 1e5)
_lon = st.integers(-18_000_000, 18_000_000).filter(lambda v: v != 0).map(lambda v: v / 1e5)
_id = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    uas_id=st.none() | _id, serial=st.none() | _id, lat=_pos, lon=_lon, home_lat=_pos,
    home_lon=_lon, alt=st.none() | st.integers(-1000, 10000).map(float),
    height=st.none() | st.integers(-1000, 5000).map(float),
    speed=st.none() | st.integers(0, 255).map(float),
    direction=st.none() | st.integers(0, 359).map(float),
)
def test_round_trip(
    uas_id: str | None, serial: str | None, lat: float, lon: float, home_lat: float,
    home_lon: float, alt: float | None, height: float | None, speed: float | None,
    direction: float | None,
) -> None:
    if uas_id is None and serial is None:
        serial = "1581F000000000000001"
    msg = FrBeacon(uas_id=uas_id, serial=serial, lat=lat, lon=lon, alt=alt, height=height,
                   home_lat=home_lat, home_lon=home_lon, speed=speed, direction=direction)
    data = encode(msg)
    assert decode(data) == [msg]
    assert encode(decode(data)[0]) == data  # type: ignore[arg-type]


@settings(max_examples=1500, deadline=None)
@given(data=st.binary(max_size=120))
def test_fuzz(data: bytes) -> None:
    for payload in (data, b"\x01" + data):
        with contextlib.suppress(DecodeError):
            decode(payload)
