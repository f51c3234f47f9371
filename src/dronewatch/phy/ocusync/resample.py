"""Rational polyphase resampling between any capture rate and the 15.36 MS/s numerology."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from dronewatch.phy.ocusync.filters import kaiser_lowpass, kaiser_order, resample_poly
from dronewatch.phy.ocusync.numerology import FS

#: Passband edge and stopband start (Hz) of the anti-alias filter when going down to 15.36
#: MS/s: the burst occupies +-4.5 MHz, plus up to ~1.5 MHz of coarse frequency error.
PASS_HZ = 6.2e6
STOP_HZ = FS - PASS_HZ  # 9.16 MHz: aliases then land beyond the passband
ATTEN_DB = 70.0


def rational_ratio(fs_in: float, fs_out: float, max_den: int = 4000) -> tuple[int, int]:
    """(up, down) with up / down ~= fs_out / fs_in (exact for the usual SDR rates)."""
    if fs_in <= 0 or fs_out <= 0 or not np.isfinite(fs_in) or not np.isfinite(fs_out):
        raise ValueError(f"invalid sample rates {fs_in}, {fs_out}")
    frac = Fraction(round(fs_out), max(1, round(fs_in)))
    frac = frac.limit_denominator(max_den)
    return frac.numerator, frac.denominator


@lru_cache(maxsize=16)
def design_filter(up: int, down: int, fs_in: float) -> npt.NDArray[np.float64]:
    """Kaiser low-pass at the up-sampled rate for a (up, down) resampler (unit DC gain;
    ``resample_poly`` scales it by ``up``)."""
    fs_up = fs_in * up
    fs_out = fs_up / down
    nyq_lim = min(fs_in, fs_out) / 2.0
    # Pass band: what the burst needs, or less if the slower rate cannot carry it.
    f_pass = min(PASS_HZ, 0.8 * nyq_lim)
    f_stop = min(max(STOP_HZ, fs_out - f_pass) if fs_out < fs_in else fs_in - f_pass, fs_up / 2)
    f_stop = max(f_stop, f_pass * 1.05)
    width = (f_stop - f_pass) / (fs_up / 2.0)
    numtaps, beta = kaiser_order(ATTEN_DB, width)
    numtaps |= 1
    cutoff = (f_pass + f_stop) / 2.0
    h = kaiser_lowpass(numtaps, cutoff, beta, fs_up)
    h.setflags(write=False)
    return h


def resample(
    x: npt.NDArray[np.complexfloating], fs_in: float, fs_out: float = FS
) -> npt.NDArray[np.complex64]:
    """Resample ``x`` from ``fs_in`` to ``fs_out`` (group delay compensated)."""
    up, down = rational_ratio(fs_in, fs_out)
    if up == down:
        return np.asarray(x, dtype=np.complex64)
    h = design_filter(up, down, float(fs_in))
    return resample_poly(np.asarray(x, dtype=np.complex64), up, down, h)
