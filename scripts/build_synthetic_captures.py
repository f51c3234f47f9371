#!/usr/bin/env python3
"""Build the synthetic test captures of tests/data/synthetic/ with dronewatch's encoders.

They reproduce, byte for byte, the cases issue 13 found in real captures that cannot be
published (see tests/data/PROVENANCE.md):

``rid_short_packs.pcapng``
    Three spoofing rigs (Wi-Fi beacon, Wi-Fi NAN, Bluetooth 5 long range) send message packs
    that announce 4 messages (Basic ID, Location, System, Operator ID) in an element 3 bytes
    too short: the Operator ID is cut. Their content is what a spoofer sends: positions that
    jump 5 km every 10 s, a pilot 40 km away, and a sender clock that jumps back an hour
    half-way through.
``rid_prestandard_oui.pcapng``
    Wi-Fi beacons whose Remote ID vendor element is under OUI 90:3A:E6 (type 0x0D), as 2021
    ESP32 transmitter firmware sends them: F3411-19 messages in 5-message packs.
``rid_probe_responses.pcapng``
    A transmitter answering probe requests: 56 probe responses carrying Remote ID, of which
    32 are link-layer retransmissions (retry flag, same sequence number, same transmitter);
    one retransmission whose original was not captured; beacons of the same transmitter
    in between.

Run ``python scripts/build_synthetic_captures.py [OUT_DIR]`` (default tests/data/synthetic);
``tests/protocols/test_issue_captures.py`` checks that the committed files are what this
script builds.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from dronewatch.model import Message
from dronewatch.protocols import ble, wifi
from dronewatch.protocols.astm import (
    BasicId,
    CategoryEu,
    ClassEu,
    ClassificationType,
    IdType,
    Location,
    OperatorId,
    SelfId,
    Status,
    System,
    UaType,
    encode,
    encode_pack,
)
from dronewatch.sources.pcap import PcapngWriter

T0 = 1_735_732_800.0  # 2025-01-01T12:00:00Z
RADIOTAP = wifi.LINKTYPE_IEEE802_11_RADIOTAP
LL_PHDR = ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR
CUT = 3  # bytes missing from the end of each short pack

PARIS = (48.8566, 2.3522)
METRES_PER_DEG_LAT = 111_320.0


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (lat + north_m / METRES_PER_DEG_LAT,
            lon + east_m / (METRES_PER_DEG_LAT * math.cos(math.radians(lat))))


def _spoofer_pack(uas_id: str, operator_id: str, second: int, capture_time: float) -> bytes:
    """A pack announcing 4 messages, 3 bytes short: the Operator ID is cut."""
    jump = 5000.0 if (second // 10) % 2 else 0.0  # teleports 5 km east every other 10 s
    lat, lon = _offset(*PARIS, 0.0, jump + 2.0 * (second % 10))
    op_lat, op_lon = _offset(*PARIS, 40_000.0, 0.0)  # the "pilot", 40 km north
    clock = capture_time if second < 30 else capture_time - 3600.0  # the clock jumps 1 h back
    messages: list[Message] = [
        BasicId(id_type=IdType.SERIAL_NUMBER, ua_type=UaType.HELICOPTER_OR_MULTIROTOR,
                uas_id=uas_id),
        Location(status=Status.AIRBORNE, direction=90.0, speed=2.0, vspeed=0.0, lat=lat,
                 lon=lon, alt_geo=150.0, height=80.0, horiz_accuracy=3.0, vert_accuracy=3.0,
                 speed_accuracy=0.3, timestamp=round(clock % 3600.0, 1),
                 timestamp_accuracy=0.1),
        System(classification_type=ClassificationType.EUROPEAN_UNION,
               operator_lat=op_lat, operator_lon=op_lon, category_eu=CategoryEu.OPEN,
               class_eu=ClassEu.CLASS_1, operator_alt=60.0,
               system_timestamp=float(math.floor(clock))),
        OperatorId(operator_id=operator_id),
    ]
    return encode_pack([encode(m) for m in messages])[:-CUT]


def short_packs(path: Path) -> None:
    wifi_rig = bytes.fromhex("025f00000001")
    nan_rig = bytes.fromhex("025f00000002")
    ble_rig = bytes.fromhex("c25f00000003")  # a random static address, sent LSB first below
    with PcapngWriter(path) as out:
        for second in range(60):
            t = T0 + second
            pack = _spoofer_pack("SPOOFRIGWIFI0000001", "FRAOP-WIFI-0001", second, t)
            element = wifi.astm_element(second, pack)
            beacon = wifi.build_beacon(wifi_rig, [element], ssid=b"RID-SPOOF", seq=second)
            # with its FCS, as many monitor-mode drivers deliver frames
            out.write(t, RADIOTAP, wifi.build_radiotap(-48, 2437, fcs=True) + wifi.with_fcs(beacon))
            pack = _spoofer_pack("SPOOFRIGNAN00000002", "FRAOP-NAN-0002", second, t + 0.2)
            sdf = wifi.build_nan_sdf(nan_rig, second, pack, seq=second)
            out.write(t + 0.2, RADIOTAP, wifi.build_radiotap(-52, 2437) + sdf)
            pack = _spoofer_pack("SPOOFRIGBLE00000003", "FRAOP-BLE-0003", second, t + 0.4)
            pdu = ble.aux_adv_pdu(ble_rig[::-1], ble.odid_service_data(second, pack), adi=0x0E75)
            out.write(t + 0.4, LL_PHDR, ble.phdr_packet(pdu, 10, -60, coded=True))


def _esp32_pack(second: int, capture_time: float) -> bytes:
    lat, lon = _offset(52.0907, 5.1214, 3.0 * second, 0.0)  # Utrecht, flying north at 3 m/s
    messages: list[Message] = [
        BasicId(protocol_version=0, id_type=IdType.SERIAL_NUMBER,
                ua_type=UaType.HELICOPTER_OR_MULTIROTOR, uas_id="1596A0ESP32SN2021"),
        Location(protocol_version=0, status=Status.AIRBORNE, direction=0.0, speed=3.0,
                 vspeed=0.5, lat=lat, lon=lon, alt_geo=110.0, alt_baro=108.5, height=40.0,
                 horiz_accuracy=10.0, vert_accuracy=10.0, baro_accuracy=3.0,
                 speed_accuracy=1.0, timestamp=round(capture_time % 3600.0, 1),
                 timestamp_accuracy=0.2),
        SelfId(protocol_version=0, description="ESP32 test flight"),
        System(protocol_version=0, classification_type=ClassificationType.EUROPEAN_UNION,
               operator_lat=52.0905, operator_lon=5.1210, category_eu=CategoryEu.OPEN,
               class_eu=ClassEu.CLASS_0, operator_alt=5.0,
               system_timestamp=float(math.floor(capture_time))),
        OperatorId(protocol_version=0, operator_id="NLD-OP-ESP32"),
    ]
    return encode_pack([encode(m) for m in messages], version=0)


def prestandard_oui(path: Path) -> None:
    source = bytes.fromhex("246f28a1b2c3")  # an Espressif address
    with PcapngWriter(path) as out:
        for second in range(21):
            t = T0 + 3600.0 + second
            body = bytes((wifi.ASTM_OUI_TYPE, second)) + _esp32_pack(second, t)
            element = wifi.vendor_element(wifi.OUI_ASTM_PRESTANDARD, body)
            beacon = wifi.build_beacon(source, [element], ssid=b"ESP32-RID", seq=second * 3)
            out.write(t, RADIOTAP, wifi.build_radiotap(-61, 2412) + beacon)


# Probe responses: (sequence number, retransmissions). The original goes first, the
# retransmissions follow with the retry flag: 24 answered probes, 32 retransmissions.
_PROBES = [(100 + i, 3 if i % 3 == 0 else 1 if i % 3 == 1 else 0) for i in range(24)]
_MISSED_ORIGINAL = 4  # the probe whose original response was not captured


def probe_responses(path: Path) -> None:
    source = bytes.fromhex("0260a1000001")
    prober = bytes.fromhex("5e0000000042")
    t = T0 + 7200.0
    with PcapngWriter(path) as out:
        for n, (seq, retries) in enumerate(_PROBES):
            pack = _esp32_pack(n, t)
            element = wifi.astm_element(n, pack)
            # a beacon of the same transmitter between the answers (broadcast: never retried)
            beacon = wifi.build_beacon(source, [element], ssid=b"RID-PROBED", seq=seq - 50)
            out.write(t, RADIOTAP, wifi.build_radiotap(-40, 2462) + beacon)
            for k in range(1 + retries):
                t += 0.0005
                if n == _MISSED_ORIGINAL and k == 0:
                    continue  # not captured: the retransmission is the first copy heard
                response = wifi.build_beacon(source, [element], ssid=b"RID-PROBED", seq=seq,
                                             probe_response=True, destination=prober,
                                             retry=k > 0)
                out.write(t, RADIOTAP, wifi.build_radiotap(-40, 2462) + response)
            t += 0.5
        # 56 probe responses were sent, 55 captured (1 original missed), 32 retries


BUILDERS = {
    "rid_short_packs.pcapng": short_packs,
    "rid_prestandard_oui.pcapng": prestandard_oui,
    "rid_probe_responses.pcapng": probe_responses,
}


def build_all(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in BUILDERS.items():
        build(out_dir / name)
        paths.append(out_dir / name)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        Path(__file__).resolve().parent.parent / "tests" / "data" / "synthetic")
    for p in build_all(target):
        print(p)
