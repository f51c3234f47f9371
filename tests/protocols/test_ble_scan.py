"""The compiled BLE kernels (ble_scan) against the reference parsers (ble).

The kernels mirror every rule of the reference, so beyond agreeing on the frames of every
packet they accept, they return ``NOT_MINE`` exactly where the reference raises ``NotMine``
and ``FALLBACK`` exactly where it raises ``Truncated`` or ``Corrupt``.
"""

from __future__ import annotations

import itertools
import random
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.protocols.scan_fuzz import DAMAGE, damaged, frame_from_row, outcomes_of_one_flip

from dronewatch.errors import DecodeError, NotMine, Partial
from dronewatch.model import Frame
from dronewatch.protocols import ble
from dronewatch.protocols.ble_scan import scan_ll, scan_ll_phdr, scan_nordic
from dronewatch.protocols.link_scan import (
    FALLBACK,
    MAX_FRAMES_PER_PACKET,
    N_FLOAT,
    N_INT,
    NOT_MINE,
    TRANSPORTS,
)
from dronewatch.sources.pcap import read_packets

Kernel = Callable[..., int]
Parser = Callable[[bytes, float, str], list[Frame]]

TIME = 12.5
SENSOR = "s"
KERNELS: dict[int, tuple[Kernel, Parser]] = {
    ble.LINKTYPE_NORDIC_BLE: (scan_nordic, ble.frames_from_nordic),
    ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR: (scan_ll_phdr, ble.frames_from_ll_phdr),
    ble.LINKTYPE_BLUETOOTH_LE_LL: (scan_ll, ble.frames_from_ll),
}
_UNSET = -7  # in every column before the kernel runs: a column it forgets shows up


def run_kernel(
    kernel: Kernel, packet: bytes, before: bytes = b"", after: bytes = b"", row: int = 1
) -> tuple[int, list[Frame]]:
    """Run ``kernel`` on ``packet`` placed inside other bytes; rebuild its frames."""
    buf = np.frombuffer(before + packet + after, np.uint8)
    rows = row + MAX_FRAMES_PER_PACKET
    ints = np.full((rows, N_INT), _UNSET, np.int64)
    floats = np.full((rows, N_FLOAT), float(_UNSET))
    start = len(before)
    status = int(kernel(buf, start, start + len(packet), ints, floats, row))
    frames = [
        frame_from_row(buf, ints[row + i], floats[row + i], TIME, SENSOR)
        for i in range(max(status, 0))
    ]
    for columns in (ints, floats):  # no row but the frames' is written
        assert (columns[:row] == _UNSET).all()
        assert (columns[row + max(status, 0) :] == _UNSET).all()
    return status, frames


def check(linktype: int, packet: bytes, before: bytes = b"", after: bytes = b"") -> int:
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
    assert status == len(expected), packet.hex()
    assert frames == expected, packet.hex()
    assert repr(frames) == repr(expected)  # tells -0.0 from 0.0
    return status


# --- real captures ------------------------------------------------------------------------------


def test_real_captures(data_dir: Path) -> None:
    statuses: Counter[int] = Counter()
    for path in sorted(data_dir.iterdir()):
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        for _t, linktype, data in read_packets(path):
            if linktype in KERNELS:
                statuses[check(linktype, bytes(data), b"\xff" * 3, b"\x16\xfa\xff")] += 1
    # odid_bt5_lr_sample: 244 good AUX_ADV_IND, 30 with the CRC-OK flag clear
    assert statuses == {1: 244, FALLBACK: 30}


# --- built packets ------------------------------------------------------------------------------

_RID = ble.odid_service_data


def _ad_variants(rng: random.Random, legacy: bool) -> list[bytes]:
    """AD data: Remote ID alone, after other structures, and every way of not being it."""
    message = bytes(rng.randrange(256) for _ in range(25))
    pack = bytes((0xF0, 0x19, 3)) + bytes(rng.randrange(256) for _ in range(75))
    body = message if legacy else pack
    short = message[:21]  # leaves room in a legacy advert for one more structure
    counter = rng.randrange(256)
    rid = _RID(counter, body)
    flags = b"\x02\x01\x06"
    other_service = b"\x05\x16\xaa\xfe\x10\x00"
    return [
        rid,
        _RID(counter, b""),
        flags + _RID(counter, short),
        other_service + _RID(counter, short[:15]),
        b"\x03\x16\xfa\xff" + _RID(counter, short[:19]),  # UUID but no room for the app code
        b"\x04\x16\xfa\xff\x0d",  # app code but no counter
        b"\x05\x16\xfa\xff\x0c\x01" + short[:20],  # another application
        b"\x02\x16\xfa" + _RID(counter, short[:20]),  # too short to be service data
        b"\x00" + _RID(counter, short[:22]),  # early termination
        rid[:-4],  # the structure runs past the PDU
        rid[:4],  # ... with its UUID cut
        flags,
        b"",
        b"\x1e\x16\xfa",  # length without data
    ]


