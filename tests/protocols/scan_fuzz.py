"""Damage for the fuzz tests of the link-scan kernels (``test_*_scan.py``)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from hypothesis import strategies as st

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
