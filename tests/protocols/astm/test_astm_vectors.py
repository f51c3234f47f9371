"""Real Remote ID payloads from the captures in tests/data, checked against their oracles.

The hex strings are the Remote ID payloads (message counter stripped) cut out of the named
captures with a throwaway script (Wi-Fi: vendor element FA:0B:BC type 0x0D; BLE: service
data UUID 0xFFFA, app code 0x0D). Expected values come from the ``*.oracle.json`` files
(tshark + opendroneid dissector) where the oracle has them, else from the standard's
scaling applied by hand to the bytes (noted per assertion).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dronewatch.protocols.astm import (
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
    auth_payload,
    decode,
    encode,
    encode_pack,
    location_time,
)

# odid_wifi_bcn_sample.pcap, first beacon (counter 208): protocol version 0 pack of 5.
WIFI_BCN_PACK = bytes.fromhex(
    "f01905"
    "00004d464731413031323334353637383900000000000050f6"  # reserved bytes not zero
    "10005c527ebcba251ba88cb4b60000aa099808394100000a00"
    "300052656372656174696f6e616c0000000000000000000000"
    "4004a485251b6edbb3b6010032000000001500000000000000"
    "50004742522d4f502d31323341424344000000000000000000"
)
# Same capture, second beacon (counter 210): the Location has a different position.
WIFI_BCN_PACK_2_LOCATION = bytes.fromhex("100023527e4bba251bad99b4b60000aa099808394100000a00")

# wireless_RID_test_linux_transmitter.pcapng, first beacon: protocol version 2 pack of 9
# (two Basic IDs, Location, three Authentication pages, Self-ID, System, Operator ID).
WIRELESS_V2_PACK = bytes.fromhex(
    "f21909"
    "02123131323632343135304139304533414531454330000000"
    "02424644333435344237373845353635433234423730000000"
    "1226b500005816af1e38cdffff9808ac0870084a63150e0100"
    "2210023f003fab013132333435363738393031323334353637"
    "22113132333435363738393031323334353637383930313233"
    "22123132333435363738393031323334353637383930313233"
    "320044726f6e65204944207465737420666c696768742d2d2d"
    "420410270000f0d8ffff010000d007d00712f907d51cac0100"
    "520046494e38376173747264676531326b3800000000ac0100"
)

# odid_bt5_lr_sample.pcapng, BLE 5 long range service data: protocol version 0 pack of 5.
BT5_PACK = bytes.fromhex(
    "f01905"
    "00125353455654464739333730303037300000000000000000"
    "1023b5ff7e000000000000000062070000cf07005000000100"
    "300044726f6e652049442064656d6f00000000000000000000"
    "40040000000000000000010000000000001100000000000000"
    "500046494e38376173747264676531326b78797a3800000000"
)
# Same capture: the transmitter's first packs announce zero messages.
BT5_EMPTY_PACK = bytes.fromhex("f01900")

# odid_wifi_sample.pcap: packs of one message each.
WIFI_SAMPLE_OPERATOR = bytes.fromhex("f0190150004742522d4f502d31323341424344000000000000000004")
WIFI_SAMPLE_LOCATION = bytes.fromhex("f0190110026c527e979f251be6eab3b60000aa099808394100000a00")


def _oracle(data_dir: Path, name: str) -> dict[str, list[object]]:
    data: dict[str, list[object]] = json.loads((data_dir / f"{name}.oracle.json").read_text())
    return data


def test_vector_lengths() -> None:
    assert len(WIFI_BCN_PACK) == 3 + 5 * 25
    assert len(WIRELESS_V2_PACK) == 3 + 9 * 25
    assert len(BT5_PACK) == 3 + 5 * 25


def test_wifi_beacon_pack_against_oracle(data_dir: Path) -> None:
    oracle = _oracle(data_dir, "odid_wifi_bcn_sample.pcap")
    msgs = decode(WIFI_BCN_PACK)
    assert [type(m) for m in msgs] == [BasicId, Location, SelfId, System, OperatorId]
    basic, loc, self_id, system, operator = msgs
    assert isinstance(basic, BasicId)
    assert basic.uas_id == oracle["uas_ids"][0] == "MFG1A0123456789"
    assert basic.protocol_version == 0
    assert (basic.id_type, basic.ua_type) == (IdType.NONE, UaType.NONE)

    assert isinstance(loc, Location)
    first = oracle["locations"][0]
    assert isinstance(first, list)
    assert loc.lat == pytest.approx(first[1], abs=1e-9) and loc.lat == 45.5457468
    assert loc.lon == pytest.approx(first[2], abs=1e-9) and loc.lon == -122.9681496
    assert loc.alt_geo == first[3] == 237.0
    # by hand from the bytes: flags 0x00 -> status undeclared, E/W and multiplier clear
    assert loc.status == Status.UNDECLARED
    assert loc.direction == 92.0  # 0x5c, E/W bit clear
    assert loc.speed == 20.5  # 0x52 * 0.25
    assert loc.vspeed is None  # 0x7e = 63 m/s = unknown
    assert loc.alt_baro is None  # raw 0 = -1000 m = unknown
    assert loc.height == 100.0 and loc.height_type == HeightType.ABOVE_TAKEOFF
    assert (loc.horiz_accuracy, loc.vert_accuracy) == (30.0, 25.0)  # 0x39: 9 / 3
    assert (loc.baro_accuracy, loc.speed_accuracy) == (10.0, 10.0)  # 0x41: 4 / 1
    assert loc.timestamp == 0.0 and loc.timestamp_accuracy == 1.0

    assert isinstance(self_id, SelfId)
    assert self_id.desc_type == DescType.TEXT and self_id.description == "Recreational"

    assert isinstance(system, System)
    op = oracle["operators"][0]
    assert isinstance(op, list)
    assert system.operator_lat == pytest.approx(op[1], abs=1e-9)
    assert system.operator_lon == pytest.approx(op[2], abs=1e-9)
    assert system.classification_type == ClassificationType.EUROPEAN_UNION
    assert (system.category_eu, system.class_eu) == (CategoryEu.OPEN, ClassEu.CLASS_4)
    assert system.area_count == 1 and system.area_radius == 500  # 0x32 * 10 m
    assert system.area_ceiling is None and system.area_floor is None
    assert system.system_timestamp is None  # version 0: reserved bytes

    assert isinstance(operator, OperatorId)
    assert operator.operator_id == oracle["operator_ids"][0] == "GBR-OP-123ABCD"
    assert operator.operator_id_type == OperatorIdType.OPERATOR_ID


def test_wifi_beacon_second_location(data_dir: Path) -> None:
    oracle = _oracle(data_dir, "odid_wifi_bcn_sample.pcap")
    (loc,) = decode(WIFI_BCN_PACK_2_LOCATION)
    second = oracle["locations"][1]
    assert isinstance(loc, Location) and isinstance(second, list)
    assert (loc.lat, loc.lon, loc.alt_geo) == pytest.approx(second[1:4], abs=1e-9)
    assert loc.speed == 20.5  # 0x52 x 0.25 m/s
    assert loc.direction == 35.0


def test_wireless_v2_pack(data_dir: Path) -> None:
    oracle = _oracle(data_dir, "wireless_RID_test_linux_transmitter.pcapng")
    msgs = decode(WIRELESS_V2_PACK)
    assert [m.type for m in msgs] == [
        "basic_id",
        "basic_id",
        "location",
        "authentication",
        "authentication",
        "authentication",
        "self_id",
        "system",
        "operator_id",
    ]
    b1, b2, loc, a0, a1, a2, self_id, system, operator = msgs
    assert isinstance(b1, BasicId) and isinstance(b2, BasicId)
    assert b1.uas_id == oracle["uas_ids"][0] == "112624150A90E3AE1EC0"
    assert (b1.id_type, b1.ua_type) == (IdType.SERIAL_NUMBER, UaType.HELICOPTER_OR_MULTIROTOR)
    assert b2.id_type == IdType.SPECIFIC_SESSION_ID and b2.uas_id == "FD3454B778E565C24B70"
    assert all(getattr(m, "protocol_version", None) == 2 for m in msgs)

    assert isinstance(loc, Location)
    first = oracle["locations"][0]
    assert isinstance(first, list)
    assert (loc.lat, loc.lon, loc.alt_geo) == pytest.approx(first[1:4], abs=1e-9)
    assert loc.status == Status.AIRBORNE and loc.height_type == HeightType.ABOVE_GROUND
    assert loc.direction is None  # 0xb5 + E/W = 361 = unknown
    assert (loc.speed, loc.vspeed) == (0.0, 0.0)
    assert (loc.alt_baro, loc.height) == (100.0, 80.0)
    assert loc.timestamp == 360.5  # 0x0e15 = 3605 tenths
    assert loc.timestamp_accuracy == 0.1
    assert (loc.horiz_accuracy, loc.vert_accuracy, loc.baro_accuracy, loc.speed_accuracy) == (
        10.0,
        10.0,
        1.0,
        1.0,
    )

    assert isinstance(a0, Authentication)
    assert a0.auth_type == AuthType.UAS_ID_SIGNATURE and a0.page_number == 0
    assert (a0.last_page_index, a0.length) == (2, 63)
    assert a0.auth_timestamp == 1574300800.0  # 0x01ab3f00 s after 2019-01-01
    assert a0.auth_data == b"12345678901234567"
    assert isinstance(a1, Authentication) and isinstance(a2, Authentication)
    assert (a1.page_number, a2.page_number) == (1, 2)
    assert a1.last_page_index is None and a1.length is None and a1.auth_timestamp is None
    assert a1.auth_data == a2.auth_data == b"12345678901234567890123"
    assert len(a0.auth_data + a1.auth_data + a2.auth_data) == a0.length

    assert isinstance(self_id, SelfId) and self_id.description == "Drone ID test flight---"
    assert isinstance(system, System)
    op = oracle["operators"][0]
    assert isinstance(op, list)
    assert (system.operator_lat, system.operator_lon) == pytest.approx(op[1:3], abs=1e-9)
    assert system.operator_location_type == OperatorLocationType.TAKEOFF
    assert (system.category_eu, system.class_eu) == (CategoryEu.OPEN, ClassEu.CLASS_1)
    assert (system.area_ceiling, system.area_floor) == (0.0, 0.0)  # raw 2000
    assert system.operator_alt == 20.5
    assert system.system_timestamp == 1574357589.0  # version 2: 0x01ac1cd5 + 2019 epoch
    assert isinstance(operator, OperatorId)
    assert operator.operator_id == oracle["operator_ids"][0] == "FIN87astrdge12k8"


def test_bt5_pack(data_dir: Path) -> None:
    oracle = _oracle(data_dir, "odid_bt5_lr_sample.pcapng")
    basic, loc, self_id, system, operator = decode(BT5_PACK)
    assert isinstance(basic, BasicId) and basic.uas_id == oracle["uas_ids"][0]
    assert isinstance(operator, OperatorId)
    assert operator.operator_id == oracle["operator_ids"][0] == "FIN87astrdge12kxyz8"
    assert isinstance(loc, Location)
    # the oracle has no location: every position field is the "unknown" sentinel
    assert oracle["locations"] == []
    assert (loc.lat, loc.lon, loc.direction, loc.speed, loc.vspeed) == (None,) * 5
    assert loc.alt_geo is None and loc.alt_baro == -55.0 and loc.height == -0.5
    assert isinstance(self_id, SelfId) and self_id.description == "Drone ID demo"
    assert isinstance(system, System)
    assert system.operator_lat is None and system.operator_lon is None
    assert oracle["operators"] == []


def test_bt5_empty_pack_is_corrupt() -> None:
    from dronewatch.errors import Corrupt

    with pytest.raises(Corrupt) as exc:
        decode(BT5_EMPTY_PACK)
    assert exc.value.reason == "astm-pack-count"


def test_wifi_sample_single_message_packs(data_dir: Path) -> None:
    oracle = _oracle(data_dir, "odid_wifi_sample.pcap")
    (operator,) = decode(WIFI_SAMPLE_OPERATOR)
    assert isinstance(operator, OperatorId) and operator.operator_id == oracle["operator_ids"][0]
    (loc,) = decode(WIFI_SAMPLE_LOCATION)
    first = oracle["locations"][0]
    assert isinstance(loc, Location) and isinstance(first, list)
    assert (loc.lat, loc.lon, loc.alt_geo) == pytest.approx(first[1:4], abs=1e-9)
    assert loc.direction == 288.0  # 0x6c + 180 (E/W bit)


def test_real_packs_reencode_byte_exact() -> None:
    assert encode_pack(decode(BT5_PACK), version=0) == BT5_PACK
    again = encode_pack(decode(WIRELESS_V2_PACK), version=2)
    # This transmitter leaves stale bytes in the Operator ID's reserved bytes 22-24
    # (the last three bytes of the pack); everything else is reproduced exactly.
    assert WIRELESS_V2_PACK[-3:] == b"\xac\x01\x00" and again[-3:] == b"\0\0\0"
    assert again[:-3] == WIRELESS_V2_PACK[:-3]


def test_reserved_bytes_are_ignored_and_written_zero() -> None:
    msgs = decode(WIFI_BCN_PACK)
    again = encode_pack(msgs, version=0)
    assert again[3 + 22 : 3 + 25] == b"\0\0\0"  # Basic ID reserved bytes, sent as 00 50 f6
    assert again[3 + 25 :] == WIFI_BCN_PACK[3 + 25 :]
    assert decode(again) == msgs


def test_real_messages_reencode_byte_exact() -> None:
    for payload in (WIFI_BCN_PACK_2_LOCATION,):
        (msg,) = decode(payload)
        assert encode(msg) == payload


def test_json_rendering() -> None:
    basic = decode(WIRELESS_V2_PACK)[0]
    assert basic.fields() == {
        "protocol_version": 2,
        "id_type": "serial_number",
        "ua_type": "helicopter_or_multirotor",
        "uas_id": "112624150A90E3AE1EC0",
    }
    auth = decode(WIRELESS_V2_PACK)[3].fields()
    assert auth["auth_type"] == "uas_id_signature"
    assert auth["auth_data"] == b"12345678901234567".hex()


def test_auth_payload_reassembles_real_pages() -> None:
    pages = [m for m in decode(WIRELESS_V2_PACK) if isinstance(m, Authentication)]
    assert auth_payload(pages) == b"12345678901234567" + b"12345678901234567890123" * 2
    assert auth_payload(pages[::-1]) == auth_payload(pages)  # order does not matter
    assert auth_payload(pages[:2]) is None  # page 2 missing
    assert auth_payload(pages[1:]) is None  # page 0 missing


def test_location_time_resolves_the_hour() -> None:
    (loc,) = [m for m in decode(WIRELESS_V2_PACK) if isinstance(m, Location)]
    # capture time of this beacon (oracle): 1728056719.01 = 2024-10-04T15:45:19Z; the test
    # transmitter sends a fixed 06:00.5, nearer to 16:06:00.5 than to 15:06:00.5
    assert loc.timestamp == 360.5
    hour = 1728054000.0  # 15:00:00Z
    assert location_time(loc.timestamp, 1728056719.0099514) == hour + 3600 + 360.5
    assert location_time(loc.timestamp, hour + 300.0) == hour + 360.5
    assert location_time(3599.9, hour + 3600 + 0.1) == hour + 3599.9  # just before the hour
    assert location_time(0.1, hour + 3599.9) == hour + 3600.1  # just after
    assert location_time(None, hour) is None