def _pdus(rng: random.Random) -> list[bytes]:
    adv_a = bytes(rng.randrange(256) for _ in range(6))
    pdus: list[bytes] = []
    for ad in _ad_variants(rng, legacy=True):
        for pdu_type in (ble.ADV_IND, ble.ADV_NONCONN_IND, ble.ADV_SCAN_IND, 0x1, 0x3, 0x5, 0xA):
            pdus.append(ble.legacy_pdu(adv_a, ad[:31], pdu_type, random=pdu_type != 0x1))
    for ad in _ad_variants(rng, legacy=False):
        pdus.append(ble.aux_adv_pdu(adv_a, ad, adi=rng.randrange(1 << 16)))
        pdus.append(ble.aux_adv_pdu(None, ad))
        pdus.append(bytes((ble.ADV_EXT, len(ad) + 1, 0)) + ad)  # empty extended header
    rid = _RID(1, b"\x01" * 25)
    pdus += [
        bytes((ble.ADV_NONCONN_IND, 5)) + adv_a[:5],  # shorter than its address
        bytes((ble.ADV_EXT, 0)),  # empty extended PDU
        bytes((ble.ADV_EXT, 4, 0x3F, 1, 2, 3)),  # extended header longer than the PDU
        bytes((ble.ADV_EXT, 2 + len(rid), 1, 0x08)) + rid,  # flags without AdvA
    ]
    for header_len in range(1, 9):  # AdvA flagged: 7 bytes of header are needed for it
        header = bytes((header_len, 0x01)) + adv_a + b"\x00"
        pdus.append(
            bytes((ble.ADV_EXT, header_len + 1 + len(rid))) + header[: header_len + 1] + rid
        )
    return pdus


def _nordic_variants(pdu: bytes, rng: random.Random) -> list[bytes]:
    channel = rng.choice((37, 38, 39, rng.randrange(37)))
    rssi = rng.choice((None, -rng.randrange(1, 110)))
    out = []
    for coded, good in itertools.product((False, True), (True, False)):
        v3 = ble.nordic_packet(pdu, channel, rssi, coded=coded, good_crc=good)
        out += [v3[:3] + bytes((version,)) + v3[4:] for version in (0, 1, 2, 3, 4)]
    ll = ble.ll_packet(pdu)
    out.append(b"\xbe\xef" + b"\x00" * 6 + bytes((0x01, channel, 40)) + b"\x00" * 6 + ll)
    out.append(b"\xbe\xef" + b"\x00" * 6 + bytes((0x00, channel, 40)) + b"\x00" * 6 + ll)
    v3 = ble.nordic_packet(pdu, 200, 0)  # no such channel; RSSI byte 0
    out.append(v3)
    out.append(v3[:7] + bytes((rng.randrange(10),)) + v3[8:])  # header shorter than allowed
    out.append(v3[:7] + bytes((rng.randrange(11, 256),)) + v3[8:])  # header of another size
    return out


def _phdr_variants(pdu: bytes, rng: random.Random) -> list[bytes]:
    channel = rng.choice((37, 38, 39, rng.randrange(37)))
    out = []
    for coded, checked, good, rssi in itertools.product(
        (False, True), (True, False), (True, False), (None, -rng.randrange(1, 128), 5)
    ):
        out.append(
            ble.phdr_packet(pdu, channel, rssi, coded=coded, crc_checked=checked, good_crc=good)
        )
    packet = ble.phdr_packet(pdu, channel, -40, crc_checked=False)
    out.append(bytes((rng.randrange(40, 256),)) + packet[1:])  # RF channel out of range
    out.append(packet[:9] + bytes((packet[9] | 0xC0,)) + packet[10:])  # PHY 3
    out.append(packet[:10] + b"\x11\x22\x33\x44" + packet[14:])  # data channel
    # CRC flagged valid by the capturer: its bytes are not read (0xFF next to a cut AD
    # structure's 0xFA would look like the Remote ID UUID)
    out.append(ble.phdr_packet(pdu, channel, -40)[:-3] + b"\xff\xff\xff")
    return out


