"""Burst synchronisation at 15.36 MS/s: timing and fractional CFO from the cyclic prefixes,
integer CFO (and symbol alignment) from the two Zadoff-Chu symbols, layout from symbol 0.

* Timing / fractional CFO: the CP correlation gamma(t) = sum over the core's 8 cyclic
  prefixes of y[n] conj(y[n + 1024]) is evaluated for every start t with cumulative sums;
  the peak of |gamma| is the core start and angle(gamma) the CFO modulo 15 kHz. It is blind
  to the carrier frequency, so it works before the integer CFO is known.
* Integer CFO: a ZC sequence shifted by m carriers looks like a time shift of the same
  sequence, so one ZC symbol cannot tell frequency from timing. Two different roots can: for
  each candidate m the raw channel seen through root 600 and through root 147 must agree.
  The normalised coherence |sum H600 conj(H147)| is maximised over m (and over a one-symbol
  timing slip, which the CP metric alone can pick at low SNR).
* Layout: a 9-symbol burst has the bare-scrambler symbol before the core; its channel
  estimate is coherent with the ZC one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dronewatch.phy.ocusync.numerology import (
    CARRIER_OFFSETS,
    CORE,
    FS,
    LAYOUTS,
    NFFT,
    SUBCARRIER_HZ,
    Layout,
    SymbolKind,
)
from dronewatch.phy.ocusync.ofdm import reference_carriers

#: FFT windows start this many samples early, inside the cyclic prefix (ISI margin).
BACKOFF = 6
MAX_INT_CFO = 96  # carriers searched either side (+-1.44 MHz)
MIN_COHERENCE = 0.16  # ZC-root coherence below this: not a DroneID burst
MIN_SCRAMBLER_COHERENCE = 0.12

_CORE_CP_STARTS = np.array([s - c for s, c in zip(CORE.fft_starts(), CORE.cp, strict=True)])
_CORE_CP_LENS = np.array(CORE.cp)
_SYMBOL = NFFT + 72
_ZC1_CORE = CORE.indices(SymbolKind.ZC1)[0]
_ZC2_CORE = CORE.indices(SymbolKind.ZC2)[0]


@dataclass(slots=True, frozen=True)
class SyncResult:
    core_start: int  # sample index (in the analysed array) of the core's first CP
    cfo_hz: float  # residual frequency of the burst in the analysed array
    layout: Layout
    coherence: float  # ZC-root coherence (0..1)
    scrambler_coherence: float
    cp_metric: float  # normalised CP correlation at the chosen start


def cp_correlation(
    y: npt.NDArray[np.complexfloating],
) -> tuple[npt.NDArray[np.complex128], npt.NDArray[np.float64]]:
    """(gamma, energy) for every candidate core start t = 0 .. len(y) - CORE.length."""
    n_t = len(y) - CORE.length + 1
    if n_t <= 0:
        return np.zeros(0, np.complex128), np.zeros(0, np.float64)
    y = np.asarray(y, dtype=np.complex128)
    prod = y[:-NFFT] * np.conj(y[NFFT:])
    en = 0.5 * (np.abs(y[:-NFFT]) ** 2 + np.abs(y[NFFT:]) ** 2)
    cp_ = np.concatenate([[0.0], np.cumsum(prod)])
    ce = np.concatenate([[0.0], np.cumsum(en)])
    t = np.arange(n_t)
    gamma = np.zeros(n_t, np.complex128)
    energy = np.zeros(n_t, np.float64)
    for a, ln in zip(_CORE_CP_STARTS.tolist(), _CORE_CP_LENS.tolist(), strict=True):
        gamma += cp_[t + a + ln] - cp_[t + a]
        energy += ce[t + a + ln] - ce[t + a]
    return gamma, energy


def symbol_spectra(
    y: npt.NDArray[np.complexfloating], starts: list[int]
) -> npt.NDArray[np.complex128]:
    """Full 1024-bin spectra (scaled as in :mod:`ofdm`) of windows at ``starts``."""
    idx = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(NFFT)[None, :]
    out: npt.NDArray[np.complex128] = np.fft.fft(
        np.asarray(y, dtype=np.complex128)[idx], axis=1
    ) * (np.sqrt(600) / NFFT)
    return out


def _shift_index(max_shift: int) -> npt.NDArray[np.int64]:
    m = np.arange(-max_shift, max_shift + 1)[:, None]
    return (CARRIER_OFFSETS[None, :] + m) % NFFT


def _coherence(a: npt.NDArray[np.complex128], b: npt.NDArray[np.complex128]) -> npt.NDArray[np.float64]:
    """Phase-only coherence |mean(p / |p|)|, p = a conj(b), per row.

    Each carrier votes with unit weight, so a narrowband signal (strong on a few carriers)
    cannot fake the coherence of a 9 MHz burst; under noise it is ~ 1/sqrt(600).
    """
    p = a * np.conj(b)
    u = p / np.maximum(np.abs(p), 1e-30)
    return np.asarray(np.abs(np.mean(u, axis=-1)), dtype=np.float64)


def synchronise(
    y: npt.NDArray[np.complexfloating],
    *,
    search: tuple[int, int] | None = None,
    max_int_cfo: int = MAX_INT_CFO,
) -> SyncResult | None:
    """Find the burst in ``y`` (15.36 MS/s); None when no DroneID burst is there.

    ``search`` limits the candidate core starts to [lo, hi).
    """
    gamma, energy = cp_correlation(y)
    if len(gamma) == 0:
        return None
    lo, hi = (0, len(gamma)) if search is None else (max(0, search[0]), min(len(gamma), search[1]))
    if hi <= lo:
        return None
    mag = np.abs(gamma[lo:hi])
    t0 = lo + int(np.argmax(mag))
    frac = -float(np.angle(gamma[t0])) * FS / (2 * np.pi * NFFT)
    cpm = float(np.abs(gamma[t0]) / max(energy[t0], 1e-30))
    n = np.arange(len(y))
    yc = np.asarray(y, dtype=np.complex128) * np.exp(-2j * np.pi * frac / FS * n)

    zc_ref = reference_carriers(Layout.SYM8)
    z1 = np.conj(zc_ref[_ZC1_CORE])
    z2 = np.conj(zc_ref[_ZC2_CORE])
    sc_ref = np.conj(reference_carriers(Layout.SYM9)[0])
    idx = _shift_index(max_int_cfo)
    best: tuple[float, int, int] | None = None
    core_fft = CORE.fft_starts()
    for dt in (0, -_SYMBOL, _SYMBOL):
        t = t0 + dt
        if t - BACKOFF < 0 or t + CORE.length > len(yc):
            continue
        spec = symbol_spectra(
            yc, [t + core_fft[_ZC1_CORE] - BACKOFF, t + core_fft[_ZC2_CORE] - BACKOFF]
        )
        h1 = spec[0][idx] * z1[None, :]
        h2 = spec[1][idx] * z2[None, :]
        coh = _coherence(h1, h2)
        m = int(np.argmax(coh))
        if best is None or coh[m] > best[0]:
            best = (float(coh[m]), t, m - max_int_cfo)
    if best is None or best[0] < MIN_COHERENCE:
        return None
    coherence, t, m = best
    cfo = frac + m * SUBCARRIER_HZ
    # Layout: is the symbol before the core the bare scrambler sequence?
    sc_coh = 0.0
    if t - NFFT - BACKOFF >= 0:
        yc2 = np.asarray(y, dtype=np.complex128) * np.exp(-2j * np.pi * cfo / FS * n)
        spec = symbol_spectra(
            yc2, [t - NFFT - BACKOFF, t + core_fft[_ZC1_CORE] - BACKOFF]
        )
        h0 = spec[0][CARRIER_OFFSETS % NFFT] * sc_ref
        h1 = spec[1][CARRIER_OFFSETS % NFFT] * z1
        sc_coh = float(_coherence(h0, h1))
    layout = (
        Layout.SYM9
        if sc_coh >= max(MIN_SCRAMBLER_COHERENCE, 0.4 * coherence)
        else Layout.SYM8
    )
    return SyncResult(
        core_start=t,
        cfo_hz=cfo,
        layout=layout,
        coherence=coherence,
        scrambler_coherence=sc_coh,
        cp_metric=cpm,
    )


def burst_start(sync: SyncResult) -> int:
    """Sample index of the burst start (first CP) for the detected layout."""
    return sync.core_start - LAYOUTS[sync.layout].core_offset
