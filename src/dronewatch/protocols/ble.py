"""Bluetooth LE framing of Remote ID: link layers, advertising PDUs and AD structures.

Link types read (pure parsers, ``bytes -> list[Frame]``):

* ``LINKTYPE_NORDIC_BLE`` (272): nRF Sniffer for Bluetooth LE, header versions 0.9.7
  (``BE EF`` legacy), 1, 2 and 3; packets whose CRC-OK flag is clear are dropped
  (:class:`~dronewatch.errors.Corrupt` ``bad-crc``);
* ``LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR`` (256): dropped when the CRC was checked and failed;
  verified here when the capturer did not check it;
* ``LINKTYPE_BLUETOOTH_LE_LL`` (251): the CRC is verified here;
* ``LINKTYPE_BLUETOOTH_HCI_H4`` (187) and ``..._WITH_PHDR`` (201): LE Advertising Report
  and LE Extended Advertising Report events.

Advertising PDUs: legacy ADV_IND, ADV_NONCONN_IND and ADV_SCAN_IND -> ``ble-legacy``;
extended advertising (ADV_EXT_IND / AUX_ADV_IND / AUX_CHAIN_IND, common extended header)
-> ``ble-long-range``. The Remote ID payload is the AD structure Service Data - 16-bit UUID
0xFFFA, application code 0x0D, then the message counter, then one 25-byte message (legacy)
or a message pack (extended). Addresses are sent little-endian and reported as MAC text.
"""

from __future__ import annotations

import math
import struct

import msgspec

from dronewatch.errors import Corrupt, NotMine, Partial, Truncated
from dronewatch.model import Frame, FrameKind, Transport
from dronewatch.protocols.astm.constants import (
    BLE_AD_TYPE_SERVICE_DATA,
    BLE_SERVICE_UUID,
    MESSAGE_SIZE,
    ODID_APP_CODE,
)

LINKTYPE_BLUETOOTH_HCI_H4 = 187
LINKTYPE_BLUETOOTH_HCI_H4_WITH_PHDR = 201
LINKTYPE_BLUETOOTH_LE_LL = 251
LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR = 256
LINKTYPE_NORDIC_BLE = 272

ADV_ACCESS_ADDRESS = 0x8E89BED6
_ADV_AA_BYTES = struct.pack("<I", ADV_ACCESS_ADDRESS)
ASTM_UUID = BLE_SERVICE_UUID  # 0xFFFA
ASTM_APP_CODE = ODID_APP_CODE  # 0x0D
AD_SERVICE_DATA_16 = BLE_AD_TYPE_SERVICE_DATA  # 0x16
LEGACY_MESSAGE_SIZE = MESSAGE_SIZE  # one 25-byte message per legacy advert
_UUID_LO, _UUID_HI = ASTM_UUID & 0xFF, ASTM_UUID >> 8

# PDU types on the advertising physical channel
ADV_IND = 0x0
ADV_NONCONN_IND = 0x2
ADV_SCAN_IND = 0x6
ADV_EXT = 0x7  # ADV_EXT_IND, AUX_ADV_IND, AUX_CHAIN_IND, AUX_SYNC_IND, AUX_SCAN_RSP
_LEGACY_TYPES = frozenset((ADV_IND, ADV_NONCONN_IND, ADV_SCAN_IND))

# extended header flags
_EXT_ADVA = 0x01
_EXT_TARGETA = 0x02
_EXT_CTEINFO = 0x04
_EXT_ADI = 0x08
_EXT_AUXPTR = 0x10
_EXT_SYNCINFO = 0x20
_EXT_TXPOWER = 0x40

# LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR flags
PHDR_DEWHITENED = 0x0001
PHDR_SIGNAL_VALID = 0x0002
PHDR_NOISE_VALID = 0x0004
PHDR_REF_AA_VALID = 0x0010
PHDR_CRC_CHECKED = 0x0400
PHDR_CRC_VALID = 0x0800
PHDR_PHY_SHIFT = 14
PHY_1M, PHY_2M, PHY_CODED = 0, 1, 2

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from


# --- channels ---------------------------------------------------------------------------------


