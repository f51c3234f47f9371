#!/usr/bin/env python3
"""Regenerate the expected decodes of the test captures from INDEPENDENT decoders.

For every capture it writes ``<capture>.expected.jsonl``: one JSON object per message, in
capture order, with the keys ``dronewatch decode --json`` prints. The values come from:

* Remote ID (Wi-Fi beacon, Wi-Fi NAN, Bluetooth): tshark with the opendroneid Wireshark Lua
  dissector (github.com/opendroneid/wireshark-dissector; not part of dronewatch: pass the
  path of your copy of ``opendroneid-dissector.lua`` with ``--dissector``), read as PDML.
  Link-layer values (time, transmitter, RSSI, channel, frequency, frame kind) are what
  tshark's own 802.11, radiotap and Bluetooth dissectors show; message values are the
  dissector's decoded texts ("45.5457468 deg", "237.0 m", "20.50 m/s", "<30 m") and labels
  ("Helicopter (or Multirotor)"), turned into dronewatch's names and units by the mappings
  below (``LABELS``, ``_accuracy``); fields the dissector shows only raw are scaled here
  by F3411's own factors (timestamps in tenths of seconds, system time from 2019-01-01).
* DJI DroneID in Wi-Fi beacons: no independent DJI decoder runs here (Wireshark has none;
  Kismet's parser is disabled for version 2 records). The vendor element's bytes are what
  tshark shows (``wlan.tag.vendor.data``); the record is read from them below, written
  apart from dronewatch after Kismet's published layout (dot11_ie_221_dji_droneid.ksy) and
  the cyber-defence-campus RemoteIDReceiver parser, with the units settled in
  dronewatch.protocols.dji_droneid.
* DJI OcuSync IQ (``mavic_air_2.cf32``): ``mavic_air_2.expected.json``, what an independent
  chain (turbo decoder, CRC-24A verified) read from it (see /work/shared/data/README.md).

Differences between what dronewatch and these decoders are asked to do are mappings here,
each documented where it is made:

* packets whose link layer says they are broken (a failed Bluetooth CRC) carry nothing:
  the dissector decodes them anyway, dronewatch drops them;
* 802.11 retransmissions (retry flag, same sequence number, same transmitter as the
  frame before) are dropped, as dronewatch does;
* the opendroneid dissector reads beacons and NAN action frames, not probe responses.

Run (from the repository root, with tshark 4.x installed):

    .venv/bin/python scripts/regenerate_expected.py --dissector /path/to/opendroneid-dissector.lua

Options: ``--tshark PATH``; captures as arguments (default: every capture in tests/data,
and the synthetic ones tshark can read).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
DEFAULT_CAPTURES = [
    *sorted(DATA.glob("*.pcap")),
    *sorted(DATA.glob("*.pcapng")),
    DATA / "mavic_air_2.cf32",
    DATA / "synthetic" / "rid_short_packs.pcapng",
    DATA / "synthetic" / "rid_prestandard_oui.pcapng",
]
SENSOR = "local"  # the sensor name dronewatch decode gives frames by default
ASTM_EPOCH = 1_546_300_800  # 2019-01-01T00:00:00Z, the epoch of F3411 system timestamps

# --- naming: the dissector's labels -> dronewatch's JSON values --------------------------------

LABELS: dict[str, dict[str, str]] = {
    "basicID_idType": {"None": "none", "Serial Number (ANSI/CTA-2063-A)": "serial_number",
                       "CAA Assigned Registration ID": "caa_registration_id",
                       "UTM Assigned UUID": "utm_assigned_uuid",
                       "Specific Session ID": "specific_session_id"},
    "basicID_uaType": {"None/Not Declared": "none", "Aeroplane": "aeroplane",
                       "Helicopter (or Multirotor)": "helicopter_or_multirotor",
                       "Gyroplane": "gyroplane", "Hybrid Lift": "hybrid_lift",
                       "Ornithopter": "ornithopter", "Glider": "glider", "Kite": "kite",
                       "Free Balloon": "free_balloon", "Captive Balloon": "captive_balloon",
                       "Airship (such as a blimp)": "airship",
                       "Free Fall/Parachute (unpowered)": "free_fall_parachute",
                       "Rocket": "rocket", "Tethered Powered Aircraft":
                       "tethered_powered_aircraft", "Ground Obstacle": "ground_obstacle",
                       "Other": "other"},
    "loc_status": {"Undeclared": "undeclared", "On Ground": "ground", "Airborne": "airborne",
                   "Emergency": "emergency",
                   "Remote ID System Failure": "remote_id_system_failure"},
    "loc_flag_heightType": {"Above Takeoff": "above_takeoff", "AGL": "above_ground"},
    "self_type": {"Text Description": "text", "Emergency Description": "emergency",
                  "Extended Status Description": "extended_status"},
    "system_flag_class": {"Undeclared": "undeclared", "European Union": "european_union"},
    # the dissector's "Dynamic" is F3411's live GNSS operator position
    "system_flag_locType": {"Take Off": "takeoff", "Dynamic": "live_gnss", "Fixed": "fixed"},
    "system_category": {"Undefined": "undeclared", "Open": "open", "Specific": "specific",
                        "Certified": "certified"},
    "system_class": {"Undefined": "undeclared", **{f"Class {i}": f"class_{i}" for i in range(7)}},
    "operator_type": {"Operator ID": "operator_id"},
    "auth_type": {"None": "none", "UAS ID Signature": "uas_id_signature",
                  "Operator ID Signature": "operator_id_signature",
                  "Message Set Signature": "message_set_signature",
                  "Authentication Provided by Network Remote ID": "network_remote_id",
                  "Specific Method": "specific_authentication"},
}


def _label(showname: str) -> str:
    """``"0000 .... = ID Type: None  (0)"`` -> ``"None"``."""
    text = showname.split(": ", 1)[1]
    return re.sub(r"\s*\(\d+\)$", "", text).strip()


def _named(kind: str, showname: str) -> str:
    return LABELS[kind][_label(showname)]


def _decoded(showname: str, unit: str) -> float | None:
    """The dissector's decoded value in ``showname`` ("... (237.0 m, ...)"); None when it
    says the value is unknown."""
    if "(Unknown)" in showname:
        return None
    match = re.search(r"\((-?[\d.]+) " + re.escape(unit), showname)
    if match is None:
        raise ValueError(f"no {unit} value in {showname!r}")
    return float(match.group(1))


def _accuracy(showname: str) -> float | None:
    """An accuracy label -> its bound in metres (m/s); unknown and reserved -> None."""
    label = _label(showname)
    match = re.match(r"<\s*([\d.]+)\s*(km|m)\b", label)
    if match is None:  # ">=... or Unknown", "Reserved"
        return None
    value = float(match.group(1))
    return value * 1000.0 if match.group(2) == "km" else value


def _le(value_hex: str, signed: bool = False) -> int:
    return int.from_bytes(bytes.fromhex(value_hex), "little", signed=signed)


def _text(text: str) -> str | None:
    """A NUL-padded text field: up to its first NUL, without padding spaces."""
    text = text.split("\x00", 1)[0].strip()
    return text or None


# --- tshark PDML --------------------------------------------------------------------------------


def _packets(tshark: str, dissector: Path, capture: Path) -> Iterator[ET.Element]:
    proc = subprocess.Popen(
        [tshark, "-n", "-X", f"lua_script:{dissector}", "-r", str(capture), "-T", "pdml"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    for _event, element in ET.iterparse(proc.stdout, events=("end",)):
        if element.tag == "packet":
            yield element
            element.clear()
    if proc.wait() != 0:
        raise SystemExit(f"tshark failed on {capture}")


def _fields(packet: ET.Element) -> dict[str, list[ET.Element]]:
    out: dict[str, list[ET.Element]] = {}
    for field in packet.iter("field"):
        out.setdefault(field.get("name", ""), []).append(field)
    return out


def _first(fields: dict[str, list[ET.Element]], name: str, attr: str = "show") -> str | None:
    found = fields.get(name)
    return None if not found else found[0].get(attr)


def _ble_mhz(index: int) -> int:
    """Centre frequency of a Bluetooth LE channel index (Core spec, Vol 6 Part B 1.4.1).

    Written here again on purpose: expected values must not come from the code under test.
    """
    if index == 37:
        return 2402
    if index == 38:
        return 2426
    if index == 39:
        return 2480
    return 2404 + 2 * index if index <= 10 else 2428 + 2 * (index - 11)


_WLAN_KINDS = {8: "beacon", 5: "probe_response", 13: "action", 14: "action"}


def _link(fields: dict[str, list[ET.Element]]) -> dict[str, Any] | None:
    """The frame metadata dronewatch prints, from tshark's link-layer fields; None for a
    packet that carries nothing (failed CRC)."""
    time = float(_first(fields, "frame.time_epoch") or "nan")
    if "wlan.fc.type_subtype" in fields:
        subtype = int(_first(fields, "wlan.fc.type_subtype") or "0", 0)
        freq = _first(fields, "radiotap.channel.freq")
        rssi = _first(fields, "radiotap.dbm_antsignal")
        channel = _first(fields, "wlan_radio.channel")
        return {
            "time": time, "frame_kind": _WLAN_KINDS.get(subtype & 0xF),
            "source": _first(fields, "wlan.sa"),
            "rssi": None if rssi is None else float(rssi),
            "channel": None if channel is None else int(channel),
            "frequency": None if freq is None else float(freq) * 1e6, "sensor": SENSOR,
        }
    if "btle.advertising_header.pdu_type" in fields:
        crc_ok = _first(fields, "nordic_ble.crcok")
        rf_crc_bad = (_first(fields, "btle_rf.flags.crc_checked") == "1"
                      and _first(fields, "btle_rf.flags.crc_valid") == "0")
        if crc_ok == "0" or rf_crc_bad or "btle.crc.incorrect" in fields:
            return None  # a failed CRC: nothing in it can be trusted
        pdu_type = int(_first(fields, "btle.advertising_header.pdu_type") or "0", 0)
        channel: int | None = None
        mhz: float | None = None
        rssi = _first(fields, "nordic_ble.rssi")
        if "nordic_ble.channel" in fields:  # nRF Sniffer: the channel index
            channel = int(_first(fields, "nordic_ble.channel") or "0")
            mhz = _ble_mhz(channel)
        elif "btle_rf.channel" in fields:  # LE LL with PHDR: "RF Channel: 11, 2424 MHz,
            # Data channel 10" (the RF channel, its frequency, the channel index)
            text = _first(fields, "btle_rf.channel", "showname") or ""
            match = re.search(r"(\d+) MHz, \w+ channel (\d+)", text)
            if match:
                mhz, channel = float(match.group(1)), int(match.group(2))
            if _first(fields, "btle_rf.flags.signal_dbm_valid") == "1":
                rssi = _first(fields, "btle_rf.signal_dbm")
        return {
            "time": time, "transport": "ble-long-range" if pdu_type == 7 else "ble-legacy",
            "frame_kind": "aux_advert" if pdu_type == 7 else "advert",
            "source": _first(fields, "btle.advertising_address"),
            "rssi": None if rssi is None else float(rssi), "channel": channel,
            "frequency": None if mhz is None else mhz * 1e6, "sensor": SENSOR,
        }
    return None


# --- Remote ID messages from the opendroneid dissector ------------------------------------------

_MESSAGE_PROTOS = {
    "opendroneid.message.basicid": "basic_id",
    "opendroneid.message.location": "location",
    "opendroneid.message.authentication": "authentication",
    "opendroneid.message.selfid": "self_id",
    "opendroneid.message.system": "system",
    "opendroneid.message.operatorid": "operator_id",
}


def _message(proto: ET.Element, mtype: str) -> dict[str, Any]:
    f: dict[str, list[ET.Element]] = {}
    for field in proto.findall("field"):
        f.setdefault(field.get("name", "").removeprefix("OpenDroneID."), []).append(field)

    def show(name: str, i: int = 0) -> str:
        return f[name][i].get("show", "")

    def showname(name: str, i: int = 0) -> str:
        return f[name][i].get("showname", "")

    def value(name: str) -> str:
        return f[name][0].get("value", "")

    out: dict[str, Any] = {"type": mtype, "protocol_version": int(show("protoVersion"))}
    if mtype == "basic_id":
        out["id_type"] = _named("basicID_idType", showname("basicID_idType"))
        out["ua_type"] = _named("basicID_uaType", showname("basicID_uaType"))
        if "basicID_id_asc" in f:
            out["uas_id"] = _text(show("basicID_id_asc"))
        else:  # a specific session ID, shown as bytes: its characters
            out["uas_id"] = _text(bytes.fromhex(value("basicID_id_bin")).decode("latin-1"))
    elif mtype == "location":
        ts = _le(value("loc_timeStamp"))
        ts_acc = int(show("loc_tsAccuracy"))
        out.update({
            "status": _named("loc_status", showname("loc_status")),
            "direction": _decoded(showname("loc_direction"), "deg"),
            "speed": _decoded(showname("loc_speed"), "m/s"),
            "vspeed": _decoded(showname("loc_vspeed"), "m/s"),
            "lat": _decoded(showname("loc_lat"), "deg"),
            "lon": _decoded(showname("loc_lon"), "deg"),
            "alt_baro": _decoded(showname("loc_pressAlt"), "m"),
            "alt_geo": _decoded(showname("loc_geoAlt"), "m"),
            "height_type": _named("loc_flag_heightType", showname("loc_flag_heightType")),
            "height": _decoded(showname("loc_height"), "m"),
            "horiz_accuracy": _accuracy(showname("loc_hAccuracy")),
            "vert_accuracy": _accuracy(showname("loc_vAccuracy")),
            "baro_accuracy": _accuracy(showname("loc_baroAccuracy")),
            "speed_accuracy": _accuracy(showname("loc_speedAccuracy")),
            # shown raw: tenths of a second after the hour (0xFFFF unknown), accuracy in
            # tenths of a second (0 unknown)
            "timestamp": None if ts == 0xFFFF else ts / 10,
            "timestamp_accuracy": None if ts_acc == 0 else ts_acc / 10,
        })
    elif mtype == "authentication":
        out["auth_type"] = _named("auth_type", showname("auth_type"))
        out["page_number"] = int(show("auth_pageNumber"))
        page0 = out["page_number"] == 0
        stamp = _le(value("auth_timeStamp")) if page0 else 0
        out["last_page_index"] = int(show("auth_lastPageIndex")) if page0 else None
        out["length"] = int(show("auth_length")) if page0 else None
        out["auth_timestamp"] = float(stamp + ASTM_EPOCH) if stamp else None
        out["auth_data"] = value("auth_data")
    elif mtype == "self_id":
        out["desc_type"] = _named("self_type", showname("self_type"))
        out["description"] = _text(show("self_desc"))
    elif mtype == "system":
        stamp = _le(value("system_timeStamp"))
        out.update({
            "operator_location_type": _named("system_flag_locType",
                                             showname("system_flag_locType")),
            "classification_type": _named("system_flag_class", showname("system_flag_class")),
            "operator_lat": _decoded(showname("system_lat"), "deg"),
            "operator_lon": _decoded(showname("system_lon"), "deg"),
            "area_count": int(show("system_areaCount")),
            "area_radius": int(_decoded(showname("system_areaRadius"), "m") or 0),
            "area_ceiling": _decoded(showname("system_areaCeiling"), "m"),
            "area_floor": _decoded(showname("system_areaFloor"), "m"),
        })
        if "system_usClassEUCat" in f:  # category then class, both under this name
            out["category_eu"] = _named("system_category", showname("system_usClassEUCat", 0))
            out["class_eu"] = _named("system_class", showname("system_usClassEUCat", 1))
        else:  # not an EU classification: nothing declared
            out["category_eu"] = out["class_eu"] = "undeclared"
        out["operator_alt"] = _decoded(showname("system_opGeoAlt"), "m")
        out["system_timestamp"] = None if stamp == 0 else float(stamp + ASTM_EPOCH)
    elif mtype == "operator_id":
        out["operator_id_type"] = _named("operator_type", showname("operator_type"))
        out["operator_id"] = _text(show("operator_id"))
    else:
        raise SystemExit(f"no mapping for {mtype} messages yet")
    return out


def _remote_id(packet: ET.Element, link: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages the dissector decoded in ``packet``, in order."""
    out = []
    for proto in packet.iter("proto"):
        mtype = _MESSAGE_PROTOS.get(proto.get("name", ""))
        if mtype is not None:
            out.append({**link, **_message(proto, mtype)})
    return out


