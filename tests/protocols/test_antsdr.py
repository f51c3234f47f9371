"""AntSDR DroneID feed frames: decoder, encoder beside it, framing (issue 11)."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import Corrupt, Truncated
from dronewatch.protocols.antsdr import (
    REPORT_BYTES,
    DjiAntsdrReport,
    decode,
    encode,
    encode_frame,
    split_frames,
)


def _report(**kw: object) -> DjiAntsdrReport:
    base: dict[str, object] = dict(
        serial="1581F5FKD229400B", product="Mavic 3", product_type=77,
        lat=48.137154, lon=11.576124, height=42.5, alt=561.0, home_lat=48.1365,
        home_lon=11.5755, operator_lat=48.13649, operator_lon=11.57551, speed_east=-3.25,
        speed_north=4.0, speed_up=0.5, frequency_hz=2414.5e6, rssi=-67)
    base.update(kw)
    return DjiAntsdrReport(**base)  # type: ignore[arg-type]


def test_layout_matches_the_documented_offsets() -> None:
    payload = encode(_report())
    assert len(payload) == REPORT_BYTES == 227
    assert payload[:16] == b"1581F5FKD229400B" and payload[16:64] == bytes(48)
    assert payload[64:71] == b"Mavic 3" and payload[128] == 77
    # doubles from 129: pilot lat, pilot lon, drone lat, drone lon, height, altitude, home lat,
    # home lon, freq, speed E, N, U; then RSSI int16
    v = struct.unpack_from("<12d", payload, 129)
    assert v[0] == 48.13649 and v[2] == 48.137154 and v[3] == 11.576124
    assert v[4] == 42.5 and v[5] == 561.0 and v[8] == 2414.5 and v[9] == -3.25
    assert struct.unpack_from("<h", payload, 225)[0] == -67


def test_roundtrip() -> None:
    m = _report()
    (got,) = decode(encode(m))
    assert got == m


@settings(max_examples=60, deadline=None)
@given(lat=st.floats(-90, 90), lon=st.floats(-180, 180), h=st.floats(-1e4, 1e4),
       rssi=st.integers(-32768, 32767), serial=st.text("ABCDEF0123456789", max_size=64))
def test_roundtrip_property(lat: float, lon: float, h: float, rssi: int, serial: str) -> None:
    m = _report(lat=lat, lon=lon, height=h, rssi=rssi, serial=serial or None)
    (got,) = decode(encode(m))
    if lat == 0.0 and lon == 0.0:
        assert got.lat is None and got.lon is None  # 0/0: no fix
    else:
        assert (got.lat, got.lon) == (lat, lon)
    assert got.height == h and got.rssi == rssi and got.serial == (serial or None)


def test_no_fix_bad_numbers_and_encrypted() -> None:
    payload = bytearray(encode(_report(lat=0.0, lon=0.0)))
    struct.pack_into("<d", payload, 129 + 8 * 4, math.nan)  # height
    struct.pack_into("<d", payload, 129 + 8 * 6, 123.0)  # home lat out of range
    (m,) = decode(bytes(payload))
    assert m.lat is None and m.height is None and m.home_lat is None
    payload[0:4] = b"\xff\xfe\x01\x80"  # not text: an encrypted (O4) drone
    (m,) = decode(bytes(payload))
    assert m.encrypted and m.serial is None
    with pytest.raises(Truncated):
        decode(bytes(payload[:200]))


def test_frames_in_a_stream_either_length_convention() -> None:
    a, b = encode(_report()), encode(_report(serial="X"))
    whole = encode_frame(a)  # length = whole frame (WarDragon's reading)
    assert int.from_bytes(whole[3:5], "little") == 232
    payload_len = whole[:3] + (227).to_bytes(2, "little") + a  # Kismet's reading
    other = encode_frame(b"\x01\x02\x03", frame_type=0x02)
    stream = whole + other + payload_len + encode_frame(b)
    for cut in (1, 5, 7, 231, 232, 240, len(stream)):
        frames, used = split_frames(stream[:cut])
        assert used <= cut and all(len(p) in (3, 227) for _, p in frames)
    frames, used = split_frames(stream)
    assert used == len(stream)
    assert [t for t, _ in frames] == [1, 2, 1, 1]
    assert frames[0][1] == a and frames[1][1] == b"\x01\x02\x03" and frames[2][1] == a
    with pytest.raises(Corrupt):
        split_frames(b"\x00\x00\x01\x02\x00")  # length below the header
    with pytest.raises(Corrupt):
        split_frames(b"\x00\x00\x01\xff\xff")  # beyond any frame
