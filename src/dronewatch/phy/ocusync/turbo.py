"""LTE turbo code (3GPP TS 36.212 §5.1.3.2): encoder with trellis termination, soft decoder.

Parallel concatenation of two 8-state recursive systematic convolutional encoders, feedback
g0 = 1 + D² + D³ (octal 13) and feed-forward g1 = 1 + D + D³ (octal 15), joined by the QPP
interleaver Π(i) = (f1·i + f2·i²) mod K. Output: three streams d0, d1, d2 of D = K + 4 bits
(systematic, parity 1, parity 2, each closed by the tail bits of §5.1.3.2.2).

The decoder is an iterative BCJR decoder in the log domain, compiled with numba: either
log-MAP (Jacobian logarithm from a 1/16-step table, error < 0.016) or max-log-MAP with
extrinsic scaling. It stops early
when the hard decision passes CRC-24A (the last 24 bits of the block, as on the DroneID
transport block). LLR convention everywhere: L = log P(b=0)/P(b=1), positive means 0.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from dronewatch.jit import njit
from dronewatch.phy.ocusync.crc import CRC24A_POLY

# QPP interleaver parameters (TS 36.212 Table 5.1.3-3): DroneID's K = 1408 and a few sizes
# used in tests; pass f1/f2 explicitly for any other LTE block size.
QPP_PARAMS: Final[dict[int, tuple[int, int]]] = {
    40: (3, 10),
    512: (31, 64),
    1024: (31, 64),
    1408: (43, 88),
    6144: (263, 480),
}

NUM_STATES: Final = 8
MAX_ITERATIONS: Final = 64  # refuse more: a decode must stay bounded in time
_NEG: Final = -1.0e30


def _trellis() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """next_state[s, u], parity[s, u] with s = 4·s1 + 2·s2 + s3 (s1 = most recent)."""
    nxt = np.zeros((NUM_STATES, 2), dtype=np.int64)
    par = np.zeros((NUM_STATES, 2), dtype=np.int64)
    for s in range(NUM_STATES):
        s1, s2, s3 = (s >> 2) & 1, (s >> 1) & 1, s & 1
        for u in range(2):
            a = u ^ s2 ^ s3
            par[s, u] = a ^ s1 ^ s3
            nxt[s, u] = (a << 2) | (s1 << 1) | s2
    return nxt, par


NEXT_STATE, PARITY = _trellis()


@functools.lru_cache(maxsize=8)
def qpp_interleaver(k: int, f1: int | None = None, f2: int | None = None) -> npt.NDArray[np.int64]:
    """Π(i) = (f1·i + f2·i²) mod K; the second encoder reads input bit Π(i) at step i."""
    if f1 is None or f2 is None:
        if k not in QPP_PARAMS:
            raise ValueError(f"no QPP parameters known for K={k}")
        f1, f2 = QPP_PARAMS[k]
    i = np.arange(k, dtype=np.int64)
    perm = (f1 * i + f2 * ((i * i) % k)) % k
    if np.unique(perm).size != k:
        raise ValueError(f"QPP ({f1}, {f2}) is not a permutation of {k}")
    perm.flags.writeable = False
    return perm


@njit()
def _rsc_encode(
    bits: npt.NDArray[np.uint8], nxt: npt.NDArray[np.int64], par: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """One constituent encoder: parity[K], tail systematic x[3], tail parity z[3]."""
    k = bits.size
    z = np.empty(k, dtype=np.uint8)
    s = 0
    for i in range(k):
        u = bits[i]
        z[i] = par[s, u]
        s = nxt[s, u]
    tx = np.empty(3, dtype=np.uint8)
    tz = np.empty(3, dtype=np.uint8)
    for i in range(3):
        u = ((s >> 1) ^ s) & 1  # feedback value: drives the register towards zero
        tx[i] = u
        tz[i] = par[s, u]
        s = nxt[s, u]
    return z, tx, tz


def turbo_encode(
    bits: npt.ArrayLike, f1: int | None = None, f2: int | None = None
) -> npt.NDArray[np.uint8]:
    """Encode K bits into the (3, K + 4) streams d0, d1, d2 (with trellis termination)."""
    c = np.ascontiguousarray(np.asarray(bits, dtype=np.uint8) & 1)
    if c.ndim != 1:
        raise ValueError("bits must be one-dimensional")
    k = c.size
    perm = qpp_interleaver(k, f1, f2)
    z1, x1t, z1t = _rsc_encode(c, NEXT_STATE, PARITY)
    z2, x2t, z2t = _rsc_encode(np.ascontiguousarray(c[perm]), NEXT_STATE, PARITY)
    d = np.empty((3, k + 4), dtype=np.uint8)
    d[0, :k] = c
    d[1, :k] = z1
    d[2, :k] = z2
    # TS 36.212 §5.1.3.2.2 tail bit placement.
    d[0, k:] = (x1t[0], z1t[1], x2t[0], z2t[1])
    d[1, k:] = (z1t[0], x1t[2], z2t[0], x2t[2])
    d[2, k:] = (x1t[1], z1t[2], x2t[1], z2t[2])
    return d


# Jacobian logarithm correction log(1 + exp(-d)) sampled at the midpoints of d in steps of
# 1/_CORR_RES over [0, _CORR_MAX); beyond that it is below 3.4e-4 and taken as 0 (the
# last entry, so that the lookup needs no branch).
_CORR_RES: Final = 16.0
_CORR_MAX: Final = 8.0
JACOBIAN_TABLE: Final = np.append(
    np.log1p(np.exp(-(np.arange(int(_CORR_MAX * _CORR_RES)) + 0.5) / _CORR_RES)), 0.0
).astype(np.float32)
_NO_TABLE: Final = np.zeros(0, dtype=np.float32)  # max-log-MAP: no correction


@njit(inline="always")
def _ms(a: np.float32, b: np.float32, table: npt.NDArray[np.float32]) -> np.float32:
    """max*(a, b) = log(e^a + e^b); plain max (max-log) when ``table`` is empty. Branch-free."""
    m = max(a, b)
    if table.size == 0:
        return m
    return np.float32(m + table[int(min(float(abs(a - b)), _CORR_MAX) * _CORR_RES)])


@njit()
def _siso(
    lu: npt.NDArray[np.float32],
    lp: npt.NDArray[np.float32],
    tail_u: npt.NDArray[np.float32],
    tail_p: npt.NDArray[np.float32],
    alpha: npt.NDArray[np.float32],
    out: npt.NDArray[np.float32],
    table: npt.NDArray[np.float32],
) -> None:
    """BCJR of one constituent code from state 0 to state 0 (K + 3 steps).

    ``lu`` = systematic channel + a-priori LLRs, ``lp`` = parity LLRs, ``tail_*`` the 3 tail
    steps; ``out`` receives the a-posteriori LLRs of the K information bits. ``alpha`` is
    scratch of shape (K + 1, 8). ``table`` is the Jacobian correction (log-MAP) or empty
    (max-log-MAP).

    The trellis is written out: state s = 4·s1 + 2·s2 + s3 (s1 the newest register bit);
    with A = (Lu + Lp)/2 and B = (Lu - Lp)/2 the branch metrics of u/p = 0/0, 0/1, 1/0, 1/1
    are A, B, -B, -A. Transitions (state --u/metric--> next):
    0 -0/A-> 0, 0 -1/-A-> 4; 1 -0/A-> 4, 1 -1/-A-> 0; 2 -0/B-> 5, 2 -1/-B-> 1;
    3 -0/B-> 1, 3 -1/-B-> 5; 4 -0/B-> 2, 4 -1/-B-> 6; 5 -0/B-> 6, 5 -1/-B-> 2;
    6 -0/A-> 7, 6 -1/-A-> 3; 7 -0/A-> 3, 7 -1/-A-> 7. Metrics are normalised to state 0.
    """
    k = lu.size
    neg = np.float32(_NEG)
    a0 = np.float32(0.0)
    a1 = a2 = a3 = a4 = a5 = a6 = a7 = neg
    for i in range(k):
        alpha[i, 0] = a0
        alpha[i, 1] = a1
        alpha[i, 2] = a2
        alpha[i, 3] = a3
        alpha[i, 4] = a4
        alpha[i, 5] = a5
        alpha[i, 6] = a6
        alpha[i, 7] = a7
        ga = np.float32(0.5) * (lu[i] + lp[i])
        gb = np.float32(0.5) * (lu[i] - lp[i])
        n0 = _ms(a0 + ga, a1 - ga, table)
        n4 = _ms(a0 - ga, a1 + ga, table)
        n1 = _ms(a2 - gb, a3 + gb, table)
        n5 = _ms(a2 + gb, a3 - gb, table)
        n2 = _ms(a4 + gb, a5 - gb, table)
        n6 = _ms(a4 - gb, a5 + gb, table)
        n3 = _ms(a6 - ga, a7 + ga, table)
        n7 = _ms(a6 + ga, a7 - ga, table)
        a0 = np.float32(0.0)
        a1 = max(n1 - n0, neg)
        a2 = max(n2 - n0, neg)
        a3 = max(n3 - n0, neg)
        a4 = max(n4 - n0, neg)
        a5 = max(n5 - n0, neg)
        a6 = max(n6 - n0, neg)
        a7 = max(n7 - n0, neg)
    # Backward through the 3 tail steps: the input is the feedback bit, one branch per state.
    b0 = np.float32(0.0)
    b1 = b2 = b3 = b4 = b5 = b6 = b7 = neg
    for t in range(2, -1, -1):
        ga = np.float32(0.5) * (tail_u[t] + tail_p[t])
        gb = np.float32(0.5) * (tail_u[t] - tail_p[t])
        c0 = b0 + ga
        c1 = b0 - ga
        c2 = b1 - gb
        c3 = b1 + gb
        c4 = b2 + gb
        c5 = b2 - gb
        c6 = b3 - ga
        c7 = b3 + ga
        b0 = np.float32(0.0)
        b1 = max(c1 - c0, neg)
        b2 = max(c2 - c0, neg)
        b3 = max(c3 - c0, neg)
        b4 = max(c4 - c0, neg)
        b5 = max(c5 - c0, neg)
        b6 = max(c6 - c0, neg)
        b7 = max(c7 - c0, neg)
    for i in range(k - 1, -1, -1):
        ga = np.float32(0.5) * (lu[i] + lp[i])
        gb = np.float32(0.5) * (lu[i] - lp[i])
        a0 = alpha[i, 0]
        a1 = alpha[i, 1]
        a2 = alpha[i, 2]
        a3 = alpha[i, 3]
        a4 = alpha[i, 4]
        a5 = alpha[i, 5]
        a6 = alpha[i, 6]
        a7 = alpha[i, 7]
        l0 = _ms(
            _ms(
                _ms(a0 + ga + b0, a1 + ga + b4, table),
                _ms(a2 + gb + b5, a3 + gb + b1, table),
                table,
            ),
            _ms(
                _ms(a4 + gb + b2, a5 + gb + b6, table),
                _ms(a6 + ga + b7, a7 + ga + b3, table),
                table,
            ),
            table,
        )
        l1 = _ms(
            _ms(
                _ms(a0 - ga + b4, a1 - ga + b0, table),
                _ms(a2 - gb + b1, a3 - gb + b5, table),
                table,
            ),
            _ms(
                _ms(a4 - gb + b6, a5 - gb + b2, table),
                _ms(a6 - ga + b3, a7 - ga + b7, table),
                table,
            ),
            table,
        )
        out[i] = l0 - l1
        c0 = _ms(b0 + ga, b4 - ga, table)
        c1 = _ms(b4 + ga, b0 - ga, table)
        c2 = _ms(b5 + gb, b1 - gb, table)
        c3 = _ms(b1 + gb, b5 - gb, table)
        c4 = _ms(b2 + gb, b6 - gb, table)
        c5 = _ms(b6 + gb, b2 - gb, table)
        c6 = _ms(b7 + ga, b3 - ga, table)
        c7 = _ms(b3 + ga, b7 - ga, table)
        b0 = np.float32(0.0)
        b1 = max(c1 - c0, neg)
        b2 = max(c2 - c0, neg)
        b3 = max(c3 - c0, neg)
        b4 = max(c4 - c0, neg)
        b5 = max(c5 - c0, neg)
        b6 = max(c6 - c0, neg)
        b7 = max(c7 - c0, neg)


@njit()
def _crc24a_bits_ok(bits: npt.NDArray[np.uint8]) -> bool:
    """CRC-24A remainder of the bit string is zero, and the string is not all zeros.

    The all-zero block is the code's zero codeword: it passes any CRC and is exactly what
    input without information (all LLRs 0) decodes to, so it is never accepted.
    """
    reg = 0
    nonzero = False
    for i in range(bits.size):
        b = bits[i]
        if b:
            nonzero = True
        fb = ((reg >> 23) & 1) ^ b
        reg = (reg << 1) & 0xFFFFFF
        if fb:
            reg ^= CRC24A_POLY
    return nonzero and reg == 0


@njit()
def _decode(
    streams: npt.NDArray[np.float32],
    perm: npt.NDArray[np.int64],
    table: npt.NDArray[np.float32],
    max_iterations: int,
    scale: float,
    check_crc: bool,
) -> tuple[npt.NDArray[np.uint8], int, bool]:
    k = perm.size
    sys = np.ascontiguousarray(streams[0, :k])
    p1 = np.ascontiguousarray(streams[1, :k])
    p2 = np.ascontiguousarray(streams[2, :k])
    t1u = np.empty(3, dtype=np.float32)
    t1p = np.empty(3, dtype=np.float32)
    t2u = np.empty(3, dtype=np.float32)
    t2p = np.empty(3, dtype=np.float32)
    # Inverse of the encoder's tail placement (TS 36.212 §5.1.3.2.2).
    t1u[0] = streams[0, k]
    t1p[0] = streams[1, k]
    t1u[1] = streams[2, k]
    t1p[1] = streams[0, k + 1]
    t1u[2] = streams[1, k + 1]
    t1p[2] = streams[2, k + 1]
    t2u[0] = streams[0, k + 2]
    t2p[0] = streams[1, k + 2]
    t2u[1] = streams[2, k + 2]
    t2p[1] = streams[0, k + 3]
    t2u[2] = streams[1, k + 3]
    t2p[2] = streams[2, k + 3]

    alpha = np.empty((k + 1, 8), dtype=np.float32)
    apr1 = np.zeros(k, dtype=np.float32)  # a-priori for decoder 1 (natural order)
    lu = np.empty(k, dtype=np.float32)
    post = np.empty(k, dtype=np.float32)
    ext = np.empty(k, dtype=np.float32)
    bits = np.empty(k, dtype=np.uint8)
    iterations = 0
    ok = False
    for it in range(max_iterations):
        iterations = it + 1
        # Decoder 1, natural order.
        for i in range(k):
            lu[i] = sys[i] + apr1[i]
        _siso(lu, p1, t1u, t1p, alpha, post, table)
        for i in range(k):
            ext[i] = scale * (post[i] - lu[i])
        if check_crc:
            for i in range(k):
                bits[i] = 1 if post[i] < 0 else 0
            if _crc24a_bits_ok(bits):
                ok = True
                break
        # Decoder 2, interleaved order: a-priori = decoder 1's extrinsic.
        for i in range(k):
            j = perm[i]
            lu[i] = sys[j] + ext[j]
        _siso(lu, p2, t2u, t2p, alpha, post, table)
        for i in range(k):
            j = perm[i]
            apr1[j] = scale * (post[i] - lu[i])
            bits[j] = 1 if post[i] < 0 else 0
        if check_crc and _crc24a_bits_ok(bits):
            ok = True
            break
    if not check_crc:
        ok = _crc24a_bits_ok(bits)
    return bits, iterations, ok


Algorithm = Literal["log-map", "max-log-map"]


@dataclass(slots=True, frozen=True)
class TurboResult:
    bits: npt.NDArray[np.uint8]  # K hard decisions
    iterations: int  # full iterations run (an early stop counts the one it stopped in)
    crc_ok: bool  # CRC-24A over the K bits (an all-zero block never counts as ok)


def turbo_decode(
    streams: npt.NDArray[np.floating],
    *,
    max_iterations: int = 8,
    algorithm: Algorithm = "log-map",
    extrinsic_scale: float | None = None,
    early_stop_crc24a: bool = True,
    f1: int | None = None,
    f2: int | None = None,
) -> TurboResult:
    """Decode (3, K + 4) stream LLRs (positive means 0) into K bits.

    ``algorithm`` is ``"log-map"`` (needs LLRs scaled as true log-likelihood ratios) or ``"max-log-map"``
    (scale-invariant; extrinsic scaled by 0.7 by default). With ``early_stop_crc24a`` the
    iterations stop as soon as the hard decision passes CRC-24A over the whole block.
    """
    s = np.ascontiguousarray(streams, dtype=np.float32)
    if s.ndim != 2 or s.shape[0] != 3 or s.shape[1] <= 4:
        raise ValueError("streams must have shape (3, K + 4)")
    if algorithm not in ("log-map", "max-log-map"):
        raise ValueError(f"unknown algorithm {algorithm!r}")
    if not 1 <= max_iterations <= MAX_ITERATIONS:
        raise ValueError(f"max_iterations must be in 1..{MAX_ITERATIONS}")
    logmap = algorithm == "log-map"
    scale = extrinsic_scale if extrinsic_scale is not None else (1.0 if logmap else 0.7)
    perm = qpp_interleaver(int(s.shape[1]) - 4, f1, f2)
    table = JACOBIAN_TABLE if logmap else _NO_TABLE
    bits, iterations, ok = _decode(
        s, perm, table, int(max_iterations), float(scale), bool(early_stop_crc24a)
    )
    return TurboResult(bits=bits, iterations=int(iterations), crc_ok=bool(ok))
