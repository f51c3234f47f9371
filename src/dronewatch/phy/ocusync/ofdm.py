"""OFDM modulation and demodulation at 15.36 MS/s for both DroneID burst layouts."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from dronewatch.phy.ocusync.numerology import (
    BITS_PER_SYMBOL,
    CARRIER_BINS,
    CODED_BITS,
    LAYOUTS,
    N_CARRIERS,
    NFFT,
    ZC_ROOTS,
    Layout,
    SymbolKind,
)
from dronewatch.phy.ocusync.scrambler import scrambler_bits
from dronewatch.phy.ocusync.zc import zc_carriers

_INV_SQRT2 = 1.0 / np.sqrt(2.0)


def qpsk_map(bits: npt.NDArray[np.uint8]) -> npt.NDArray[np.complex128]:
    """LTE QPSK (TS 36.211 7.1.2): b0 on I, b1 on Q, bit 0 -> +1/sqrt(2)."""
    b = np.asarray(bits, dtype=np.float64).reshape(-1, 2)
    out: npt.NDArray[np.complex128] = ((1.0 - 2.0 * b[:, 0]) + 1j * (1.0 - 2.0 * b[:, 1])) * _INV_SQRT2
    return out


def qpsk_hard(symbols: npt.NDArray[np.complexfloating]) -> npt.NDArray[np.uint8]:
    """Hard decisions of QPSK symbols -> bits (inverse of :func:`qpsk_map`)."""
    out = np.empty(2 * len(symbols), dtype=np.uint8)
    out[0::2] = symbols.real < 0
    out[1::2] = symbols.imag < 0
    return out


@lru_cache(maxsize=2)
def reference_carriers(layout: Layout) -> npt.NDArray[np.complex128]:
    """Known carrier values per symbol (NaN rows for data symbols), shape (n_symbols, 600)."""
    spec = LAYOUTS[layout]
    ref = np.full((spec.n_symbols, N_CARRIERS), np.nan + 0j, dtype=np.complex128)
    for i, kind in enumerate(spec.kinds):
        if kind is SymbolKind.ZC1:
            ref[i] = zc_carriers(ZC_ROOTS[0])
        elif kind is SymbolKind.ZC2:
            ref[i] = zc_carriers(ZC_ROOTS[1])
        elif kind is SymbolKind.SCRAMBLER:
            ref[i] = qpsk_map(np.asarray(scrambler_bits(BITS_PER_SYMBOL)))
    ref.setflags(write=False)
    return ref


def build_grid(scrambled_bits: npt.NDArray[np.uint8], layout: Layout) -> npt.NDArray[np.complex128]:
    """Carrier grid (n_symbols, 600) of a burst carrying 7200 scrambled coded bits."""
    bits = np.asarray(scrambled_bits, dtype=np.uint8)
    if bits.shape != (CODED_BITS,):
        raise ValueError(f"expected {CODED_BITS} bits, got shape {bits.shape}")
    spec = LAYOUTS[layout]
    grid = np.array(reference_carriers(layout))
    data = qpsk_map(bits).reshape(-1, N_CARRIERS)
    for row, sym in zip(data, spec.indices(SymbolKind.DATA), strict=True):
        grid[sym] = row
    return grid


def modulate(grid: npt.NDArray[np.complexfloating], layout: Layout) -> npt.NDArray[np.complex64]:
    """Time-domain burst at 15.36 MS/s (unit mean power over the used carriers)."""
    spec = LAYOUTS[layout]
    if grid.shape != (spec.n_symbols, N_CARRIERS):
        raise ValueError(f"grid shape {grid.shape} does not fit layout {layout.name}")
    full = np.zeros((spec.n_symbols, NFFT), dtype=np.complex128)
    full[:, CARRIER_BINS] = grid
    # Scale so that the time-domain samples have unit mean power.
    sym = np.fft.ifft(full, axis=1) * (NFFT / np.sqrt(N_CARRIERS))
    parts = []
    for i, cp in enumerate(spec.cp):
        parts.append(sym[i, NFFT - cp :])
        parts.append(sym[i])
    return np.concatenate(parts).astype(np.complex64)


def demodulate_at(
    x: npt.NDArray[np.complexfloating], starts: npt.NDArray[np.int64] | list[int]
) -> npt.NDArray[np.complex128]:
    """FFT of 1024-sample windows starting at ``starts``; used carriers, shape (n, 600)."""
    idx = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(NFFT)[None, :]
    spec = np.fft.fft(x[idx].astype(np.complex128), axis=1) * (np.sqrt(N_CARRIERS) / NFFT)
    out: npt.NDArray[np.complex128] = spec[:, CARRIER_BINS]
    return out