def channel_mhz(index: int) -> int:
    """Centre frequency of BLE channel index 0-39 (37, 38, 39 are the primary channels)."""
    if index == 37:
        return 2402
    if index == 38:
        return 2426
    if index == 39:
        return 2480
    if 0 <= index <= 10:
        return 2404 + 2 * index
    if 11 <= index <= 36:
        return 2428 + 2 * (index - 11)
    raise ValueError(f"no BLE channel index {index}")


def rf_to_index(rf: int) -> int:
    """RF channel (0-39, 2402 + 2k MHz) -> channel index."""
    if rf == 0:
        return 37
    if rf == 12:
        return 38
    if rf == 39:
        return 39
    return rf - 1 if rf < 12 else rf - 2


def index_to_rf(index: int) -> int:
    return (channel_mhz(index) - 2402) // 2


_CHANNEL_HZ = {i: channel_mhz(i) * 1e6 for i in range(40)}


# --- CRC-24 -----------------------------------------------------------------------------------


def _crc_table() -> tuple[int, ...]:
    # BLE CRC: x^24 + x^10 + x^9 + x^6 + x^4 + x^3 + x + 1, bits sent LSB first (reflected).
    poly = 0xDA6000
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


CRC_TABLE = _crc_table()
CRC_INIT_ADV = 0xAAAAAA  # 0x555555 as the shift register holds it (bit-reversed)


def crc24(pdu: bytes, init: int = CRC_INIT_ADV) -> bytes:
    """The 3 CRC bytes that follow ``pdu`` (header + payload) on the advertising channel."""
    crc = init
    table = CRC_TABLE
    for b in pdu:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc.to_bytes(3, "little")


# --- advertising PDU -> frames ------------------------------------------------------------------


_KIND_ADVERT = FrameKind.ADVERT.value
_KIND_AUX_ADVERT = FrameKind.AUX_ADVERT.value


def _odid_service_data(data: bytes, p: int, end: int) -> tuple[int, bytes] | None:
    """(counter, message or pack) from the AD structures in ``data[p:end]``.

    Remote ID service data cut by the end of the PDU still gives its payload (from the
    counter on): its decoder reads the complete messages in it and counts the cut one.
    """
    while p + 1 < end:
        ln = data[p]
        if ln == 0:
            return None  # early termination of the AD data
        ad_type = data[p + 1]
        q = p + 2
        p += 1 + ln
        if ad_type != AD_SERVICE_DATA_16 or ln < 3:
            continue
        if p > end:
            if q + 1 < end and data[q] == _UUID_LO and data[q + 1] == _UUID_HI:
                if q + 3 < end and data[q + 2] == ASTM_APP_CODE:
                    return data[q + 3], data[q + 4 : end]
                raise Truncated("Remote ID service data cut short", reason="truncated-ad")
            return None
        if data[q] != _UUID_LO or data[q + 1] != _UUID_HI:
            continue
        if ln < 5 or data[q + 2] != ASTM_APP_CODE:
            return None
        return data[q + 3], data[q + 4 : p]
    return None


def _pdu_frames(
    data: bytes,
    p: int,
    end: int,
    time: float,
    sensor_id: str,
    rssi: float | None,
    channel: int | None,
    coded: bool,
    check_crc: bool,
) -> list[Frame]:
    """Frames from the LE packet ``data[p:end]``: access address, [CI], PDU, CRC."""
    if end - p < 9:
        raise Truncated("LE packet cut short", reason="truncated-ll")
    if data[p : p + 4] != _ADV_AA_BYTES:
        raise NotMine("not an advertising channel packet", reason="not-advertising")
    p += 5 if coded else 4
    h0 = data[p]
    pdu = p + 2
    pend = pdu + data[p + 1]
    if pend + 3 > end:
        raise Truncated("advertising PDU runs past the packet", reason="truncated-pdu")
    if check_crc and crc24(data[p:pend]) != data[pend : pend + 3]:
        raise Corrupt("BLE CRC mismatch", reason="bad-crc")
    return _adv_frames(data, h0 & 0x0F, pdu, pend, time, sensor_id, rssi, channel)


