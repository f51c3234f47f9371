"""Bluetooth LE framing: Nordic sniffer, LE LL (with and without PHDR), HCI H4."""

from __future__ import annotations

import contextlib
import struct
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import Corrupt, DecodeError, NotMine, Truncated
from dronewatch.model import Frame, Transport
from dronewatch.protocols import ble
from dronewatch.sources.pcap import read_packets

BT5 = "odid_bt5_lr_sample.pcapng"


def test_nordic_capture(data_dir: Path) -> None:
    frames: list[Frame] = []
    errors: Counter[str] = Counter()
    for t, lt, data in read_packets(data_dir / BT5):
        assert lt == ble.LINKTYPE_NORDIC_BLE
        try:
            frames += ble.frames_from_nordic(data, t, "s")
        except DecodeError as exc:
            errors[f"{type(exc).__name__}:{exc.reason}"] += 1
    # tshark: 30 packets with nordic_ble.crcok == 0, 244 good AUX_ADV_IND
    assert errors == {"Corrupt:bad-crc": 30}
    assert len(frames) == 244
    f = frames[0]
    assert f.transport is Transport.BLE_LONG_RANGE
    assert f.source == "e0:7d:ea:eb:2f:1c"
    assert f.rssi_dbm == -53.0
    assert f.channel == 10
    assert f.frequency_hz == 2424e6
    assert f.counter == 0x0C
    assert f.payload[:3] == bytes.fromhex("f01900")  # an (empty) message pack
    assert len(f.payload) == 228
    assert {fr.source for fr in frames} == {"e0:7d:ea:eb:2f:1c"}
    assert all(fr.channel is not None and 0 <= fr.channel <= 36 for fr in frames)


def test_crc24_matches_real_packets(data_dir: Path) -> None:
    checked = 0
    for _t, _lt, data in read_packets(data_dir / BT5):
        ok = data[8] & 1
        pdu = data[22:-3]  # after board+header (17), access address (4) and CI (1)
        assert (ble.crc24(pdu) == data[-3:]) == bool(ok)
        checked += 1
    assert checked == 274


def _pdu(legacy: bool = True, payload: bytes = b"\x02" + b"\x11" * 24, counter: int = 5) -> bytes:
    adv_a = bytes.fromhex("1c2febea7de0")
    ad = ble.odid_service_data(counter, payload)  # a legacy advert has no room for more
    return ble.legacy_pdu(adv_a, ad) if legacy else ble.aux_adv_pdu(adv_a, b"\x02\x01\x06" + ad)


def test_phdr_crc_flags() -> None:
    pdu = _pdu()
    (f,) = ble.frames_from_ll_phdr(ble.phdr_packet(pdu, 37, -60), 1.0)
    assert (f.transport, f.counter, f.rssi_dbm, f.channel, f.frequency_hz) == (
        Transport.BLE_LEGACY, 5, -60.0, 37, 2402e6)
    assert f.source == "e0:7d:ea:eb:2f:1c"
    with pytest.raises(Corrupt) as e:
        ble.frames_from_ll_phdr(ble.phdr_packet(pdu, 37, -60, good_crc=False), 1.0)
    assert e.value.reason == "bad-crc"
    # not checked by the capturer: verified here
    unchecked_bad = ble.phdr_packet(pdu, 37, None, crc_checked=False, good_crc=False)
    with pytest.raises(Corrupt):
        ble.frames_from_ll_phdr(unchecked_bad, 1.0)
    (g,) = ble.frames_from_ll_phdr(ble.phdr_packet(pdu, 38, None, crc_checked=False), 1.0)
    assert (g.rssi_dbm, g.channel) == (None, 38)


def test_ll_without_phdr_verifies_crc() -> None:
    pdu = _pdu()
    (f,) = ble.frames_from_ll(ble.ll_packet(pdu), 2.0)
    assert f.payload == b"\x02" + b"\x11" * 24
    with pytest.raises(Corrupt):
        ble.frames_from_ll(ble.ll_packet(pdu, good_crc=False), 2.0)


def test_extended_advert_with_coded_phy() -> None:
    pack = b"\xf0\x19\x01" + b"\x01" * 25
    pkt = ble.phdr_packet(_pdu(False, pack, 9), 10, -80, coded=True)
    (f,) = ble.frames_from_ll_phdr(pkt, 0.0)
    assert (f.transport, f.payload, f.counter, f.channel) == (Transport.BLE_LONG_RANGE, pack, 9, 10)


