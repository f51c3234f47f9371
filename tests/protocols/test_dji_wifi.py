"""DJI DroneID in Wi-Fi beacons: the real capture, the payload codec, round trips, fuzzing."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.decode import decode_frames
from dronewatch.errors import DecodeError, Truncated
from dronewatch.model import Decoded, Transport
from dronewatch.protocols import decode_payload
from dronewatch.protocols.dji_droneid import DjiFlightInfo, DjiTelemetry, make_telemetry
from dronewatch.protocols.dji_wifi import decode, encode
from dronewatch.sources import open_capture
from dronewatch.stats import DecodeStats

# The vendor element body after OUI 26:37:12 in tests/data/dji_wifi_spoofed_single.pcapng.
SAMPLE = bytes.fromhex(
    "586213"
    "10024d06331f4b3652453057454e414839503851414c019f22003cf51f0037006400"
    "34083c0f8403bcd03f3ca05b0000000018239500178472001784720018239500"
    "580600616c6573736100000000000000000000000000"
)


def test_sample_payload() -> None:
    [msg] = decode_payload(Transport.DJI_WIFI, SAMPLE)
    assert isinstance(msg, DjiTelemetry)
    assert msg.serial == "K6RE0WENAH9P8QAL"
    assert msg.sequence == 1613
    assert msg.lat == pytest.approx(12.0, abs=1e-4)
    assert msg.lon == pytest.approx(13.0, abs=1e-4)
    again = encode(msg)
    assert again[:45] == SAMPLE[:45]  # header .. yaw byte-identical
    assert decode(again) == [msg]  # the time (seconds here) is re-encoded in milliseconds


def test_real_capture(data_dir: Path) -> None:
    stats = DecodeStats()
    frames = list(open_capture(data_dir / "dji_wifi_spoofed_single.pcapng", stats=stats))
    decoded: list[Decoded] = list(decode_frames(frames, stats))
    dji = [d for d in decoded if d.frame.transport is Transport.DJI_WIFI]
    assert dji, stats.summary()
    assert len({d.frame.source for d in dji}) == 1  # one transmitter
    for d in dji:
        msg = d.message
        assert isinstance(msg, DjiTelemetry)
        assert msg.serial == "K6RE0WENAH9P8QAL"
        assert msg.lat == pytest.approx(12.0, abs=1e-4)
        assert msg.lon == pytest.approx(13.0, abs=1e-4)
        assert msg.home_lat == pytest.approx(56.0, abs=1e-4)
        assert msg.home_lon == pytest.approx(43.0, abs=1e-4)
        j = d.to_json()
        assert j["transport"] == "dji-wifi" and j["type"] == "dji_telemetry"


def test_short_payload() -> None:
    with pytest.raises(Truncated):
        decode(b"\x58\x62\x13")


@settings(max_examples=200, deadline=None)
@given(
    serial=st.text(alphabet="0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=1, max_size=16),
    lat=st.floats(1, 60), lon=st.floats(1, 60), height=st.floats(0, 500),
    seq=st.integers(0, 65535), version=st.sampled_from([1, 2]),
)
def test_round_trip(serial: str, lat: float, lon: float, height: float, seq: int,
                    version: int) -> None:
    msg = make_telemetry(serial=serial, lat=lat, lon=lon, height=height, sequence=seq,
                         version=version, operator_lat=lat, operator_lon=lon)
    assert decode(encode(msg)) == [msg]
    info = DjiFlightInfo(serial=serial, drone_id="D1", purpose="inspection")
    assert decode(encode(info)) == [info]


@settings(max_examples=1500, deadline=None)
@given(data=st.binary(max_size=140))
def test_fuzz(data: bytes) -> None:
    for payload in (data, b"\x58\x62\x13\x10\x02" + data, b"\x58\x62\x13\x11" + data):
        with contextlib.suppress(DecodeError):
            decode(payload)
