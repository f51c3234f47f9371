"""LTE turbo rate matching and its inverse (3GPP TS 36.212 §5.1.4.1), one code block.

The three encoder output streams d0, d1, d2 (each D = K + 4 bits) are sub-block interleaved
(32 columns, the column permutation of Table 5.1.4-1, d2 with its one-position offset), laid
out in the circular buffer w = [v0, v1/v2 interlaced] and read from k0 = R·(2·⌈Ncb/(8R)⌉·rv + 2),
skipping dummy cells, until E bits are out. No soft-buffer limit (Ncb = Kw).

Everything is expressed through one index map ``rate_match_map(D, E, rv)``: output bit i is
stream bit ``map[i]`` of the concatenation [d0, d1, d2] (length 3D). Encoding is a gather;
de-rate-matching is a scatter-add (repeated bits sum their LLRs, punctured bits stay 0).
"""

from __future__ import annotations

import functools
from typing import Final

import numpy as np
import numpy.typing as npt

SUBBLOCK_COLUMNS: Final = 32
# TS 36.212 Table 5.1.4-1: inter-column permutation of the turbo sub-block interleaver.
COLUMN_PERMUTATION: Final = (
    0, 16, 8, 24, 4, 20, 12, 28, 2, 18, 10, 26, 6, 22, 14, 30,
    1, 17, 9, 25, 5, 21, 13, 29, 3, 19, 11, 27, 7, 23, 15, 31,
)  # fmt: skip


def _subblock_sources(d: int, *, third: bool) -> npt.NDArray[np.int64]:
    """For each cell of the interleaved sub-block v, the stream index it holds (-1: dummy)."""
    c = SUBBLOCK_COLUMNS
    rows = -(-d // c)
    kpi = rows * c
    nd = kpi - d
    k = np.arange(kpi)
    perm = np.asarray(COLUMN_PERMUTATION, dtype=np.int64)
    pos = perm[k // rows] + c * (k % rows)
    if third:
        pos = (pos + 1) % kpi
    # y[pos] holds dummy for pos < nd, else d[pos - nd]
    return np.where(pos < nd, -1, pos - nd).astype(np.int64)


@functools.lru_cache(maxsize=16)
def circular_buffer(d: int) -> npt.NDArray[np.int64]:
    """The circular buffer w as stream indices into [d0, d1, d2] (-1 marks a dummy cell)."""
    v0 = _subblock_sources(d, third=False)
    v1 = _subblock_sources(d, third=False)
    v2 = _subblock_sources(d, third=True)
    kpi = v0.size
    w = np.empty(3 * kpi, dtype=np.int64)
    w[:kpi] = v0
    w[kpi::2] = np.where(v1 < 0, -1, v1 + d)
    w[kpi + 1 :: 2] = np.where(v2 < 0, -1, v2 + 2 * d)
    w.flags.writeable = False
    return w


@functools.lru_cache(maxsize=16)
def rate_match_map(d: int, e: int, rv: int = 0) -> npt.NDArray[np.int64]:
    """Index map of the rate matcher: output bit i = [d0, d1, d2][map[i]].

    ``d`` is the stream length D = K + 4, ``e`` the number of output bits, ``rv`` the
    redundancy version 0..3.
    """
    if d <= 4 or e <= 0 or rv not in (0, 1, 2, 3):
        raise ValueError(f"bad rate-matching parameters D={d} E={e} rv={rv}")
    w = circular_buffer(d)
    ncb = w.size
    rows = ncb // (3 * SUBBLOCK_COLUMNS)
    k0 = rows * (2 * -(-ncb // (8 * rows)) * rv + 2)
    order = np.roll(w, -k0)
    valid = order[order >= 0]
    reps = -(-e // valid.size)
    out = np.tile(valid, reps)[:e].copy()
    out.flags.writeable = False
    return out


def rate_match(streams: npt.NDArray[np.uint8], e: int, rv: int = 0) -> npt.NDArray[np.uint8]:
    """Rate-match encoder output ``streams`` (shape (3, D)) to ``e`` bits."""
    if streams.ndim != 2 or streams.shape[0] != 3:
        raise ValueError("streams must have shape (3, D)")
    idx = rate_match_map(int(streams.shape[1]), e, rv)
    return np.ascontiguousarray(streams.reshape(-1)[idx], dtype=np.uint8)


def derate_match(llrs: npt.NDArray[np.floating], d: int, rv: int = 0) -> npt.NDArray[np.float32]:
    """Soft inverse of :func:`rate_match`: (3, D) LLRs, repeated bits summed, punctured 0."""
    flat = np.asarray(llrs, dtype=np.float32).reshape(-1)
    idx = rate_match_map(d, int(flat.size), rv)
    out = np.bincount(idx, weights=flat, minlength=3 * d)
    return out.astype(np.float32).reshape(3, d)