def _ll_variants(pdu: bytes, rng: random.Random) -> list[bytes]:
    return [ble.ll_packet(pdu), ble.ll_packet(pdu, good_crc=False), ble.ll_packet(pdu, coded=True)]


_VARIANTS = {
    ble.LINKTYPE_NORDIC_BLE: _nordic_variants,
    ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR: _phdr_variants,
    ble.LINKTYPE_BLUETOOTH_LE_LL: _ll_variants,
}


def built_packets(seed: int) -> list[tuple[int, bytes]]:
    rng = random.Random(seed)
    packets = []
    for pdu in _pdus(rng):
        for linktype, variants in _VARIANTS.items():
            for packet in variants(pdu, rng):
                packets.append((linktype, packet))
                packets.append((linktype, packet[: rng.randrange(len(packet))]))
    return packets


@pytest.mark.parametrize("linktype", sorted(KERNELS))
def test_built_packets(linktype: int) -> None:
    statuses: Counter[int] = Counter()
    rng = random.Random(linktype)
    for seed in range(3):
        for lt, packet in built_packets(seed):
            if lt == linktype:
                before = bytes(rng.randrange(256) for _ in range(rng.randrange(4)))
                after = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
                statuses[check(linktype, packet, before, after)] += 1
    assert sum(statuses.values()) > 500
    assert statuses[1] > 50 and statuses[NOT_MINE] > 50 and statuses[FALLBACK] > 50


def test_round_trip_of_the_builder() -> None:
    rng = random.Random(7)
    for linktype in KERNELS:
        for legacy, channel, rssi in itertools.product(
            (True, False), (None, 0, 12, 37, 39), (None, -0.0, -61.0)
        ):
            payload = bytes(rng.randrange(256) for _ in range(25 if legacy else 103))
            source = bytes(rng.randrange(256) for _ in range(6)).hex(":")
            transport = TRANSPORTS[2 if legacy else 3]
            frame = Frame(payload, TIME, transport, source, rssi, channel, None, SENSOR, 9)
            assert check(linktype, ble.build_ble_packet(frame, linktype)) == 1


# --- arguments out of range ---------------------------------------------------------------------


def test_bad_arguments_fall_back() -> None:
    packet = ble.phdr_packet(ble.legacy_pdu(b"\x01" * 6, _RID(1, b"\x02" * 25)), 37, -50)
    buf = np.frombuffer(packet, np.uint8)
    ints = np.zeros((2, N_INT), np.int64)
    floats = np.zeros((2, N_FLOAT))
    assert scan_ll_phdr(buf, 0, len(buf), ints, floats, 1) == 1
    for start, end, k in ((0, len(buf) + 1, 0), (-1, len(buf), 0), (5, 4, 0), (0, len(buf), 2)):
        for kernel, _ in KERNELS.values():
            assert kernel(buf, start, end, ints, floats, k) == FALLBACK


# --- fuzz ---------------------------------------------------------------------------------------

_SEEDS = [p for p in built_packets(99) if p[1]]


@given(
    st.sampled_from(sorted(KERNELS)),
    st.binary(max_size=300),
    st.binary(max_size=8),
    st.binary(max_size=40),
)
@settings(max_examples=500, deadline=None)
def test_random_bytes(linktype: int, packet: bytes, before: bytes, after: bytes) -> None:
    check(linktype, packet, before, after)


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
    check(linktype, damaged(packet, flips, cut), before, after)


def test_damaged_packets_reach_every_outcome() -> None:
    # the fuzz above is only worth something if flips keep some packets acceptable
    statuses = outcomes_of_one_flip(_SEEDS, check)
    assert min(statuses[1], statuses[NOT_MINE], statuses[FALLBACK]) > 20


def test_nordic_legacy_header() -> None:
    # the 0.9.7 header the variants build by hand: flags, channel, RSSI at 8, 9, 10; LL at 17
    ll = ble.ll_packet(ble.legacy_pdu(b"\x01" * 6, _RID(4, b"\x02" * 25)))
    packet = b"\xbe\xef" + b"\x00" * 6 + struct.pack("<BBB", 1, 38, 33) + b"\x00" * 6 + ll
    status, (frame,) = run_kernel(scan_nordic, packet)
    assert (status, frame.channel, frame.rssi_dbm, frame.counter) == (1, 38, -33.0, 4)