def _adv_frames(
    data: bytes,
    ptype: int,
    pdu: int,
    pend: int,
    time: float,
    sensor_id: str,
    rssi: float | None,
    channel: int | None,
) -> list[Frame]:
    if ptype in _LEGACY_TYPES:
        if pend - pdu < 6:
            raise Corrupt("advertising PDU shorter than its address", reason="bad-pdu")
        source: str | None = data[pdu : pdu + 6][::-1].hex(":")
        ad = pdu + 6
        transport = Transport.BLE_LEGACY
        kind = _KIND_ADVERT
    elif ptype == ADV_EXT:
        if pend <= pdu:
            raise Corrupt("empty extended advertising PDU", reason="bad-pdu")
        ad = pdu + 1 + (data[pdu] & 0x3F)
        if ad > pend:
            raise Corrupt("extended header longer than the PDU", reason="bad-ext-header")
        source = None
        if ad > pdu + 1 and data[pdu + 1] & _EXT_ADVA:
            if ad < pdu + 8:
                raise Corrupt("extended header too short for AdvA", reason="bad-ext-header")
            source = data[pdu + 2 : pdu + 8][::-1].hex(":")
        transport = Transport.BLE_LONG_RANGE
        kind = _KIND_AUX_ADVERT
    else:
        raise NotMine("advertising PDU of another type", reason="not-advertising")
    found = _odid_service_data(data, ad, pend)
    if found is None:
        raise NotMine("no Remote ID service data", reason="no-drone-payload")
    freq = _CHANNEL_HZ.get(channel) if channel is not None else None
    return [
        Frame(found[1], time, transport, source, rssi, channel, freq, sensor_id, found[0],
              None, kind)
    ]


# --- link types ---------------------------------------------------------------------------------


def frames_from_nordic(data: bytes, time: float, sensor_id: str = "local") -> list[Frame]:
    """LINKTYPE_NORDIC_BLE (272): nRF Sniffer for Bluetooth LE."""
    n = len(data)
    if n >= 2 and data[0] == 0xBE and data[1] == 0xEF:  # 0.9.7 legacy header
        if n < 17:
            raise Truncated("nRF sniffer header cut short", reason="truncated-header")
        flags, ch, rssi_raw, ll = data[8], data[9], data[10], 17
    else:
        if n < 17:
            raise Truncated("nRF sniffer header cut short", reason="truncated-header")
        version = data[3]
        if version not in (1, 2, 3):
            raise NotMine(f"nRF sniffer protocol version {version}", reason="nordic-version")
        hlen = data[7]
        if hlen < 10:
            raise Corrupt(f"nRF sniffer packet header of {hlen} bytes", reason="bad-header")
        flags, ch, rssi_raw, ll = data[8], data[9], data[10], 7 + hlen
    if not flags & 1:
        raise Corrupt("BLE CRC failed at capture", reason="bad-crc")
    coded = (flags >> 4) & 7 == PHY_CODED
    return _pdu_frames(data, ll, n, time, sensor_id, float(-rssi_raw), ch, coded, False)


def frames_from_ll_phdr(data: bytes, time: float, sensor_id: str = "local") -> list[Frame]:
    """LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR (256)."""
    if len(data) < 10:
        raise Truncated("LE pseudo-header cut short", reason="truncated-header")
    flags = data[8] | data[9] << 8
    checked = flags & PHDR_CRC_CHECKED
    if checked and not flags & PHDR_CRC_VALID:
        raise Corrupt("BLE CRC failed at capture", reason="bad-crc")
    rssi: float | None = None
    if flags & PHDR_SIGNAL_VALID:
        s = data[1]
        rssi = float(s - 256 if s > 127 else s)
    rf = data[0]
    channel = rf_to_index(rf) if rf < 40 else None
    coded = flags >> PHDR_PHY_SHIFT == PHY_CODED
    return _pdu_frames(data, 10, len(data), time, sensor_id, rssi, channel, coded, not checked)


def frames_from_ll(data: bytes, time: float, sensor_id: str = "local") -> list[Frame]:
    """LINKTYPE_BLUETOOTH_LE_LL (251): the CRC is verified here."""
    return _pdu_frames(data, 0, len(data), time, sensor_id, None, None, False, True)


