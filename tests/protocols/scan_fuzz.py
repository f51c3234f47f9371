"""Helpers of the link-scan kernel tests (``test_*_scan.py``): frames from rows, damage."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from dronewatch.model import Frame
from dronewatch.protocols.link_scan import (
    C_CHANNEL,
    C_COUNTER,
    C_KIND,
    C_LINK_RETRY,
    C_LINK_SEQ,
    C_PAYLOAD_END,
    C_PAYLOAD_START,
    C_SOURCE,
    C_SOURCE_REVERSED,
    C_TRANSPORT,
    F_FREQUENCY,
    F_RSSI,
    FRAME_KINDS,
    TRANSPORTS,
)


def frame_from_row(
    buf: np.ndarray, ints: np.ndarray, floats: np.ndarray, time: float, sensor_id: str
) -> Frame:
    """The frame a kernel's row describes, built independently of ``link_batch``."""
    assert 0 <= ints[C_PAYLOAD_START] <= ints[C_PAYLOAD_END] <= len(buf)
    source = None
    if ints[C_SOURCE] >= 0:
        address = bytes(buf[ints[C_SOURCE] : ints[C_SOURCE] + 6])
        assert len(address) == 6
        source = (address[::-1] if ints[C_SOURCE_REVERSED] == 1 else address).hex(":")
    rssi, frequency = float(floats[F_RSSI]), float(floats[F_FREQUENCY])
    assert ints[C_LINK_RETRY] in (0, 1) and -1 <= ints[C_LINK_SEQ] <= 0xFFF
    return Frame(
        bytes(buf[ints[C_PAYLOAD_START] : ints[C_PAYLOAD_END]]),
        time,
        TRANSPORTS[ints[C_TRANSPORT]],
        source,
        None if math.isnan(rssi) else rssi,
        None if ints[C_CHANNEL] == -1 else int(ints[C_CHANNEL]),
        None if math.isnan(frequency) else frequency,
        sensor_id,
        None if ints[C_COUNTER] == -1 else int(ints[C_COUNTER]),
        None,
        FRAME_KINDS[ints[C_KIND]],
        None if ints[C_LINK_SEQ] == -1 else int(ints[C_LINK_SEQ]),
        bool(ints[C_LINK_RETRY] == 1),
    )


#: Hypothesis arguments after the seed packet: byte flips, a cut, bytes before and after.
DAMAGE = (
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
    st.none() | st.integers(0, 10_000),
    st.binary(max_size=8),
    st.binary(max_size=40),
)


def damaged(packet: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    """``packet`` with bits flipped (position modulo the length, XOR mask) and cut short."""
    out = bytearray(packet)
    for position, mask in flips:
        out[position % len(out)] ^= mask
    if cut is not None:
        del out[cut % len(out) :]
    return bytes(out)


def outcomes_of_one_flip(
    seeds: list[tuple[int, bytes]], check: Callable[[int, bytes], int], seed: int = 3
) -> Counter[int]:
    """Kernel outcomes of the seed packets with one random bit flipped each."""
    rng = random.Random(seed)
    statuses: Counter[int] = Counter()
    for linktype, packet in seeds:
        flip = [(rng.randrange(len(packet)), 1 << rng.randrange(8))]
        statuses[check(linktype, damaged(packet, flip, None))] += 1
    return statuses