def test_ext_header_without_adva() -> None:
    ad = ble.odid_service_data(1, b"\xf0\x19\x00")
    (f,) = ble.frames_from_ll(ble.ll_packet(ble.aux_adv_pdu(None, ad)), 0.0)
    assert f.source is None and f.payload == b"\xf0\x19\x00"


def test_nordic_header_versions() -> None:
    pdu = _pdu()
    v3 = ble.nordic_packet(pdu, 38, -70)
    (f,) = ble.frames_from_nordic(v3, 0.0)
    assert (f.rssi_dbm, f.channel, f.counter) == (-70.0, 38, 5)
    ll = ble.ll_packet(pdu)
    header = struct.pack("<BBBBHI", 10, 0x01, 39, 55, 0, 0)
    v1 = struct.pack("<BBBBHB", 0, 6, 10 + len(ll), 1, 7, 0x06) + header + ll
    (g,) = ble.frames_from_nordic(v1, 0.0)
    assert (g.rssi_dbm, g.channel) == (-55.0, 39)
    legacy = b"\xbe\xef" + b"\x00" * 6 + bytes((0x01, 37, 40)) + b"\x00" * 6 + ll
    (h,) = ble.frames_from_nordic(legacy, 0.0)
    assert (h.rssi_dbm, h.channel) == (-40.0, 37)
    with pytest.raises(Corrupt):
        ble.frames_from_nordic(ble.nordic_packet(pdu, 38, -70, good_crc=False), 0.0)
    with pytest.raises(NotMine):
        ble.frames_from_nordic(v3[:3] + b"\x09" + v3[4:], 0.0)


def test_data_channel_and_other_pdus_are_not_mine() -> None:
    pdu = _pdu()
    data_ch = b"\x11\x22\x33\x44" + pdu + ble.crc24(pdu)
    with pytest.raises(NotMine):
        ble.frames_from_ll(data_ch, 0.0)
    scan_req = bytes((0x03, 12)) + b"\x01" * 12
    with pytest.raises(NotMine):
        ble.frames_from_ll(ble.ll_packet(scan_req), 0.0)
    other_ad = ble.legacy_pdu(b"\x01" * 6, b"\x02\x01\x06\x03\x03\xaa\xfe")
    with pytest.raises(NotMine):
        ble.frames_from_ll(ble.ll_packet(other_ad), 0.0)


def test_truncated_service_data() -> None:
    ad = ble.odid_service_data(1, b"\x02" * 25)
    pdu = ble.legacy_pdu(b"\x01" * 6, ad[:-4])  # the AD claims 4 more bytes than the PDU has
    # the payload up to the end of the PDU: its decoder counts the cut message
    (f,) = ble.frames_from_ll(ble.ll_packet(pdu), 0.0)
    assert (f.counter, f.payload, f.frame_kind) == (1, b"\x02" * 21, "advert")
    pdu = ble.legacy_pdu(b"\x01" * 6, ad[:4])  # cut before the message counter
    with pytest.raises(Truncated):
        ble.frames_from_ll(ble.ll_packet(pdu), 0.0)
    with pytest.raises(Truncated):
        ble.frames_from_ll(ble.ll_packet(_pdu())[:-10], 0.0)


def test_hci_reports() -> None:
    adv_a = bytes.fromhex("665544332211")
    ad = ble.odid_service_data(3, b"\x00" * 25)
    (f,) = ble.frames_from_hci_h4(ble.hci_adv_report(adv_a, ad, -77), 0.0)
    assert (f.transport, f.source, f.rssi_dbm, f.counter) == (
        Transport.BLE_LEGACY, "11:22:33:44:55:66", -77.0, 3)
    (g,) = ble.frames_from_hci_h4(ble.hci_ext_adv_report(adv_a, ad, None), 0.0)
    assert (g.transport, g.rssi_dbm) == (Transport.BLE_LONG_RANGE, None)
    (h,) = ble.frames_from_hci_h4(ble.hci_ext_adv_report(adv_a, ad, -50, legacy=True), 0.0)
    assert h.transport is Transport.BLE_LEGACY
    (i,) = ble.frames_from_hci_h4_phdr(b"\0\0\0\1" + ble.hci_adv_report(adv_a, ad, -1), 0.0)
    assert i.rssi_dbm == -1.0
    with pytest.raises(NotMine):
        ble.frames_from_hci_h4(b"\x01\x03\x0c\x00", 0.0)  # an HCI command
    with pytest.raises(Truncated):
        ble.frames_from_hci_h4(ble.hci_adv_report(adv_a, ad, -1)[:-3], 0.0)


