"""The Bluetooth source through bumble's virtual controllers: legacy (1M) and long-range
(Coded PHY) Remote ID adverts reach dronewatch with the production code path."""

from __future__ import annotations

import time

import pytest
from tests.sources.bumbleutil import (
    CODED_ADDRESS,
    CODED_ID,
    DRONE,
    LEGACY_ADDRESS,
    LEGACY_ID,
    PILOT,
    VirtualAir,
)

from dronewatch.decode import decode_frames
from dronewatch.model import Frame, Transport
from dronewatch.sources.bluetooth import transport_spec
from dronewatch.sources.live import LiveOptions, LiveSource, SourceState, open_live

WAIT_S = 30.0


def _collect(source: LiveSource, until: object) -> list[Frame]:
    got: list[Frame] = []
    deadline = time.monotonic() + WAIT_S
    while not until(got):  # type: ignore[operator]
        assert time.monotonic() < deadline, f"got {len(got)} frames: {got[:3]}"
        batch = source.get(0.25)
        got += batch.frames if batch else []
    return got


def _scan(air: VirtualAir, until: object) -> tuple[list[Frame], dict[str, object]]:
    source = open_live(f"bluetooth:{air.target}", LiveOptions(sensor_id="mast"))
    source.start()
    try:
        frames = _collect(source, until)
        health = source.health()
    finally:
        source.stop()
        air.close()
    assert health.state is SourceState.RUNNING
    assert {f.sensor_id for f in frames} == {"mast"}
    assert all(f.rssi_dbm == -50.0 for f in frames)  # what the virtual controller reports
    return frames, health.detail


def test_legacy_adverts_through_a_bluetooth4_controller() -> None:
    air = VirtualAir(legacy=True, coded=False, scanner_extended=False)
    frames, detail = _scan(air, lambda frames: len(frames) >= 3)  # every advert counts
    assert {f.transport for f in frames} == {Transport.BLE_LEGACY}
    assert {f.source for f in frames} == {LEGACY_ADDRESS}
    (message,) = {d.message for d in decode_frames(frames[:1])}
    assert getattr(message, "uas_id", None) == LEGACY_ID
    assert detail["receives"] == {"legacy_1m": True, "extended": False,
                                  "long_range_coded": False}


def test_long_range_adverts_through_a_bluetooth5_controller() -> None:
    air = VirtualAir(legacy=False, coded=True, scanner_extended=True)
    frames, detail = _scan(air, lambda frames: len(frames) >= 3)
    assert {f.transport for f in frames} == {Transport.BLE_LONG_RANGE}
    assert {f.source for f in frames} == {CODED_ADDRESS}
    messages = {d.message.type: d.message for d in decode_frames(frames[:1])}
    assert getattr(messages["basic_id"], "uas_id", None) == CODED_ID
    assert getattr(messages["location"], "lat", None) == pytest.approx(DRONE[0], abs=1e-6)
    assert getattr(messages["system"], "operator_lon", None) == pytest.approx(PILOT[1], abs=1e-6)
    assert detail["receives"] == {"legacy_1m": True, "extended": True, "long_range_coded": True}


def test_controller_gone_is_retried() -> None:
    air = VirtualAir(coded=False)
    source = open_live(f"bluetooth:{air.target}")
    source.start()
    try:
        _collect(source, lambda frames: len(frames) >= 1)
        air.close()  # the controller goes away
        deadline = time.monotonic() + WAIT_S
        while source.state is not SourceState.RETRYING:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert source.last_error
    finally:
        source.stop()


def test_transport_specs() -> None:
    assert transport_spec("hci0") == "hci-socket:0"
    assert transport_spec("usb:0") == "usb:0"
    assert transport_spec("serial:/dev/ttyACM0") == "serial:/dev/ttyACM0"
    assert transport_spec("tcp:127.0.0.1:9000") == "tcp-client:127.0.0.1:9000"
    for bad in ("hci", "wlan0", "tcp:host", "usb:", "serial"):
        with pytest.raises(ValueError):
            transport_spec(bad)


def test_no_bluetooth_sockets_is_a_clear_failure() -> None:
    """hci0 on a system without AF_BLUETOOTH (this test machine): failed, saying why."""
    import socket

    if hasattr(socket, "AF_BLUETOOTH") and socket.AF_BLUETOOTH:
        pytest.skip("this system has Bluetooth sockets")  # the other path is the one tested
    source = open_live("bluetooth:hci0")
    source.start()
    deadline = time.monotonic() + WAIT_S
    while not source.done:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    source.stop()
    assert source.state is SourceState.FAILED
    assert "Bluetooth sockets" in (source.last_error or "")
