"""Decoded messages of every format -> Observation."""

from __future__ import annotations

import math
from typing import ClassVar

import pytest

from dronewatch.model import Decoded, Frame, Message, Transport
from dronewatch.protocols.astm.enums import IdType, UaType
from dronewatch.protocols.astm.messages import BasicId, Location, OperatorId, SelfId, System
from dronewatch.protocols.dji_droneid import make_telemetry
from dronewatch.protocols.fr_beacon import FrBeacon
from dronewatch.track.observe import (
    ASTM_EPOCH_OFFSET,
    observe,
    sender_time_from_hour_offset,
)

T = 1_700_000_123.4  # 2023-11-14T22:15:23.4Z: 923.4 s after the hour


def dec(msg: Message, transport: Transport = Transport.BLE_LEGACY, **frame: object) -> Decoded:
    f = Frame(payload=b"", time=frame.pop("time", T), transport=transport,  # type: ignore[arg-type]
              source="AA:BB:CC:DD:EE:FF", rssi_dbm=-61.5, sensor_id="s1", **frame)  # type: ignore[arg-type]
    return Decoded(f, msg)


def test_basic_id_serial_sets_serial_and_frame_metadata() -> None:
    o = observe(dec(BasicId(id_type=IdType.SERIAL_NUMBER, ua_type=UaType.HELICOPTER_OR_MULTIROTOR,
                            uas_id="1581F5FJD239C00DW22E")))
    assert o is not None
    assert o.message_type == "basic_id"
    assert o.uas_id == o.serial == "1581F5FJD239C00DW22E"
    assert o.id_type == "serial_number"
    assert o.ua_type == "helicopter_or_multirotor"
    assert o.source == "aa:bb:cc:dd:ee:ff"  # normalised
    assert o.rssi_dbm == -61.5 and o.sensor_id == "s1" and o.time == T
    assert o.transport is Transport.BLE_LEGACY


def test_basic_id_registration_is_not_a_serial() -> None:
    o = observe(dec(BasicId(id_type=IdType.CAA_REGISTRATION_ID, uas_id="FIN87astrdge12k8")))
    assert o is not None and o.uas_id == "FIN87astrdge12k8" and o.serial is None


def test_basic_id_type_none_keeps_its_id() -> None:
    o = observe(dec(BasicId(id_type=IdType.NONE, uas_id="MFG1A0123456789")))
    assert o is not None and o.uas_id == "MFG1A0123456789" and o.serial is None
    assert o.id_type == "none"


def test_location_fields_and_sender_time() -> None:
    loc = Location(lat=51.4700, lon=-0.4543, alt_geo=135.0, alt_baro=130.0, height=85.0,
                   speed=12.25, vspeed=-1.5, direction=271.0, timestamp=923.0)
    o = observe(dec(loc))
    assert o is not None
    assert (o.lat, o.lon, o.alt_geo, o.alt_baro, o.height) == (51.47, -0.4543, 135.0, 130.0, 85.0)
    assert (o.speed, o.vspeed, o.direction) == (12.25, -1.5, 271.0)
    assert o.sender_time == pytest.approx(T - 0.4)


def test_location_unknown_fields_stay_none() -> None:
    o = observe(dec(Location()))
    assert o is not None
    assert o.lat is None and o.lon is None and o.speed is None and o.sender_time is None


@pytest.mark.parametrize(
    ("capture", "offset", "expected"),
    [
        (3600.0 * 10 + 5.0, 4.0, 3600.0 * 10 + 4.0),
        (3600.0 * 10 + 0.1, 3599.9, 3600.0 * 10 - 0.1),  # sent before the hour turned
        (3600.0 * 10 + 3599.9, 0.2, 3600.0 * 11 + 0.2),  # sender clock slightly ahead
    ],
)
def test_sender_time_wraps_at_the_hour(capture: float, offset: float, expected: float) -> None:
    assert sender_time_from_hour_offset(capture, offset) == pytest.approx(expected)


def test_system_operator_and_timestamp() -> None:
    o = observe(dec(System(operator_lat=51.46, operator_lon=-0.47, operator_alt=30.0,
                           system_timestamp=1_700_000_100.0)))
    assert o is not None
    assert (o.operator_lat, o.operator_lon, o.operator_alt) == (51.46, -0.47, 30.0)
    assert o.sender_time == 1_700_000_100.0


