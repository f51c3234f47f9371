"""The DroneID transport-block chain: 173 payload bytes <-> 7200 rate-matched coded bits.

Transmit: payload (173 bytes) + CRC-24A (3 bytes, MSB first) -> 1408 bits, MSB of byte 0
first -> LTE turbo code K = 1408 (QPP 43/88, trellis termination) -> rate matching rv 0,
E = 7200 (TS 36.212 §5.1.4.1, no soft-buffer limit). Scrambling and QPSK mapping are the
PHY's business (``phy/ocusync``'s transmitter/receiver), not done here.

Receive: 7200 descrambled LLRs (log P(b=0)/P(b=1), positive means 0) -> de-rate-matching
(repeated bits' LLRs summed, none punctured at E = 7200) -> iterative turbo decoding with
early stop on CRC-24A -> the 173 payload bytes when the CRC checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from dronewatch.phy.ocusync.crc import append_crc24a
from dronewatch.phy.ocusync.numerology import CODED_BITS
from dronewatch.phy.ocusync.ratematch import derate_match, rate_match
from dronewatch.phy.ocusync.turbo import Algorithm, turbo_decode, turbo_encode

BLOCK_BYTES: Final = 176  # transport block incl. CRC-24A
PAYLOAD_BYTES: Final = 173  # without CRC-24A
BLOCK_BITS: Final = BLOCK_BYTES * 8  # K = 1408
STREAM_BITS: Final = BLOCK_BITS + 4  # D = K + 4
# E = 7200: 6 data symbols x 600 carriers x 2 bits, fixed by the OFDM numerology.
REDUNDANCY_VERSION: Final = 0
LLR_CLIP: Final = 512.0  # |LLR| bound applied to the input (inf -> bound, NaN -> 0)


@dataclass(slots=True, frozen=True)
class BlockDecode:
    """The outcome of decoding one burst's coded bits."""

    payload: bytes | None  # the 173 payload bytes, only when CRC-24A checks
    crc_ok: bool
    iterations: int  # turbo iterations run (early stop on CRC-24A)


def encode_block(payload: bytes) -> npt.NDArray[np.uint8]:
    """173 payload bytes -> 7200 coded bits (uint8 0/1), not scrambled."""
    if len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"payload must be {PAYLOAD_BYTES} bytes, got {len(payload)}")
    block = append_crc24a(payload)
    bits = np.unpackbits(np.frombuffer(block, dtype=np.uint8))  # MSB first
    return rate_match(turbo_encode(bits), CODED_BITS, REDUNDANCY_VERSION)


def _clean_llrs(llrs: npt.ArrayLike) -> npt.NDArray[np.float32]:
    arr = np.asarray(llrs)
    if arr.ndim != 1 or arr.shape[0] != CODED_BITS:
        raise ValueError(f"expected {CODED_BITS} LLRs, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"LLRs must be real numbers, got dtype {arr.dtype}")
    out = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=LLR_CLIP, neginf=-LLR_CLIP)
    return np.clip(out, -LLR_CLIP, LLR_CLIP).astype(np.float32)


def deratematch_llrs(llrs: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """7200 coded-bit LLRs -> (3, 1412) turbo stream LLRs (repeats summed)."""
    return derate_match(_clean_llrs(llrs), STREAM_BITS, REDUNDANCY_VERSION)


def decode_llrs(
    llrs: npt.ArrayLike,
    *,
    max_iterations: int = 8,
    algorithm: Algorithm = "log-map",
    apriori: npt.ArrayLike | None = None,
) -> BlockDecode:
    """Decode 7200 descrambled LLRs (positive means bit 0) into the 173-byte payload.

    Raises ``ValueError`` for input of the wrong shape or type; NaN counts as "no
    information" (0) and infinities are clipped.

    ``algorithm``: ``"log-map"`` (default, about 0.15 dB better) wants LLRs scaled as true
    log-likelihood ratios, as ``2·sqrt(2)·Re(conj(H)·y)/sigma²``: LLRs scaled down by 2 cost it
    about 1 dB, scaled up a few tenths. ``"max-log-map"`` (extrinsic scaled by 0.7) does not
    depend on the LLR scale at all and is 2-3 times faster.

    ``apriori``: optional 1408 a-priori LLRs of the block bits (MSB of byte 0 first), e.g.
    bits a tracked drone is known to repeat (:func:`apriori_llrs`); 0 where unknown.
    """
    streams = deratematch_llrs(llrs)
    if apriori is not None:
        prior = np.asarray(apriori)
        if prior.shape != (BLOCK_BITS,) or not np.issubdtype(prior.dtype, np.number):
            raise ValueError(f"apriori must be {BLOCK_BITS} real LLRs, got shape {prior.shape}")
        if np.iscomplexobj(prior):
            raise ValueError("apriori must be real")
        prior = np.clip(np.nan_to_num(prior.astype(np.float64)), -LLR_CLIP, LLR_CLIP)
        streams[0, :BLOCK_BITS] += prior.astype(np.float32)
    result = turbo_decode(streams, max_iterations=max_iterations, algorithm=algorithm)
    if not result.crc_ok:
        return BlockDecode(payload=None, crc_ok=False, iterations=result.iterations)
    block = np.packbits(result.bits).tobytes()
    return BlockDecode(payload=block[:PAYLOAD_BYTES], crc_ok=True, iterations=result.iterations)


def apriori_llrs(known: bytes, mask: bytes, *, llr: float = 8.0) -> npt.NDArray[np.float32]:
    """A-priori LLRs for :func:`decode_llrs` from partly known block contents.

    ``known`` and ``mask`` are up to 176 bytes; every bit set in ``mask`` is taken as known
    with the value of the same bit in ``known`` and confidence ``llr`` (> 0). The block must
    still pass CRC-24A, so a wrong guess costs sensitivity, never a false decode beyond the
    CRC's 2^-24.
    """
    if len(known) > BLOCK_BYTES or len(mask) > BLOCK_BYTES:
        raise ValueError(f"known/mask longer than {BLOCK_BYTES} bytes")
    if not llr > 0:
        raise ValueError("llr must be positive")
    k = np.unpackbits(np.frombuffer(known.ljust(BLOCK_BYTES, b"\x00"), dtype=np.uint8))
    m = np.unpackbits(np.frombuffer(mask.ljust(BLOCK_BYTES, b"\x00"), dtype=np.uint8))
    out: npt.NDArray[np.float32] = (m * (1.0 - 2.0 * k) * float(min(llr, LLR_CLIP))).astype(
        np.float32
    )
    return out
