"""The compiled 802.11 kernels (wifi_scan) against the reference parsers (wifi).

Whenever a kernel returns a frame count, the frames rebuilt from its columns must equal the
reference's; whenever it returns ``NOT_MINE`` the reference must raise ``NotMine``. Every
error of the reference is ``FALLBACK``; the kernels also fall back on a few layouts they
leave to the reference (more than ``MAX_FRAMES_PER_PACKET`` frames, a vendor element
shorter than its OUI), and nowhere else on well-formed input.
"""

from __future__ import annotations

import functools
import random
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.protocols.scan_fuzz import DAMAGE, damaged, frame_from_row, outcomes_of_one_flip

from dronewatch.errors import DecodeError, NotMine, Partial
from dronewatch.model import Frame, Transport
from dronewatch.protocols import wifi, wifi_scan
from dronewatch.protocols.link_scan import (
    C_SOURCE,
    C_SOURCE_REVERSED,
    FALLBACK,
    MAX_FRAMES_PER_PACKET,
    N_FLOAT,
    N_INT,
    NOT_MINE,
)
from dronewatch.sources.pcap import read_packets

Kernel = Callable[..., int]
Parser = Callable[[bytes, float, str], list[Frame]]

TIME = 3.25
SENSOR = "s"
RADIOTAP = wifi.LINKTYPE_IEEE802_11_RADIOTAP
PLAIN = wifi.LINKTYPE_IEEE802_11
KERNELS: dict[int, tuple[Kernel, Parser]] = {
    RADIOTAP: (wifi_scan.scan_radiotap, wifi.frames_from_radiotap),
    PLAIN: (wifi_scan.scan_80211, wifi.frames_from_80211),
}
_UNSET = -7  # in every column before the kernel runs: a column it forgets shows up
# Bytes around the packet that would be read as drone data if a kernel read past its end.
_AFTER = wifi.OUI_ASTM + b"\x0d\x01" + wifi.NAN_SERVICE_ID + wifi.OUI_DJI[0] + b"\xff" * 8


def run_kernel(
    kernel: Kernel, packet: bytes, before: bytes = b"\x00\xdd", after: bytes = _AFTER,
    row: int = 2,
) -> tuple[int, list[Frame]]:
    """Run ``kernel`` on ``packet`` placed inside other bytes; rebuild its frames."""
    buf = np.frombuffer(before + packet + after, np.uint8)
    rows = row + MAX_FRAMES_PER_PACKET
    ints = np.full((rows, N_INT), _UNSET, np.int64)
    floats = np.full((rows, N_FLOAT), float(_UNSET))
    start = len(before)
    status = int(kernel(buf, start, start + len(packet), ints, floats, row))
    assert status >= FALLBACK
    assert (ints[:row] == _UNSET).all() and (floats[:row] == _UNSET).all()
    if status < 0:
        return status, []
    assert (ints[row + status :] == _UNSET).all()
    return status, [_frame(buf, ints[row + i], floats[row + i]) for i in range(status)]


def _frame(buf: np.ndarray, ints: np.ndarray, floats: np.ndarray) -> Frame:
    # Wi-Fi frames always name their transmitter, in transmission order
    assert ints[C_SOURCE] >= 0 and ints[C_SOURCE_REVERSED] == 0
    return frame_from_row(buf, ints, floats, TIME, SENSOR)


def check(linktype: int, packet: bytes, before: bytes = b"\x00\xdd", after: bytes = _AFTER) -> int:
    """Assert kernel and reference agree on ``packet``; the kernel's status."""
    kernel, parser = KERNELS[linktype]
    status, frames = run_kernel(kernel, packet, before, after)
    try:
        expected = parser(packet, TIME, SENSOR)
    except NotMine:
        assert status == NOT_MINE, packet.hex()
        return status
    except DecodeError:
        assert status == FALLBACK, packet.hex()
        return status
    if isinstance(expected, Partial):  # good frames and an error: the reference counts it
        assert status == FALLBACK, packet.hex()
        return status
    if status == FALLBACK:
        assert len(expected) > MAX_FRAMES_PER_PACKET or _has_short_drone_element(packet), packet.hex()
        return status
    assert status == len(expected), packet.hex()
    assert frames == expected, packet.hex()
    assert repr(frames) == repr(expected)  # tells -0.0 from 0.0
    return status