# --- DJI DroneID records, read after Kismet's and RemoteIDReceiver's layout ----------------------

DJI_OUIS = {"263712", "60601f", "481cb9", "34d262"}
RAD_E7 = 1e7 * math.pi / 180.0  # raw units per degree: positions are radians * 1e7


def _dji(vendor_data: bytes, link: dict[str, Any]) -> list[dict[str, Any]]:
    """The telemetry record (type 0x10, version 2) after the 3 header bytes; its fields."""
    rec = vendor_data[3:]
    if len(rec) < 2 or rec[0] != 0x10 or rec[1] != 2:
        raise SystemExit(f"no mapping for DJI record {rec[:2].hex()} yet")
    (seq, state, serial, lon, lat, alt, height, vn, ve, vu, yaw, gps_time, op_lat, op_lon,
     home_lon, home_lat, product, uuid_len) = struct.unpack_from("<HH16siihhhhhhQiiiiBB", rec, 2)
    uuid = rec[2 + struct.calcsize("<HH16siihhhhhhQiiiiBB"):][:20]

    def deg(raw: int) -> float | None:
        return None if raw == 0 else raw / RAD_E7

    north, east = vn / 100, ve / 100
    speed = math.hypot(north, east)
    return [{
        **link, "transport": "dji-wifi", "type": "dji_telemetry",
        "serial": _text(serial.split(b"\0")[0].decode("latin-1")), "sequence": seq,
        "version": rec[1], "state_info": state, "lat": deg(lat), "lon": deg(lon),
        "alt": float(alt), "height": height / 10, "speed_north": north, "speed_east": east,
        "speed_up": vu / 100, "speed": speed,
        "direction": None if speed == 0 else math.degrees(math.atan2(east, north)) % 360,
        "yaw": (yaw / 100) % 360, "pitch": None, "roll": None,
        "home_lat": deg(home_lat), "home_lon": deg(home_lon),
        "operator_lat": deg(op_lat), "operator_lon": deg(op_lon),
        # milliseconds since the epoch; some Wi-Fi senders put seconds (a value this small)
        "gps_time": None if gps_time == 0 else (
            float(gps_time) if gps_time < 10**11 else gps_time / 1000),
        "product_type": product,
        "uuid": _text(uuid.replace(b"\0", b"").decode("latin-1")) if uuid_len else None,
        "alt_raw": alt, "height_raw": height, "speed_north_raw": vn, "speed_east_raw": ve,
        "speed_up_raw": vu,
    }]