def test_system_takeoff_operator_location_is_the_home_point() -> None:
    from dronewatch.protocols.astm.enums import OperatorLocationType

    take = observe(dec(System(operator_location_type=OperatorLocationType.TAKEOFF,
                              operator_lat=51.46, operator_lon=-0.47)))
    live = observe(dec(System(operator_location_type=OperatorLocationType.LIVE_GNSS,
                              operator_lat=51.46, operator_lon=-0.47)))
    assert take is not None and (take.home_lat, take.home_lon) == (51.46, -0.47)
    assert live is not None and live.home_lat is None


def test_system_timestamp_zero_means_no_clock() -> None:
    o = observe(dec(System(operator_lat=51.46, operator_lon=-0.47,
                           system_timestamp=ASTM_EPOCH_OFFSET)))
    assert o is not None and o.sender_time is None


def test_null_island_is_no_position() -> None:
    o = observe(dec(System(operator_lat=0.001, operator_lon=-0.001)))
    assert o is not None and o.operator_lat is None and o.operator_lon is None


def test_operator_and_self_id() -> None:
    o = observe(dec(OperatorId(operator_id="GBR-OP-123ABCD")))
    assert o is not None and o.operator_id == "GBR-OP-123ABCD"
    s = observe(dec(SelfId(description="survey")))
    assert s is not None and s.message_type == "self_id" and s.uas_id is None


def test_dji_telemetry_velocity_vector() -> None:
    msg = make_telemetry(serial="1WNBH3900201N1", lat=51.446356, lon=7.267219, alt=141.0,
                         height=4.2, speed_north=3.0, speed_east=-4.0, speed_up=0.5,
                         home_lat=51.446281, home_lon=7.267357, operator_lat=51.446230,
                         operator_lon=7.267104, uuid="113643553217153433")
    o = observe(dec(msg, Transport.DJI_OCUSYNC))
    assert o is not None
    assert o.serial == "1WNBH3900201N1" and o.uas_id is None
    assert o.session_id is None  # the app UUID never identifies a drone with a serial
    assert o.lat == pytest.approx(51.446356, abs=1e-6)
    assert o.speed == pytest.approx(5.0, abs=0.02)
    assert o.direction == pytest.approx(math.degrees(math.atan2(-4.0, 3.0)) % 360, abs=0.5)
    assert o.vspeed == pytest.approx(0.5, abs=0.01)
    assert o.home_lat == pytest.approx(51.446281, abs=1e-6)
    assert o.operator_lon == pytest.approx(7.267104, abs=1e-6)
    assert o.alt_baro == pytest.approx(141.0) and o.height == pytest.approx(4.2, abs=0.1)


def test_fr_beacon() -> None:
    fr = FrBeacon(uas_id="ABCDEFGHIJKLMNOPQRSTUVWXYZ1234", serial="1ABCD1234567", lat=48.85,
                  lon=2.35, alt=80.0, height=45.0, home_lat=48.849, home_lon=2.349,
                  speed=7.0, direction=90.0)
    o = observe(dec(fr, Transport.FR_BEACON))
    assert o is not None
    assert o.uas_id == "ABCDEFGHIJKLMNOPQRSTUVWXYZ1234" and o.serial == "1ABCD1234567"
    assert (o.lat, o.lon, o.alt_geo, o.height, o.speed, o.direction) == (
        48.85, 2.35, 80.0, 45.0, 7.0, 90.0)
    assert (o.home_lat, o.home_lon) == (48.849, 2.349)


class _Weird(Message, frozen=True):
    type: ClassVar[str] = "location"
    lat: object = "not a number"
    lon: float = math.nan
    speed: object = None


class _Other(Message, frozen=True):
    type: ClassVar[str] = "authentication"


def test_garbage_values_become_none_and_unknown_types_are_ignored() -> None:
    o = observe(dec(_Weird()))
    assert o is not None and o.lat is None and o.lon is None and o.speed is None
    assert observe(dec(_Other())) is None