def _has_short_drone_element(packet: bytes) -> bool:
    """Whether a vendor element with fewer than 3 bytes of body precedes a known OUI."""
    return any(
        packet[i] == 221 and packet[i + 1] < 3 and packet[i + 2 : i + 5] in wifi.VENDOR_ELEMENTS
        for i in range(len(packet) - 4)
    )


# --- real captures ------------------------------------------------------------------------------


def test_real_captures(data_dir: Path) -> None:
    statuses: Counter[tuple[int, int]] = Counter()
    for path in sorted(data_dir.iterdir()):
        if path.suffix not in (".pcap", ".pcapng"):  # (not the expected-decode files)
            continue
        for _t, linktype, data in read_packets(path):
            if linktype in KERNELS:
                statuses[linktype, check(linktype, bytes(data))] += 1
    # beacons (21), NAN (21 + 21 ASTM beacons, 21 sync beacons), FCS capture (21), DJI (10)
    assert statuses == {(RADIOTAP, 1): 94, (RADIOTAP, NOT_MINE): 21}


# --- built packets ------------------------------------------------------------------------------

_SOURCE = bytes.fromhex("020000abcdef")
_OTHER_VENDOR = wifi.vendor_element(b"\x00\x50\xf2", b"\x02\x01\x01wmm")  # Microsoft WMM
_FREQUENCIES = (None, 2412, 2437, 2484, 5180, 5825, 6115, 900, 2400)


def _random_frame(rng: random.Random) -> Frame:
    transport = rng.choice(
        (Transport.WIFI_BEACON, Transport.WIFI_NAN, Transport.DJI_WIFI, Transport.FR_BEACON)
    )
    payload = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 25, 28, 78, 240))))
    mhz = rng.choice(_FREQUENCIES)
    return Frame(
        payload,
        TIME,
        transport,
        bytes(rng.randrange(256) for _ in range(6)).hex(":"),
        rng.choice((None, -0.0, -33.0, -99.0, float(rng.randrange(-128, 0)))),
        None,
        None if mhz is None else mhz * 1e6,
        SENSOR,
        rng.randrange(256),
    )


def _drone_elements(rng: random.Random) -> list[bytes]:
    pick = rng.randrange(5)
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
    if pick == 0:
        return [wifi.astm_element(rng.randrange(256), body)]
    if pick == 1:
        return [wifi.vendor_element(rng.choice(wifi.OUI_DJI), body)]
    if pick == 2:
        return [wifi.vendor_element(wifi.OUI_FR, body)]
    if pick == 3:
        return [wifi.vendor_element(wifi.OUI_ASTM, bytes((0x0E,)) + body)]  # another OUI type
    return [_OTHER_VENDOR]


def _radiotap(rng: random.Random, rssi: int | None, mhz: int | None, flags: int) -> bytes:
    """A radiotap header with TSFT and extended present words, fields at their alignments."""
    present = 0x01 | 0x02 | (0x08 if mhz is not None else 0) | (0x20 if rssi is not None else 0)
    extra_words = rng.randrange(1, 3)
    words = [present | wifi.RT_EXT] + [wifi.RT_EXT] * (extra_words - 1) + [0x20]
    header = struct.pack(f"<BBH{len(words)}I", 0, 0, 0, *words)
    header += b"\x00" * (-len(header) % 8) + struct.pack("<QB", 123, flags)
    if mhz is not None:
        header += b"\x00" * (len(header) % 2) + struct.pack("<HH", mhz, 0x00A0)
    if rssi is not None:
        header += struct.pack("<b", rssi)
    header += b"\xb0"  # dBm signal of the second antenna, in the extended words
    return header[:2] + struct.pack("<H", len(header)) + header[4:]