def frames_from_hci_h4(data: bytes, time: float, sensor_id: str = "local", start: int = 0) -> list[Frame]:
    """LINKTYPE_BLUETOOTH_HCI_H4 (187): LE (Extended) Advertising Report events."""
    n = len(data)
    if n - start < 5 or data[start] != 0x04 or data[start + 1] != 0x3E:
        raise NotMine("not an HCI LE meta event", reason="not-le-event")
    end = start + 3 + data[start + 2]
    if end > n:
        raise Truncated("HCI event cut short", reason="truncated-hci")
    sub = data[start + 3]
    count = data[start + 4]
    p = start + 5
    frames: list[Frame] = []
    try:
        _hci_reports(data, sub, count, p, end, time, sensor_id, frames)
    except Truncated as exc:
        if frames:  # the complete reports before the cut one
            return Partial(frames, [exc])
        raise
    if not frames:
        raise NotMine("no Remote ID service data", reason="no-drone-payload")
    return frames


def _hci_reports(
    data: bytes,
    sub: int,
    count: int,
    p: int,
    end: int,
    time: float,
    sensor_id: str,
    frames: list[Frame],
) -> None:
    """Append the frames of the ``count`` advertising reports from ``data[p:end]``."""
    if sub == 0x02:  # LE Advertising Report
        for _ in range(count):
            if p + 10 > end:
                raise Truncated("advertising report cut short", reason="truncated-hci")
            etype = data[p]
            source = data[p + 2 : p + 8][::-1].hex(":")
            ad = p + 9
            ad_end = ad + data[p + 8]
            if ad_end + 1 > end:
                raise Truncated("advertising report cut short", reason="truncated-hci")
            r = data[ad_end]
            p = ad_end + 1
            if etype not in (0, 2, 3):  # ADV_IND, ADV_SCAN_IND, ADV_NONCONN_IND
                continue
            frames += _report_frames(
                data, ad, ad_end, Transport.BLE_LEGACY, _KIND_ADVERT, source, r, time, sensor_id
            )
    elif sub == 0x0D:  # LE Extended Advertising Report
        for _ in range(count):
            if p + 24 > end:
                raise Truncated("extended advertising report cut short", reason="truncated-hci")
            etype = data[p] | data[p + 1] << 8
            source = data[p + 3 : p + 9][::-1].hex(":")
            r = data[p + 13]
            ad = p + 24
            ad_end = ad + data[p + 23]
            if ad_end > end:
                raise Truncated("extended advertising report cut short", reason="truncated-hci")
            p = ad_end
            if etype & 0x10:  # a legacy advert reported as an extended one
                transport, kind = Transport.BLE_LEGACY, _KIND_ADVERT
            else:
                transport, kind = Transport.BLE_LONG_RANGE, _KIND_AUX_ADVERT
            frames += _report_frames(data, ad, ad_end, transport, kind, source, r, time,
                                     sensor_id)
    else:
        raise NotMine("LE meta event of another kind", reason="not-adv-report")


def _report_frames(
    data: bytes,
    ad: int,
    ad_end: int,
    transport: Transport,
    kind: str,
    source: str,
    rssi_raw: int,
    time: float,
    sensor_id: str,
) -> list[Frame]:
    found = _odid_service_data(data, ad, ad_end)
    if found is None:
        return []
    rssi = None if rssi_raw == 127 else float(rssi_raw - 256 if rssi_raw > 127 else rssi_raw)
    return [Frame(found[1], time, transport, source, rssi, None, None, sensor_id, found[0],
                  None, kind)]


def frames_from_ad(
    ad: bytes,
    legacy: bool,
    source: str | None,
    rssi_dbm: float | None,
    time: float,
    sensor_id: str = "local",
) -> list[Frame]:
    """The frame of an advert's AD structures as a controller reports them to its host
    (a live scanner): legacy adverts are Bluetooth 4 (``ble-legacy``), extended ones
    Bluetooth 5 (``ble-long-range``). ``NotMine`` without Remote ID service data."""
    found = _odid_service_data(ad, 0, len(ad))
    if found is None:
        raise NotMine("no Remote ID service data", reason="no-drone-payload")
    transport = Transport.BLE_LEGACY if legacy else Transport.BLE_LONG_RANGE
    return [Frame(found[1], time, transport, source, rssi_dbm, None, None, sensor_id, found[0])]