def test_channel_maps() -> None:
    assert [ble.channel_mhz(i) for i in (37, 0, 10, 38, 11, 36, 39)] == [
        2402, 2404, 2424, 2426, 2428, 2478, 2480]
    for i in range(40):
        assert ble.rf_to_index(ble.index_to_rf(i)) == i


ble_frames = st.builds(
    Frame,
    payload=st.binary(min_size=1, max_size=228),
    time=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    transport=st.sampled_from([Transport.BLE_LEGACY, Transport.BLE_LONG_RANGE]),
    source=st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":")),
    rssi_dbm=st.none() | st.integers(-120, -1).map(float),
    channel=st.none() | st.integers(0, 39),
    counter=st.integers(0, 255),
)

PARSERS = {
    ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR: ble.frames_from_ll_phdr,
    ble.LINKTYPE_NORDIC_BLE: ble.frames_from_nordic,
    ble.LINKTYPE_BLUETOOTH_LE_LL: ble.frames_from_ll,
    ble.LINKTYPE_BLUETOOTH_HCI_H4: ble.frames_from_hci_h4,
    ble.LINKTYPE_BLUETOOTH_HCI_H4_WITH_PHDR: ble.frames_from_hci_h4_phdr,
}


@given(ble_frames, st.sampled_from(sorted(PARSERS)))
@settings(max_examples=300, deadline=None)
def test_round_trip(frame: Frame, linktype: int) -> None:
    if frame.transport is Transport.BLE_LEGACY:
        frame = Frame((frame.payload * 25)[:25], frame.time, frame.transport, frame.source,
                      frame.rssi_dbm, frame.channel, None, frame.sensor_id, frame.counter)
    hci = linktype in (ble.LINKTYPE_BLUETOOTH_HCI_H4, ble.LINKTYPE_BLUETOOTH_HCI_H4_WITH_PHDR)
    if hci and frame.transport is Transport.BLE_LONG_RANGE and len(frame.payload) > 200:
        with pytest.raises(ValueError):
            ble.build_ble_packet(frame, linktype)
        return
    packet = ble.build_ble_packet(frame, linktype)
    (got,) = PARSERS[linktype](packet, frame.time, "z")
    assert (got.payload, got.transport, got.source, got.counter, got.sensor_id) == (
        frame.payload, frame.transport, frame.source, frame.counter, "z")
    if linktype in (ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR, ble.LINKTYPE_NORDIC_BLE):
        default = 37 if frame.transport is Transport.BLE_LEGACY else 10
        channel = frame.channel if frame.channel is not None else default
        assert got.channel == channel
        assert got.frequency_hz == ble.channel_mhz(channel) * 1e6
    if linktype != ble.LINKTYPE_BLUETOOTH_LE_LL and frame.rssi_dbm is not None:
        assert got.rssi_dbm == frame.rssi_dbm


def test_legacy_needs_one_message() -> None:
    f = Frame(b"\x00" * 26, 0.0, Transport.BLE_LEGACY)
    with pytest.raises(ValueError):
        ble.build_ble_packet(f)


@given(st.binary(max_size=300), st.sampled_from(sorted(PARSERS)))
@settings(max_examples=500, deadline=None)
def test_fuzz_random_bytes(data: bytes, linktype: int) -> None:
    try:
        frames = PARSERS[linktype](data, 0.0, "x")
    except DecodeError:
        return
    assert frames


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_fuzz_mutated_real_packets(data_dir: Path, data: st.DataObject) -> None:
    if not _cache:
        _cache.extend(d for _, _, d in read_packets(data_dir / BT5))
    packet = bytearray(data.draw(st.sampled_from(_cache[:20])))
    for _ in range(data.draw(st.integers(1, 4))):
        packet[data.draw(st.integers(0, len(packet) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):
        ble.frames_from_nordic(bytes(packet[: data.draw(st.integers(0, len(packet)))]), 0.0)


_cache: list[bytes] = []