def _nan_sdf(rng: random.Random, counter: int, pack: bytes) -> bytes:
    """A NAN service discovery frame with optional binding bitmap, filters and info."""
    control = rng.choice((0x10, 0x14, 0x18, 0x1C, 0x50, 0x5C, 0x00, 0x04))
    sda = wifi.NAN_SERVICE_ID + bytes((1, 0, control))
    if control & 0x40:
        sda += b"\x00\x01"
    for bit in (0x04, 0x08):
        if control & bit:
            sda += bytes((3,)) + b"abc"
    if control & 0x10:
        sda += bytes((len(pack) + 1, counter)) + pack
    attributes = [
        struct.pack("<BH", 0x03, len(sda)) + sda,
        struct.pack("<BH", 0x0E, 4) + b"\x01\x00\x02\x00",
        struct.pack("<BH", 0x03, 9) + b"\x01\x02\x03\x04\x05\x06\x01\x00\x10",  # another service
    ]
    rng.shuffle(attributes)
    body = bytes((4, 9)) + wifi.OUI_WFA + bytes((wifi.NAN_OUI_TYPE,)) + b"".join(attributes)
    subtype = rng.choice((13, 14))
    return wifi.mgmt_header(subtype, wifi.NAN_DESTINATION, _SOURCE, wifi.NAN_CLUSTER_ID) + body


def _macs(rng: random.Random) -> list[bytes]:
    """802.11 frames: drone beacons and NAN of every kind, and what is not ours."""
    frame = _random_frame(rng)
    payload = frame.payload
    elements = [e for _ in range(rng.choice((1, 2, 3, 8, 9))) for e in _drone_elements(rng)]
    beacon = wifi.build_beacon(_SOURCE, elements, ssid=b"x" * rng.randrange(33),
                               probe_response=rng.random() < 0.3)
    with_htc = bytearray(beacon[:24] + b"\x00\x00\x00\x00" + beacon[24:])
    with_htc[1] |= 0x80
    protected = bytearray(beacon)
    protected[1] |= 0x40
    other_subtype = bytearray(beacon)
    other_subtype[0] = rng.choice((0x00, 0x40, 0xA0, 0xC0))
    data_frame = bytearray(beacon)
    data_frame[0] = rng.choice((0x08, 0x88, 0x04))
    short_element = wifi.build_beacon(_SOURCE, [bytes((221, rng.randrange(3))), *elements])
    return [
        wifi.build_80211_for_frame(frame),
        beacon,
        bytes(with_htc),
        bytes(protected),
        bytes(other_subtype),
        bytes(data_frame),
        short_element,
        _nan_sdf(rng, frame.counter or 0, payload[:200]),
        wifi.build_nan_sync_beacon(_SOURCE),
        wifi.build_beacon(_SOURCE, [wifi.astm_element(1, payload[:200]), *elements[:3]])[:-3],
    ]


def built_packets(seed: int) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    packets: list[tuple[int, bytes]] = []
    frame = _random_frame(rng)
    packets += [(lt, wifi.build_wifi_packet(frame, lt)) for lt in (RADIOTAP, PLAIN)]
    for mac in _macs(rng):
        rssi = rng.choice((None, -40, 0, -128, 127))
        mhz = rng.choice(_FREQUENCIES)
        fcs, bad = rng.random() < 0.5, rng.random() < 0.1
        body = wifi.with_fcs(mac) if fcs else mac
        plain_header = wifi.build_radiotap(rssi, mhz, fcs=fcs, bad_fcs=bad)
        extended = _radiotap(rng, rssi, mhz, (0x10 if fcs else 0) | (0x40 if bad else 0))
        for packet in ((PLAIN, mac), (RADIOTAP, plain_header + body), (RADIOTAP, extended + body)):
            packets.append(packet)
            packets.append((packet[0], packet[1][: rng.randrange(len(packet[1]))]))
    return packets