def frames_from_hci_h4_phdr(data: bytes, time: float, sensor_id: str = "local") -> list[Frame]:
    """LINKTYPE_BLUETOOTH_HCI_H4_WITH_PHDR (201): 4-byte direction, then H4."""
    if len(data) < 4:
        raise Truncated("HCI pseudo-header cut short", reason="truncated-header")
    return frames_from_hci_h4(data, time, sensor_id, 4)


# --- builders ------------------------------------------------------------------------------------


def odid_service_data(counter: int, payload: bytes) -> bytes:
    """The AD structure Service Data 0xFFFA, app code 0x0D, counter, message(s)."""
    body = bytes((AD_SERVICE_DATA_16, _UUID_LO, _UUID_HI, ASTM_APP_CODE, counter & 0xFF)) + payload
    if len(body) > 255:
        raise ValueError(f"AD structure of {len(body)} bytes (at most 255)")
    return bytes((len(body),)) + body


def legacy_pdu(adv_a: bytes, adv_data: bytes, pdu_type: int = ADV_NONCONN_IND, random: bool = True) -> bytes:
    """Header + payload of a legacy advertising PDU (``adv_a`` in air order, LSB first)."""
    payload = adv_a + adv_data
    if len(payload) > 37:
        raise ValueError(f"legacy advertising payload of {len(payload)} bytes (at most 37)")
    return bytes((pdu_type | (0x40 if random else 0), len(payload))) + payload


def aux_adv_pdu(adv_a: bytes | None, adv_data: bytes, adi: int = 0, random: bool = True) -> bytes:
    """Header + payload of an AUX_ADV_IND (non-connectable, non-scannable) with AdvA and ADI."""
    flags = _EXT_ADI
    fields = struct.pack("<H", adi & 0xFFFF)
    if adv_a is not None:
        flags |= _EXT_ADVA
        fields = adv_a + fields
    ext = bytes((flags,)) + fields
    payload = bytes((len(ext),)) + ext + adv_data
    if len(payload) > 255:
        raise ValueError(f"extended advertising payload of {len(payload)} bytes (at most 255)")
    return bytes((ADV_EXT | (0x40 if random and adv_a is not None else 0), len(payload))) + payload


def ll_packet(pdu: bytes, *, coded: bool = False, good_crc: bool = True) -> bytes:
    """Access address, [coding indicator], PDU, CRC."""
    crc = crc24(pdu)
    if not good_crc:
        crc = bytes((crc[0] ^ 0xFF,)) + crc[1:]
    return _ADV_AA_BYTES + (b"\x00" if coded else b"") + pdu + crc


def phdr_packet(
    pdu: bytes,
    channel: int,
    rssi_dbm: float | None,
    *,
    coded: bool = False,
    crc_checked: bool = True,
    good_crc: bool = True,
) -> bytes:
    """A LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR packet carrying ``pdu``."""
    flags = PHDR_DEWHITENED | PHDR_REF_AA_VALID | ((PHY_CODED if coded else PHY_1M) << PHDR_PHY_SHIFT)
    if crc_checked:
        flags |= PHDR_CRC_CHECKED | (PHDR_CRC_VALID if good_crc else 0)
    signal = 0
    if rssi_dbm is not None:
        flags |= PHDR_SIGNAL_VALID
        signal = max(-128, min(127, round(rssi_dbm)))
    head = struct.pack("<BbbBIH", index_to_rf(channel), signal, -128, 0, ADV_ACCESS_ADDRESS, flags)
    return head + ll_packet(pdu, coded=coded, good_crc=good_crc)


def nordic_packet(
    pdu: bytes,
    channel: int,
    rssi_dbm: float | None,
    *,
    coded: bool = False,
    good_crc: bool = True,
    counter: int = 0,
    timestamp_us: int = 0,
    aux_type: int = 0,
) -> bytes:
    """A LINKTYPE_NORDIC_BLE packet (header version 3, EVENT_PACKET_ADV_PDU) carrying ``pdu``."""
    ll = ll_packet(pdu, coded=coded, good_crc=good_crc)
    flags = (1 if good_crc else 0) | ((aux_type & 3) << 1) | ((PHY_CODED if coded else PHY_1M) << 4)
    rssi = 0 if rssi_dbm is None else max(0, min(255, -round(rssi_dbm)))
    header = struct.pack("<BBBBHI", 10, flags, channel, rssi, 0, timestamp_us & 0xFFFFFFFF)
    payload = header + ll
    return struct.pack("<BHBHB", 3, len(payload), 3, counter & 0xFFFF, 0x02) + payload


