"""The LTE pseudo-random (Gold) sequence of TS 36.211 section 7.2 used as DroneID scrambler.

c(n) = x1(n + Nc) xor x2(n + Nc), Nc = 1600, x1 initialised to 1, 0, ..., 0 and x2 to
c_init (bit i of c_init -> x2(i)); DroneID uses c_init = 0x12345678. The sequence restarts for
the data bits, so data bits are XORed with c(0..7199) and the 9-symbol layout's first symbol
carries c(0..1199) as QPSK.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from dronewatch.phy.ocusync.numerology import CODED_BITS, SCRAMBLER_C_INIT

NC = 1600


def gold_sequence(length: int, c_init: int = SCRAMBLER_C_INIT) -> npt.NDArray[np.uint8]:
    """The first ``length`` bits of the LTE Gold sequence for ``c_init``."""
    if length < 0:
        raise ValueError("length must be >= 0")
    total = length + NC + 31
    x1 = np.zeros(total, dtype=np.uint8)
    x2 = np.zeros(total, dtype=np.uint8)
    x1[0] = 1
    for i in range(31):
        x2[i] = (c_init >> i) & 1
    for n in range(total - 31):
        x1[n + 31] = x1[n + 3] ^ x1[n]
        x2[n + 31] = x2[n + 3] ^ x2[n + 2] ^ x2[n + 1] ^ x2[n]
    return (x1[NC : NC + length] ^ x2[NC : NC + length]).astype(np.uint8)


@lru_cache(maxsize=4)
def _cached(length: int, c_init: int) -> npt.NDArray[np.uint8]:
    seq = gold_sequence(length, c_init)
    seq.setflags(write=False)
    return seq


def scrambler_bits(length: int = CODED_BITS) -> npt.NDArray[np.uint8]:
    """DroneID scrambler bits c(0..length-1) (read-only, cached)."""
    return _cached(length, SCRAMBLER_C_INIT)


def scramble(bits: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """XOR hard bits with the DroneID scrambler (its own inverse)."""
    seq = scrambler_bits(len(bits))
    return np.bitwise_xor(np.asarray(bits, dtype=np.uint8), seq)


def descramble_llrs(llrs: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Descramble soft bits (positive = bit 0): flip the sign where the scrambler bit is 1."""
    seq = scrambler_bits(len(llrs))
    sign = (1 - 2 * seq.astype(np.int8)).astype(np.float32)
    return (np.asarray(llrs, dtype=np.float32) * sign).astype(np.float32)
