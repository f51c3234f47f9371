"""Zadoff-Chu reference symbols of the DroneID burst (roots 600 and 147, length 601).

z_u(n) = exp(-j pi u n (n + 1) / 601), n = 0..600; the middle element (n = 300, on DC) is
dropped and the other 600 values go on carriers -300..-1, +1..+300 in ascending order.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from dronewatch.phy.ocusync.numerology import ZC_LEN


def zc_sequence(root: int, length: int = ZC_LEN) -> npt.NDArray[np.complex128]:
    n = np.arange(length, dtype=np.float64)
    # n (n + 1) mod (2 * length) keeps the phase argument small and exact.
    arg = np.mod(n * (n + 1) * root, 2 * length)
    return np.exp(-1j * np.pi * arg / length)


@lru_cache(maxsize=8)
def zc_carriers(root: int) -> npt.NDArray[np.complex128]:
    """The 600 carrier values of root ``root``, ascending frequency, DC removed (read-only)."""
    seq = zc_sequence(root)
    mid = ZC_LEN // 2
    out = np.concatenate([seq[:mid], seq[mid + 1 :]])
    out.setflags(write=False)
    return out
