"""Soft QPSK demodulation: LLRs scaled by the channel and the noise estimate.

For y = H x + n, x = (+-1 +-j)/sqrt(2), n ~ CN(0, s2): LLR(b0) = 2 sqrt(2) Re(conj(H) y) / s2
and LLR(b1) = 2 sqrt(2) Im(conj(H) y) / s2, positive meaning bit 0 (LTE mapping).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dronewatch.phy.ocusync.equalise import ChannelEstimate
from dronewatch.phy.ocusync.numerology import LAYOUTS, Layout, SymbolKind

_K = 2.0 * np.sqrt(2.0)


def qpsk_llrs(
    y: npt.NDArray[np.complex128], h: npt.NDArray[np.complex128], noise_var: float
) -> npt.NDArray[np.float32]:
    """Interleaved (b0, b1) LLRs of every carrier of ``y`` (any shape), flattened."""
    z = (np.conj(h) * y).ravel() * (_K / max(noise_var, 1e-12))
    out = np.empty(2 * z.size, dtype=np.float32)
    out[0::2] = z.real
    out[1::2] = z.imag
    return out


def burst_llrs(
    carriers: npt.NDArray[np.complex128], layout: Layout, channel: ChannelEstimate
) -> npt.NDArray[np.float32]:
    """The 7200 (still scrambled) LLRs of a burst's data symbols, in transmission order."""
    data = LAYOUTS[layout].indices(SymbolKind.DATA)
    h = np.stack([channel.at(s) for s in data])
    return qpsk_llrs(carriers[list(data)], h, channel.noise_var)
