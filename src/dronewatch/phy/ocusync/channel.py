"""Channel impairments for synthetic DroneID captures: AWGN at an in-band SNR, CFO, phase,
fractional timing, sample-clock offset and multipath.

In-band SNR is the burst power over the noise power in the 601 x 15 kHz band (9.015 MHz), so
at a capture rate ``fs`` the complex noise variance per sample is
``P_burst * fs / (9.015e6 * snr)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.signal

from dronewatch.phy.ocusync.numerology import BANDWIDTH_HZ


def noise_variance(burst_power: float, snr_db: float, sample_rate: float) -> float:
    """Complex noise variance per sample for an in-band SNR of ``snr_db``."""
    return float(burst_power * sample_rate / (BANDWIDTH_HZ * 10.0 ** (snr_db / 10.0)))


def awgn(
    n: int, variance: float, rng: np.random.Generator
) -> npt.NDArray[np.complex64]:
    scale = np.sqrt(variance / 2.0)
    out = rng.standard_normal(2 * n, dtype=np.float32).view(np.complex64)
    return (out * np.float32(scale)).astype(np.complex64)


def fractional_delay(x: npt.NDArray[np.complexfloating], delay: float) -> npt.NDArray[np.complex64]:
    """Delay by ``delay`` samples (band-limited, circular over the padded length)."""
    n = len(x)
    nfft = scipy.fft.next_fast_len(n + 64)
    spec = scipy.fft.fft(x, nfft)
    f = scipy.fft.fftfreq(nfft)
    y = scipy.fft.ifft(spec * np.exp(-2j * np.pi * f * delay))[:n]
    return np.asarray(y, dtype=np.complex64)


def clock_offset(x: npt.NDArray[np.complexfloating], ppm: float) -> npt.NDArray[np.complex64]:
    """Resample as if the receiver's sample clock ran ``ppm`` fast: output sample k is the
    input signal at time k (1 + ppm 1e-6). Band-limited 8x interpolation, then linear
    interpolation between the fine samples (error < -50 dB for signals below fs/2)."""
    if ppm == 0:
        return np.asarray(x, dtype=np.complex64)
    n = len(x)
    up = 8
    fine = scipy.signal.resample_poly(np.asarray(x, dtype=np.complex128), up, 1)
    t = np.arange(n) * (1.0 + ppm * 1e-6) * up
    grid = np.arange(len(fine))
    re = np.interp(t, grid, fine.real, right=0.0)
    im = np.interp(t, grid, fine.imag, right=0.0)
    out: npt.NDArray[np.complex64] = (re + 1j * im).astype(np.complex64)
    return out


def multipath(
    x: npt.NDArray[np.complexfloating], taps: Sequence[tuple[float, complex]]
) -> npt.NDArray[np.complex64]:
    """Sum of delayed (fractional samples allowed) and weighted copies of ``x``."""
    pad = int(np.ceil(max((d for d, _ in taps), default=0.0))) + 1
    xp = np.concatenate([np.asarray(x, dtype=np.complex64), np.zeros(pad, np.complex64)])
    out = np.zeros(len(xp), dtype=np.complex64)
    for delay, gain in taps:
        out += np.complex64(gain) * fractional_delay(xp, delay)
    return out


@dataclass(slots=True, frozen=True)
class Impairments:
    snr_db: float | None = None  # in-band SNR; None = no noise
    cfo_hz: float = 0.0
    phase_rad: float = 0.0
    delay_samples: float = 0.0  # fractional timing offset
    clock_ppm: float = 0.0
    taps: tuple[tuple[float, complex], ...] = ()  # multipath (delay samples, gain)


def apply(
    burst: npt.NDArray[np.complexfloating],
    sample_rate: float,
    imp: Impairments,
    rng: np.random.Generator,
    *,
    pad_before: int = 0,
    pad_after: int = 0,
) -> npt.NDArray[np.complex64]:
    """``burst`` padded with silence, impaired by ``imp`` (noise over the whole output)."""
    x = np.asarray(burst, dtype=np.complex64)
    n_in = len(x)
    if imp.taps:
        x = multipath(x, imp.taps)
    # Received burst power (after multipath), over the burst's own duration.
    power = float(np.mean(np.abs(x[:n_in]) ** 2)) if n_in else 0.0
    x = np.concatenate(
        [np.zeros(pad_before, np.complex64), x, np.zeros(pad_after, np.complex64)]
    )
    if imp.delay_samples:
        x = fractional_delay(x, imp.delay_samples)
    if imp.clock_ppm:
        x = clock_offset(x, imp.clock_ppm)
    n = np.arange(len(x))
    rot = np.exp(1j * (2 * np.pi * imp.cfo_hz / sample_rate * n + imp.phase_rad))
    out: npt.NDArray[np.complex64] = (x * rot).astype(np.complex64)
    if imp.snr_db is not None:
        out += awgn(len(out), noise_variance(power, imp.snr_db, sample_rate), rng)
    return out