def hci_adv_report(adv_a: bytes, adv_data: bytes, rssi_dbm: float | None, event_type: int = 3) -> bytes:
    """An H4 HCI LE Advertising Report event (one report)."""
    rssi = 127 if rssi_dbm is None else max(-127, min(126, round(rssi_dbm)))
    report = bytes((1, event_type, 1)) + adv_a + bytes((len(adv_data),)) + adv_data
    report += struct.pack("<b", rssi)
    params = b"\x02" + report
    return bytes((0x04, 0x3E, len(params))) + params


def hci_ext_adv_report(
    adv_a: bytes, adv_data: bytes, rssi_dbm: float | None, *, legacy: bool = False
) -> bytes:
    """An H4 HCI LE Extended Advertising Report event (one report)."""
    rssi = 127 if rssi_dbm is None else max(-127, min(126, round(rssi_dbm)))
    etype = 0x10 if legacy else 0x00
    report = struct.pack("<HB", etype, 1) + adv_a
    report += struct.pack("<BBBbbHB", 3 if not legacy else 1, 0, 0, 127, rssi, 0, 0) + b"\0" * 6
    report += bytes((len(adv_data),)) + adv_data
    params = b"\x0d\x01" + report
    if len(params) > 255:
        raise ValueError("HCI event longer than 255 bytes")
    return bytes((0x04, 0x3E, len(params))) + params


DEFAULT_SOURCE = "c0:00:00:00:00:01"
BLE_LINKTYPES = frozenset(
    (
        LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR,
        LINKTYPE_NORDIC_BLE,
        LINKTYPE_BLUETOOTH_LE_LL,
        LINKTYPE_BLUETOOTH_HCI_H4,
        LINKTYPE_BLUETOOTH_HCI_H4_WITH_PHDR,
    )
)


def build_ble_packet(frame: Frame, linktype: int = LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR) -> bytes:
    """A realistic packet of ``linktype`` carrying ``frame`` (legacy or extended advert)."""
    legacy = frame.transport is Transport.BLE_LEGACY
    if not legacy and frame.transport is not Transport.BLE_LONG_RANGE:
        raise ValueError(f"{frame.transport.value} is not carried over Bluetooth")
    if legacy and len(frame.payload) != LEGACY_MESSAGE_SIZE:
        raise ValueError("a legacy advert carries exactly one 25-byte message")
    adv_a = bytes.fromhex((frame.source or DEFAULT_SOURCE).replace(":", ""))[::-1]
    if len(adv_a) != 6:
        raise ValueError(f"not a Bluetooth address: {frame.source!r}")
    ad = odid_service_data(frame.counter or 0, frame.payload)
    if frame.rssi_dbm is not None and not math.isfinite(frame.rssi_dbm):
        frame = msgspec.structs.replace(frame, rssi_dbm=None)
    if linktype == LINKTYPE_BLUETOOTH_HCI_H4:
        if legacy:
            return hci_adv_report(adv_a, ad, frame.rssi_dbm)
        return hci_ext_adv_report(adv_a, ad, frame.rssi_dbm)
    if linktype == LINKTYPE_BLUETOOTH_HCI_H4_WITH_PHDR:
        return b"\x00\x00\x00\x01" + build_ble_packet(frame, LINKTYPE_BLUETOOTH_HCI_H4)
    pdu = legacy_pdu(adv_a, ad) if legacy else aux_adv_pdu(adv_a, ad, adi=0x0E75)
    coded = not legacy
    channel = frame.channel
    if channel is None or not 0 <= channel <= 39:
        channel = 37 if legacy else 10
    if linktype == LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR:
        return phdr_packet(pdu, channel, frame.rssi_dbm, coded=coded)
    if linktype == LINKTYPE_NORDIC_BLE:
        return nordic_packet(pdu, channel, frame.rssi_dbm, coded=coded)
    if linktype == LINKTYPE_BLUETOOTH_LE_LL:
        return ll_packet(pdu)
    raise ValueError(f"link type {linktype} is not a Bluetooth link type")
