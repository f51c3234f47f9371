"""French beacon: a published example frame, round trips and fuzzing."""

from __future__ import annotations

import contextlib
import random
import struct
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import Corrupt, DecodeError, NotMine, Truncated, Unsupported
from dronewatch.model import Transport
from dronewatch.protocols import decode_payload, fr_beacon
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


# --- the compiled shape decoders against the TLV walk ---------------------------------------

@pytest.mark.parametrize("tlv", fr_beacon.TLVS, ids=[t.name for t in fr_beacon.TLVS])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_tlv_decode_source_matches_decode(tlv: fr_beacon.Tlv, data: st.DataObject) -> None:
    if tlv.decode_source is None:
        return  # the compiled decoder calls tlv.decode itself
    assert tlv.fmt is not None
    bits = 8 * struct.calcsize(tlv.fmt)
    signed = tlv.fmt.islower()
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    raw = data.draw(st.sampled_from([lo, hi, 0, 359, 360]).filter(lambda v: lo <= v <= hi)
                    | st.integers(lo, hi))
    got = eval(tlv.decode_source.format(raw="raw"), {}, {"raw": raw})
    assert repr(got) == repr(tlv.decode(raw))  # same value and type


_text = st.text(alphabet="AB01 \x00", max_size=32)
_beacons = st.builds(
    FrBeacon,
    version=st.sampled_from([None, 1, 2]),
    uas_id=st.none() | _text, serial=st.none() | _text,
    lat=st.none() | st.sampled_from([0.0, 90.0, 90.00001]) | st.floats(-95, 95),
    lon=st.none() | st.sampled_from([0.0, 180.0]) | st.floats(-200, 200),
    home_lat=st.none() | st.floats(-95, 95), home_lon=st.none() | st.floats(-200, 200),
    alt=st.none() | st.floats(-40000, 40000), height=st.none() | st.floats(-40000, 40000),
    speed=st.none() | st.floats(0, 300), direction=st.none() | st.integers(0, 400).map(float),
)


def _outcome(fn: Callable[[bytes], object], payload: bytes) -> object:
    try:
        return repr(fn(payload))  # repr: also tells 1 from 1.0
    except DecodeError as exc:
        return type(exc), str(exc), exc.reason


@settings(max_examples=400, deadline=None)
@given(
    beacon=_beacons,
    # a TLV after the encoder's: a repeated one (the last counts) or one of a later version
    extra=st.sampled_from([b"", b"\x04\x04", b"\x0a\x01", b"\x03\x05", b"\x0c\x03"]),
    values=st.randoms(use_true_random=False),
)
def test_shape_decoder_matches_walk(
    beacon: FrBeacon, extra: bytes, values: random.Random
) -> None:
    """Same messages and errors as the TLV walk, for every payload of the shape; ``None``
    for payloads of another shape."""
    payload = encode(beacon) + extra + values.randbytes(extra[1] if extra else 0)
    with contextlib.suppress(DecodeError):
        _, shape = fr_beacon._decode_walk(payload)
        compiled = fr_beacon._compile_shape(shape)
        # the same shape with other values in the TLVs (out-of-range positions, no text...)
        other = bytearray(payload)
        headers = [0]  # positions of the vendor-specific type and the TLV headers
        pos = 1
        for _code, length in shape:
            headers += [pos, pos + 1]
            other[pos + 2 : pos + 2 + length] = values.randbytes(length)
            pos += 2 + length
        for same_shape in (payload, bytes(other)):
            walked = _outcome(lambda p: fr_beacon._decode_walk(p)[0], same_shape)
            assert _outcome(compiled, same_shape) == walked
        for i in headers:  # a changed header makes another shape
            changed = bytearray(payload)
            changed[i] ^= values.randrange(1, 256)
            assert compiled(bytes(changed)) is None


def test_compiled_beacon_is_an_ordinary_frozen_beacon() -> None:
    [walked] = decode(EXAMPLE)
    _, shape = fr_beacon._decode_walk(EXAMPLE)
    fast = fr_beacon._compile_shape(shape)(EXAMPLE)
    assert type(fast) is FrBeacon
    rebuilt = FrBeacon(**{f.name: getattr(fast, f.name) for f in msgspec.structs.fields(FrBeacon)})
    assert fast == rebuilt == walked and hash(fast) == hash(rebuilt)
    with pytest.raises(AttributeError):
        fast.lat = 1.0  # type: ignore[misc]


def test_shapes_compile_when_they_recur(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fr_beacon, "_compiled", {})
    monkeypatch.setattr(fr_beacon, "_compiled_count", 0)
    monkeypatch.setattr(fr_beacon, "_shape_counts", {})
    monkeypatch.setattr(fr_beacon, "MAX_SHAPES", 2)
    payloads = [encode(FrBeacon(uas_id="X" * 30, lat=1.0 + i, lon=2.0, alt=float(i)))
                for i in range(fr_beacon.SHAPE_COMPILE_AFTER + 2)]
    expected = [fr_beacon._decode_walk(p)[0] for p in payloads]
    assert [decode(p)[0] for p in payloads] == expected
    assert fr_beacon._compiled_count == 1
    assert len(fr_beacon._compiled[len(payloads[0])]) == 1
    # a second shape of the same length is tried after the first one
    same_length = encode(FrBeacon(serial="Y" * 30, lat=1.0, lon=2.0, alt=3.0))
    assert len(same_length) == len(payloads[0])
    for _ in range(fr_beacon.SHAPE_COMPILE_AFTER + 1):
        assert decode(same_length) == [fr_beacon._decode_walk(same_length)[0]]
    assert len(fr_beacon._compiled[len(payloads[0])]) == 2
    # no more than MAX_SHAPES are compiled; the others keep to the walk
    third = encode(FrBeacon(serial="Z", speed=1.0))
    for _ in range(2 * fr_beacon.SHAPE_COMPILE_AFTER):
        assert decode(third) == [fr_beacon._decode_walk(third)[0]]
    assert fr_beacon._compiled_count == 2 and len(third) not in fr_beacon._compiled
