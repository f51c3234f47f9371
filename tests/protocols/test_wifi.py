"""Wi-Fi framing: radiotap, beacons, probe responses, NAN; real captures and round trips."""

from __future__ import annotations

import contextlib
import hashlib
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import Corrupt, DecodeError, NotMine, Truncated
from dronewatch.model import Frame, Transport
from dronewatch.protocols import wifi
from dronewatch.sources.pcap import read_packets


def _frames(path: Path) -> tuple[list[Frame], list[str]]:
    frames: list[Frame] = []
    errors: list[str] = []
    for t, _lt, data in read_packets(path):
        try:
            frames += wifi.frames_from_radiotap(data, t, "s")
        except DecodeError as exc:
            errors.append(f"{type(exc).__name__}:{exc.reason}")
    return frames, errors


def test_beacon_capture(data_dir: Path) -> None:
    frames, errors = _frames(data_dir / "odid_wifi_bcn_sample.pcap")
    assert errors == []
    assert len(frames) == 21
    f = frames[0]
    assert f.transport is Transport.WIFI_BEACON
    assert f.source == "84:cc:a8:60:43:24"
    assert f.rssi_dbm == -33.0
    assert f.channel == 6
    assert f.frequency_hz == 2437e6
    assert f.sensor_id == "s"
    assert f.time == pytest.approx(1621633931.161999)
    # a message pack: type 0xF, 25-byte messages, 5 of them
    assert f.payload[0] >> 4 == 0xF
    assert f.payload[1] == 25
    assert len(f.payload) == 3 + 25 * f.payload[2]
    counters = [x.counter for x in frames]
    assert all(c is not None for c in counters)
    assert len(set(counters)) > 1


def test_nan_capture(data_dir: Path) -> None:
    frames, errors = _frames(data_dir / "odid_wifi_sample.pcap")
    # 21 NAN synchronisation beacons carry no Remote ID: passed over as not ours
    assert errors == ["NotMine:no-drone-payload"] * 21
    kinds = [f.transport for f in frames]
    assert kinds.count(Transport.WIFI_NAN) == 21
    assert kinds.count(Transport.WIFI_BEACON) == 21
    nan = next(f for f in frames if f.transport is Transport.WIFI_NAN)
    assert nan.source == "84:cc:a8:60:43:24"
    assert nan.payload[0] >> 4 == 0xF and nan.payload[1] == 25
    assert nan.counter is not None


def test_fcs_is_stripped(data_dir: Path) -> None:
    # This capture's radiotap flags say "FCS at end": the pack must end before the FCS.
    frames, errors = _frames(data_dir / "wireless_RID_test_linux_transmitter.pcapng")
    assert errors == []
    assert len(frames) == 21
    f = frames[0]
    assert f.source == "8c:17:59:f5:95:65"
    assert f.payload[:3] == bytes.fromhex("f21909")
    assert len(f.payload) == 3 + 9 * 25
    assert f.counter == 9


def test_dji_capture(data_dir: Path) -> None:
    frames, errors = _frames(data_dir / "dji_wifi_spoofed_single.pcapng")
    assert errors == []
    assert [f.transport for f in frames] == [Transport.DJI_WIFI] * 10
    assert frames[0].source == "60:60:1f:c6:0e:cc"
    assert frames[0].rssi_dbm is None and frames[0].channel is None  # bare radiotap header
    assert frames[0].counter is None


def _src() -> bytes:
    return bytes.fromhex("020000abcdef")


def test_bad_fcs_flag_is_corrupt() -> None:
    mac = wifi.build_beacon(_src(), [wifi.astm_element(1, b"\x00" * 25)])
    good = wifi.build_radiotap(-40, 2437, fcs=True) + wifi.with_fcs(mac)
    assert wifi.frames_from_radiotap(good, 0.0)[0].payload == b"\x00" * 25
    bad = wifi.build_radiotap(-40, 2437, fcs=True, bad_fcs=True) + wifi.with_fcs(mac)
    with pytest.raises(Corrupt) as e:
        wifi.frames_from_radiotap(bad, 0.0)
    assert e.value.reason == "bad-fcs"


@pytest.mark.parametrize(
    ("oui", "body", "transport", "payload"),
    [
        (wifi.OUI_DJI[0], b"\x58\x62\x13\x10payload", Transport.DJI_WIFI, b"\x58\x62\x13\x10payload"),
        (wifi.OUI_DJI[1], b"\x10abc", Transport.DJI_WIFI, b"\x10abc"),
        (wifi.OUI_DJI[2], b"\x10abc", Transport.DJI_WIFI, b"\x10abc"),
        (wifi.OUI_DJI[3], b"\x10abc", Transport.DJI_WIFI, b"\x10abc"),
        (wifi.OUI_FR, b"\x01\x01\x01\x02FR", Transport.FR_BEACON, b"\x01\x01\x01\x02FR"),
    ],
)
def test_vendor_dispatch(oui: bytes, body: bytes, transport: Transport, payload: bytes) -> None:
    mac = wifi.build_beacon(_src(), [wifi.vendor_element(b"\x00\x50\xf2", b"\x02wmm"),
                                      wifi.vendor_element(oui, body)])
    (f,) = wifi.frames_from_80211(mac, 5.0)
    assert (f.transport, f.payload, f.counter) == (transport, payload, None)
    assert f.source == "02:00:00:ab:cd:ef"