# --- captures -----------------------------------------------------------------------------------


def expected_from_tshark(tshark: str, dissector: Path, capture: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    last_seq: dict[str | None, int] = {}
    for packet in _packets(tshark, dissector, capture):
        fields = _fields(packet)
        link = _link(fields)
        if link is None:
            continue
        receiver = _first(fields, "wlan.ra") or _first(fields, "wlan.da") or "ff"
        if "wlan.fc.retry" in fields and not int(receiver[:2], 16) & 1:
            # individually addressed (acknowledged, so retransmitted when not): a frame
            # with the retry flag and the sequence number of the transmitter's previous
            # such frame is that frame again
            seq = int(_first(fields, "wlan.seq") or "-1")
            retry = _first(fields, "wlan.fc.retry") == "1"
            previous = last_seq.get(link["source"])
            last_seq[link["source"]] = seq
            if retry and previous == seq:
                continue
        for tag in fields.get("wlan.tag", []):
            oui = tag.find("field[@name='wlan.tag.oui']")
            data = tag.find("field[@name='wlan.tag.vendor.data']")
            if oui is not None and data is not None and oui.get("value") in DJI_OUIS:
                records += _dji(bytes.fromhex(data.get("value", "")), link)
        found = _remote_id(packet, link)
        if found and "transport" not in link:
            link_transport = "wifi-nan" if link["frame_kind"] == "action" else "wifi-beacon"
            found = [{**r, "transport": link_transport} for r in found]
        records += found
    return [_ordered(r) for r in records]


_FRAME_KEYS = ("time", "transport", "frame_kind", "source", "rssi", "channel", "frequency",
               "sensor", "type")


def _ordered(record: dict[str, Any]) -> dict[str, Any]:
    """The record with frame keys first, as dronewatch prints them."""
    head = {k: record[k] for k in _FRAME_KEYS if k in record}
    return {**head, **{k: v for k, v in record.items() if k not in head}}


def expected_from_ocusync_oracle(oracle: Path) -> list[dict[str, Any]]:
    """The OcuSync bursts of mavic_air_2.cf32 from the independent chain's transport blocks.

    Only message fields are known independently; the frame's time (sample position) and PHY
    measurements are not in the oracle (the comparing test says which keys it leaves out).
    """
    records = []
    for block in json.loads(oracle.read_text()):
        raw = bytes.fromhex(block["block_hex"])
        link = {"transport": "dji-ocusync", "frame_kind": "burst", "source": None,
                "rssi": None, "channel": None, "frequency": None, "sensor": SENSOR}
        if block["msg_type"] == 0x11:
            records.append(_ordered({**link, "type": "dji_serial",
                                     "serial": block["serial_number"],
                                     "unknown": raw[18 : raw[0] + 1].hex()}))
            continue
        (vn, ve, vu), r = (block["raw"][k] for k in ("v_north", "v_east", "v_up")), block["raw"]
        record = _dji(b"\0\0\0" + raw[1 : raw[0] + 1], link)[0]
        assert record["sequence"] == block["sequence_number"]
        assert (record["alt_raw"], record["height_raw"]) == (r["alt_b31"], r["height_b33"])
        assert (record["speed_north_raw"], record["speed_east_raw"], record["speed_up_raw"]) == (
            vn, ve, vu)
        assert record["serial"] == block["serial_number"] and record["uuid"] == block["uuid"]
        record["transport"] = "dji-ocusync"
        records.append(_ordered(record))
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dissector", type=Path, required=True,
                        help="path of opendroneid-dissector.lua (opendroneid/wireshark-dissector)")
    parser.add_argument("--tshark", default="tshark")
    parser.add_argument("captures", nargs="*", type=Path, default=DEFAULT_CAPTURES)
    args = parser.parse_args(argv)
    for capture in args.captures:
        if capture.suffix == ".cf32":
            records = expected_from_ocusync_oracle(capture.with_suffix(".expected.json"))
        else:
            records = expected_from_tshark(args.tshark, args.dissector, capture)
        out = capture.with_name(capture.name + ".expected.jsonl")
        out.write_text("".join(json.dumps(r) + "\n" for r in records))
        print(f"{out}: {len(records)} messages", file=sys.stderr)


if __name__ == "__main__":
    main()
