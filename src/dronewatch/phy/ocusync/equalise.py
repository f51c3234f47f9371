"""Channel estimation from the known symbols of a burst (both ZC symbols, and the bare
scrambler symbol of the 9-symbol layout), interpolated across time and frequency.

Model: H(k, s) = Hs(k) * exp(j (a1 (s - sc) + b1 (s - sc) k)): a smooth frequency response
Hs(k) with a common phase drift a1 per symbol (residual CFO) and a delay drift b1 per symbol
(sample-clock offset, optional), sc the mean pilot symbol index. a1 and b1 come from the relative phase
and phase slope between pilot symbols (each pooled over 600 carriers, so they are precise
even at negative SNR). Hs is the drift-corrected mean of the pilots, smoothed across ``width``
carriers after removing its mean phase slope (the residual timing); the width is chosen per
burst by leave-one-pilot-out cross-validation (wide on flat channels, narrow on multipath).
The noise variance comes from the pilots' residuals around the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dronewatch.phy.ocusync.filters import uniform_filter1d
from dronewatch.phy.ocusync.numerology import CARRIER_OFFSETS, LAYOUTS, NFFT, Layout
from dronewatch.phy.ocusync.ofdm import reference_carriers

SMOOTH_WIDTH = 15
_K = CARRIER_OFFSETS.astype(np.float64)
# Pairs of neighbouring carriers (carrier index i, i+1) not straddling DC.
_PAIR = np.flatnonzero(np.diff(CARRIER_OFFSETS) == 1)


@dataclass(slots=True, frozen=True)
class ChannelEstimate:
    h: npt.NDArray[np.complex128]  # smoothed response at symbol index ``centre``
    centre: float
    phase_per_symbol: float  # rad
    slope_per_symbol: float  # rad per carrier per symbol
    noise_var: float  # per-carrier complex noise variance
    signal_power: float  # mean |h|^2

    def at(self, symbol: int) -> npt.NDArray[np.complex128]:
        ds = symbol - self.centre
        out: npt.NDArray[np.complex128] = self.h * np.exp(
            1j * (self.phase_per_symbol * ds + self.slope_per_symbol * ds * _K)
        )
        return out

    @property
    def snr_db(self) -> float:
        return float(10.0 * np.log10(max(self.signal_power, 1e-30) / max(self.noise_var, 1e-30)))


# Carrier pairs LAG apart (same side of DC) for the fine slope estimate.
LAG = 128
_PAIR_LAG = np.flatnonzero(
    (np.arange(len(CARRIER_OFFSETS)) + LAG < len(CARRIER_OFFSETS))
    & (np.sign(CARRIER_OFFSETS) == np.sign(np.roll(CARRIER_OFFSETS, -LAG)))
)


def delay_samples(h: npt.NDArray[np.complex128]) -> float:
    """Delay (samples at 15.36 MS/s, fractional) of a channel response from the start of
    the FFT window it was measured with: its mean phase slope across carriers, which a delay
    of d samples makes -2 pi d / NFFT per carrier (the centroid of a multipath channel)."""
    return -_slope(h) * NFFT / (2.0 * np.pi)


def _slope(r: npt.NDArray[np.complex128]) -> float:
    """Mean phase slope (rad per carrier) of ``r``: coarse from neighbours (unambiguous up to
    +-pi per carrier), then refined over pairs LAG carriers apart (LAG times the lever arm)."""
    coarse = float(np.angle(np.sum(r[_PAIR + 1] * np.conj(r[_PAIR]))))
    flat = r * np.exp(-1j * coarse * _K)
    fine = float(np.angle(np.sum(flat[_PAIR_LAG + LAG] * np.conj(flat[_PAIR_LAG])))) / LAG
    return coarse + fine


def smooth(h: npt.NDArray[np.complex128], width: int = SMOOTH_WIDTH) -> npt.NDArray[np.complex128]:
    """Moving average across carriers after removing the mean phase slope (edges renormalised)."""
    if width <= 1:
        return h.copy()
    b0 = _slope(h)
    flat = h * np.exp(-1j * b0 * _K)
    num_r = uniform_filter1d(flat.real, width)
    num_i = uniform_filter1d(flat.imag, width)
    den = uniform_filter1d(np.ones(len(h)), width)
    out: npt.NDArray[np.complex128] = ((num_r + 1j * num_i) / den) * np.exp(1j * b0 * _K)
    return out


WIDTHS = (5, 9, 15, 25, 41)


def choose_width(aligned: npt.NDArray[np.complex128], widths: tuple[int, ...] = WIDTHS) -> int:
    """Smoothing width by leave-one-pilot-out cross-validation.

    For each width, every pilot is predicted from the smoothed mean of the others; the mean
    squared prediction error is noise + estimation noise (falls with width) + smoothing bias
    (grows with width on a frequency-selective channel). Flat channels get wide smoothing,
    multipath narrow.
    """
    n_p = aligned.shape[0]
    if n_p < 2:
        return SMOOTH_WIDTH
    total = aligned.sum(axis=0)
    best, best_err = SMOOTH_WIDTH, np.inf
    for w in widths:
        err = 0.0
        for p in range(n_p):
            others = (total - aligned[p]) / (n_p - 1)
            err += float(np.mean(np.abs(aligned[p] - smooth(others, w)) ** 2))
        if err < best_err:
            best, best_err = w, err
    return best


def estimate(
    carriers: npt.NDArray[np.complex128],
    layout: Layout,
    width: int | None = None,
    *,
    track_delay: bool = False,
) -> ChannelEstimate:
    """Channel estimate from the received carriers (n_symbols, 600) of one burst."""
    spec = LAYOUTS[layout]
    ref = reference_carriers(layout)
    pilots = [i for i in range(spec.n_symbols) if not np.isnan(ref[i, 0])]
    raw = np.stack([carriers[i] * np.conj(ref[i]) for i in pilots])  # |ref| = 1
    s = np.asarray(pilots, dtype=np.float64)
    sc = float(s.mean())
    base = raw[int(np.argmin(np.abs(s - sc)))]
    rel = raw * np.conj(base)[None, :]
    phases = np.angle(rel.sum(axis=1))
    slopes = np.array([_slope(r) for r in rel]) if track_delay else np.zeros(len(rel))
    ds = s - sc
    var_s = float(np.sum(ds**2))
    a1 = float(np.sum(ds * (phases - phases.mean())) / var_s) if var_s > 0 else 0.0
    b1 = 0.0
    if track_delay and var_s > 0:
        # Sample-clock drift. Off by default: 20 ppm moves the edge carriers by < 0.2 rad over
        # a burst, less than what this 4th-order estimate costs in noise below ~3 dB SNR.
        b1 = float(np.sum(ds * (slopes - slopes.mean())) / var_s)
    rot = np.exp(-1j * (a1 * ds[:, None] + b1 * ds[:, None] * _K[None, :]))
    aligned = raw * rot
    mean = aligned.mean(axis=0)
    if width is None:
        width = choose_width(aligned)
    hs = smooth(mean, width)
    n_p = len(pilots)
    resid = float(np.mean(np.abs(aligned - hs[None, :]) ** 2))
    dof = 1.0 - 1.0 / (n_p * max(width, 1))
    noise_var = max(resid / dof, 1e-12)
    power = max(float(np.mean(np.abs(hs) ** 2)) - noise_var / (n_p * width), 1e-12)
    return ChannelEstimate(
        h=hs,
        centre=sc,
        phase_per_symbol=a1,
        slope_per_symbol=b1,
        noise_var=noise_var,
        signal_power=power,
    )