def test_probe_response_and_plain_80211() -> None:
    mac = wifi.build_beacon(_src(), [wifi.astm_element(7, b"\x01" * 25)], probe_response=True)
    (f,) = wifi.frames_from_80211(mac, 1.0, "x")
    assert (f.transport, f.counter, f.payload, f.rssi_dbm) == (Transport.WIFI_BEACON, 7, b"\x01" * 25, None)
    assert (f.frame_kind, f.link_seq, f.link_retry) == ("probe_response", 0, False)


def test_beacon_without_drone_element_is_not_mine() -> None:
    with pytest.raises(NotMine):
        wifi.frames_from_80211(wifi.build_beacon(_src(), [], ssid=b"home"), 0.0)
    other_astm = wifi.vendor_element(wifi.OUI_ASTM, b"\x0e\x00data")  # other OUI type
    with pytest.raises(NotMine):
        wifi.frames_from_80211(wifi.build_beacon(_src(), [other_astm]), 0.0)
    with pytest.raises(NotMine):
        wifi.frames_from_80211(wifi.build_nan_sync_beacon(_src()), 0.0)
    data_frame = b"\x08\x01" + b"\x00" * 30
    with pytest.raises(NotMine):
        wifi.frames_from_80211(data_frame, 0.0)
    protected = bytearray(wifi.build_beacon(_src(), [wifi.astm_element(1, b"\0" * 25)]))
    protected[1] |= 0x40
    with pytest.raises(NotMine):
        wifi.frames_from_80211(bytes(protected), 0.0)


def test_two_drone_elements_in_one_beacon() -> None:
    mac = wifi.build_beacon(_src(), [wifi.astm_element(1, b"\x01" * 25),
                                      wifi.vendor_element(wifi.OUI_FR, b"\x01fr")])
    frames = wifi.frames_from_80211(mac, 0.0)
    assert [f.transport for f in frames] == [Transport.WIFI_BEACON, Transport.FR_BEACON]


def test_truncated_drone_element() -> None:
    mac = wifi.build_beacon(_src(), [wifi.astm_element(1, b"\x01" * 25)])
    # a Remote ID element cut by the end of the frame gives what is there: its payload
    # decoder reads the complete messages and counts the cut one
    (f,) = wifi.frames_from_80211(mac[:-5], 0.0)
    assert (f.counter, f.payload) == (1, b"\x01" * 20)
    with pytest.raises(Truncated):
        wifi.frames_from_80211(mac[:-26], 0.0)  # cut before its counter
    dji = wifi.build_beacon(_src(), [wifi.vendor_element(wifi.OUI_DJI[0], b"\x10" * 30)])
    with pytest.raises(Truncated):
        wifi.frames_from_80211(dji[:-5], 0.0)  # another format's cut element
    with pytest.raises(Truncated):
        wifi.frames_from_80211(mac[:10], 0.0)
    with pytest.raises(Truncated):
        wifi.frames_from_80211(wifi.build_beacon(_src(), [wifi.vendor_element(wifi.OUI_ASTM, b"\x0d")]), 0.0)


def test_nan_sdf_layout() -> None:
    sdf = wifi.build_nan_sdf(_src(), 42, b"\xf0\x19\x01" + b"\x22" * 25)
    assert sdf[24:30] == bytes.fromhex("0409506f9a13")
    assert hashlib.sha256(b"org.opendroneid.remoteid").digest()[:6] == wifi.NAN_SERVICE_ID
    assert bytes.fromhex("8869199d9209") == wifi.NAN_SERVICE_ID
    (f,) = wifi.frames_from_80211(sdf, 0.0)
    assert (f.transport, f.counter, f.payload[:3]) == (Transport.WIFI_NAN, 42, b"\xf0\x19\x01")
    # another service's descriptor is not ours
    other = sdf.replace(wifi.NAN_SERVICE_ID, b"\x01\x02\x03\x04\x05\x06")
    with pytest.raises(NotMine):
        wifi.frames_from_80211(other, 0.0)