@pytest.mark.parametrize("linktype", sorted(KERNELS))
def test_built_packets(linktype: int) -> None:
    statuses: Counter[int] = Counter()
    rng = random.Random(linktype)
    for seed in range(120):
        for lt, packet in built_packets(seed):
            if lt == linktype:
                before = bytes(rng.randrange(256) for _ in range(rng.randrange(5)))
                statuses[check(linktype, packet, before)] += 1
    assert sum(statuses.values()) > 1000
    assert statuses[NOT_MINE] > 100 and statuses[FALLBACK] > 50
    assert statuses[1] > 100 and statuses[2] > 10 and statuses[8] > 0


def test_radiotap_fields() -> None:
    mac = wifi.build_beacon(_SOURCE, [wifi.astm_element(9, b"\x01" * 25)])
    packet = _radiotap(random.Random(1), -71, 5180, 0x10) + wifi.with_fcs(mac)
    status, (frame,) = run_kernel(wifi_scan.scan_radiotap, packet)
    assert status == 1
    assert (frame.rssi_dbm, frame.channel, frame.frequency_hz) == (-71.0, 36, 5180e6)
    assert (frame.counter, frame.payload, frame.source) == (9, b"\x01" * 25, "02:00:00:ab:cd:ef")
    # an unknown frequency keeps its value without a channel number
    packet = wifi.build_radiotap(None, 900) + mac
    assert run_kernel(wifi_scan.scan_radiotap, packet)[1][0].channel is None
    assert run_kernel(wifi_scan.scan_radiotap, packet)[1][0].frequency_hz == 900e6


def test_status_of_special_packets() -> None:
    mac = wifi.build_beacon(_SOURCE, [wifi.astm_element(1, b"\x01" * 25)])
    header = wifi.build_radiotap(-40, 2437, fcs=True)
    assert check(RADIOTAP, header + wifi.with_fcs(mac)) == 1
    assert check(RADIOTAP, wifi.build_radiotap(fcs=True, bad_fcs=True) + wifi.with_fcs(mac)) == FALLBACK
    assert check(RADIOTAP, b"\x01" + header[1:] + mac) == NOT_MINE  # radiotap version 1
    assert check(RADIOTAP, header[:7]) == FALLBACK
    many = wifi.build_beacon(_SOURCE, [wifi.vendor_element(wifi.OUI_FR, b"fr")] * 9)
    assert check(PLAIN, many) == FALLBACK
    assert check(PLAIN, many[:-4]) == MAX_FRAMES_PER_PACKET
    assert check(PLAIN, wifi.build_nan_sync_beacon(_SOURCE)) == NOT_MINE
    assert check(PLAIN, b"\x08") == NOT_MINE  # a data frame, however short
    assert check(PLAIN, b"\x80\x00") == FALLBACK  # a beacon cut short


def test_channel_numbers() -> None:
    # the kernels compile the reference function: compiled, it answers as interpreted
    for mhz in range(1, 1 << 16):
        assert wifi_scan._channel_from_mhz(mhz) == wifi.channel_from_mhz(mhz), mhz


def test_vendor_table_follows_wifi(monkeypatch: pytest.MonkeyPatch) -> None:
    # a format added to wifi.VENDOR_ELEMENTS reaches kernels built from wifi_tables()
    oui = b"\x00\x11\x22"
    monkeypatch.setitem(wifi.VENDOR_ELEMENTS, oui, (Transport.FR_BEACON, None))
    tables = wifi_scan.wifi_tables()
    assert int.from_bytes(oui, "big") in tables.vendor_oui
    _, scan_80211 = wifi_scan._make_kernels(tables)
    packet = wifi.build_beacon(_SOURCE, [wifi.vendor_element(oui, b"new format")])
    status, frames = run_kernel(scan_80211, packet)
    assert status == 1
    assert frames == wifi.frames_from_80211(packet, TIME, SENSOR)
    assert frames[0].transport is Transport.FR_BEACON and frames[0].payload == b"new format"
    # the module's kernels, built from the table before the change, do not know the format
    assert run_kernel(wifi_scan.scan_80211, packet)[0] == NOT_MINE