def test_nan_service_descriptor_with_filters() -> None:
    info = b"\x05" + b"\x33" * 25
    control = 0x10 | 0x04 | 0x08 | 0x40
    sda = wifi.NAN_SERVICE_ID + bytes((1, 0, control)) + b"\x00\x00" + b"\x02ab" + b"\x01c"
    sda += bytes((len(info),)) + info
    body = bytes.fromhex("0409506f9a13") + struct.pack("<BH", 3, len(sda)) + sda
    frame = wifi.mgmt_header(13, wifi.NAN_DESTINATION, _src(), wifi.NAN_CLUSTER_ID) + body
    (f,) = wifi.frames_from_80211(frame, 0.0)
    assert (f.counter, f.payload) == (5, b"\x33" * 25)
    # cut by the end of the frame: the payload up to there (its decoder counts the cut)
    (f,) = wifi.frames_from_80211(frame[:-3], 0.0)
    assert (f.counter, f.payload) == (5, b"\x33" * 22)
    with pytest.raises(Truncated):
        wifi.frames_from_80211(frame[:-26], 0.0)  # cut before the message counter


def test_radiotap_with_extended_present_words() -> None:
    # TSFT + flags + rate + channel + antsignal, with a second present word (ext bit)
    rt = struct.pack("<BBHII", 0, 0, 0, 0x8000002F, 0x00000020)
    rt += b"\0" * 4  # align TSFT to 8
    rt += struct.pack("<QBBHHb", 123, 0x10, 2, 5180, 0x0140, -71) + b"\xb0"  # 2nd antsignal
    rt = rt[:2] + struct.pack("<H", len(rt)) + rt[4:]
    mac = wifi.build_beacon(_src(), [wifi.astm_element(3, b"\0" * 25)], channel=36)
    (f,) = wifi.frames_from_radiotap(rt + wifi.with_fcs(mac), 0.0)
    assert (f.rssi_dbm, f.channel, f.frequency_hz) == (-71.0, 36, 5180e6)
    assert f.payload == b"\0" * 25


@pytest.mark.parametrize(("mhz", "ch"), [(2412, 1), (2437, 6), (2484, 14), (5180, 36), (5955, 1), (900, None)])
def test_channel_numbers(mhz: int, ch: int | None) -> None:
    assert wifi.channel_from_mhz(mhz) == ch


sources = st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":"))
wifi_frames = st.builds(
    Frame,
    payload=st.binary(min_size=1, max_size=228),
    time=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    transport=st.sampled_from([Transport.WIFI_BEACON, Transport.WIFI_NAN, Transport.DJI_WIFI,
                               Transport.FR_BEACON]),
    source=sources,
    rssi_dbm=st.none() | st.integers(-100, -1).map(float),  # PPI: 0 dBm means "not measured"
    channel=st.none() | st.sampled_from([1, 6, 11, 13, 14, 36, 149]),
    counter=st.integers(0, 255),
)


WIFI_PARSERS = {
    wifi.LINKTYPE_IEEE802_11_RADIOTAP: wifi.frames_from_radiotap,
    wifi.LINKTYPE_PPI: wifi.frames_from_ppi,
    wifi.LINKTYPE_IEEE802_11: wifi.frames_from_80211,
}


@given(wifi_frames, st.sampled_from(sorted(WIFI_PARSERS)))
@settings(max_examples=200, deadline=None)
def test_round_trip(frame: Frame, lt: int) -> None:
    packet = wifi.build_wifi_packet(frame, lt)
    radiotap = lt != wifi.LINKTYPE_IEEE802_11
    (got,) = WIFI_PARSERS[lt](packet, frame.time, "sensor-1")
    assert got.payload == frame.payload
    assert got.transport is frame.transport
    assert got.source == frame.source
    assert got.time == frame.time
    assert got.sensor_id == "sensor-1"
    carries_counter = frame.transport in (Transport.WIFI_BEACON, Transport.WIFI_NAN)
    assert got.counter == (frame.counter if carries_counter else None)
    if radiotap:
        assert got.rssi_dbm == frame.rssi_dbm
        assert got.channel == frame.channel
        if frame.channel:
            assert got.frequency_hz == wifi.mhz_from_channel(frame.channel) * 1e6


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_fuzz_random_bytes(data: bytes) -> None:
    for parse in WIFI_PARSERS.values():
        try:
            frames = parse(data, 0.0)
        except DecodeError:
            continue
        assert frames and all(isinstance(f.payload, bytes) for f in frames)


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_fuzz_mutated_real_packets(data_dir: Path, data: st.DataObject) -> None:
    packets = _real_packets(data_dir)
    packet = bytearray(data.draw(st.sampled_from(packets)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(packet) - 1))
        packet[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(packet)))
    with contextlib.suppress(DecodeError):
        wifi.frames_from_radiotap(bytes(packet[:cut]), 0.0)


_cache: list[bytes] = []


def _real_packets(data_dir: Path) -> list[bytes]:
    if not _cache:
        for name in ("odid_wifi_sample.pcap", "wireless_RID_test_linux_transmitter.pcapng"):
            _cache.extend(d for _, _, d in read_packets(data_dir / name))
    return _cache