def test_bad_arguments_fall_back() -> None:
    packet = wifi.build_radiotap(-50, 2437) + wifi.build_beacon(
        _SOURCE, [wifi.astm_element(1, b"\x02" * 25)]
    )
    buf = np.frombuffer(packet, np.uint8)
    ints = np.zeros((2, N_INT), np.int64)
    floats = np.zeros((2, N_FLOAT))
    assert wifi_scan.scan_radiotap(buf, 0, len(buf), ints, floats, 1) == 1
    for start, end, k in ((0, len(buf) + 1, 0), (-1, len(buf), 0), (5, 4, 0), (0, len(buf), 2)):
        assert wifi_scan.scan_radiotap(buf, start, end, ints, floats, k) == FALLBACK
    too_narrow = np.zeros((2, N_INT - 1), np.int64)
    assert wifi_scan.scan_radiotap(buf, 0, len(buf), too_narrow, floats, 0) == FALLBACK


# --- fuzz ---------------------------------------------------------------------------------------


_BARE_RADIOTAP = b"\x00\x00\x08\x00\x00\x00\x00\x00"  # no fields: the 802.11 frame as is


@functools.cache
def bounds_checked_radiotap() -> Kernel:
    """scan_radiotap compiled with numba's bounds checking (not cached on disk, where it
    would take the place of the kernel)."""
    kernel: Any = wifi_scan.scan_radiotap  # a numba dispatcher
    options = {k: v for k, v in kernel.targetoptions.items() if k != "nopython"}
    checked: Kernel = numba.njit(**{**options, "boundscheck": True})(kernel.py_func)
    return checked


def check_with_bounds(linktype: int, packet: bytes, before: bytes, after: bytes) -> None:
    """:func:`check`, and the packet alone at the end of a buffer reads nothing past it."""
    status = check(linktype, packet, before, after)
    if linktype == PLAIN:  # the same 802.11 code, behind a header without fields
        packet = _BARE_RADIOTAP + packet
    assert run_kernel(bounds_checked_radiotap(), packet, before, b"")[0] == status


_SEEDS = [p for seed in range(4) for p in built_packets(1000 + seed) if p[1]]


@given(
    st.sampled_from(sorted(KERNELS)),
    st.binary(max_size=300),
    st.binary(max_size=8),
    st.binary(max_size=40),
)
@settings(max_examples=500, deadline=None)
def test_random_bytes(linktype: int, packet: bytes, before: bytes, after: bytes) -> None:
    check_with_bounds(linktype, packet, before, after)


@given(
    st.sampled_from(sorted(KERNELS)),
    st.sampled_from((b"\x00\x00\x08\x00\x00\x00\x00\x00", b"\x80\x00", b"\xd0\x00")),
    st.binary(max_size=300),
)
@settings(max_examples=500, deadline=None)
def test_random_bodies(linktype: int, head: bytes, body: bytes) -> None:
    # random bytes behind a plausible radiotap or management header get further in
    check_with_bounds(linktype, head + body, b"", _AFTER)


@given(st.sampled_from(_SEEDS), *DAMAGE)
@settings(max_examples=1000, deadline=None)
def test_damaged_packets(
    seed: tuple[int, bytes],
    flips: list[tuple[int, int]],
    cut: int | None,
    before: bytes,
    after: bytes,
) -> None:
    linktype, packet = seed
    check_with_bounds(linktype, damaged(packet, flips, cut), before, after)


def test_damaged_packets_reach_every_outcome() -> None:
    # the fuzz above is only worth something if flips keep some packets acceptable
    statuses = outcomes_of_one_flip(_SEEDS, check)
    assert min(statuses[1], statuses[NOT_MINE], statuses[FALLBACK]) > 20
