"""The few filters the receiver needs, in numpy and one compiled kernel: importing
``scipy.signal``, ``scipy.ndimage`` and ``scipy.stats`` cost a live source most of its
start-up (over a second on a loaded 2-core machine). Each function follows the scipy one it
replaces (same conventions, checked against it in ``tests/phy/test_ocusync_filters.py``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dronewatch.jit import njit


def _window_start(size: int, origin: int) -> int:
    """Offset of a ``size``-long window's first element from its output index (scipy.ndimage
    convention: centred at ``size // 2``, moved by ``origin``)."""
    return -(size // 2) - origin


def uniform_filter1d(
    x: npt.NDArray[np.floating], size: int, axis: int = -1, origin: int = 0
) -> npt.NDArray[np.floating]:
    """Moving mean over ``size`` along ``axis``, zeros outside (``scipy.ndimage.uniform_filter1d``
    with ``mode="constant"``); accumulated in float64, returned in ``x``'s dtype. A running sum
    over the zero-padded input: two contiguous slices of it, no gather."""
    a = np.moveaxis(np.asarray(x), axis, -1)
    n = a.shape[-1]
    lo = _window_start(size, origin)  # output i averages input [i + lo, i + lo + size)
    left, right = max(0, -lo), max(0, lo + size - 1)
    c = np.zeros((*a.shape[:-1], left + n + right + 1), np.float64)
    np.cumsum(a, axis=-1, dtype=np.float64, out=c[..., 1 + left : 1 + left + n])
    c[..., 1 + left + n :] = c[..., left + n : left + n + 1]  # (zeros after: the sum holds)
    s = lo + left
    out = ((c[..., s + size : s + size + n] - c[..., s : s + n]) / size).astype(a.dtype,
                                                                               copy=False)
    return np.moveaxis(out, -1, axis)


def maximum_filter2d(x: npt.NDArray[np.floating], size: tuple[int, int]) -> npt.NDArray[np.floating]:
    """Maximum over a ``size`` rectangle around each element, -inf outside
    (``scipy.ndimage.maximum_filter(x, size, mode="constant", cval=-inf)``): separable."""
    out = np.asarray(x)
    for axis, s in enumerate(size):
        if s <= 1:
            continue
        lo = _window_start(s, 0)
        pad = [(0, 0)] * out.ndim
        pad[axis] = (-lo, s - 1 + lo)
        padded = np.pad(out, pad, constant_values=-np.inf)
        win = np.lib.stride_tricks.sliding_window_view(padded, s, axis=axis)
        out = win.max(axis=-1)
    return out


def gamma_quantile(q: float, m: int) -> float:
    """The ``q``-quantile of a Gamma(m, 1/m) variable (a mean of ``m`` unit exponentials),
    ``scipy.stats.gamma.ppf(q, m, scale=1/m)`` for integer ``m``: bisection on the closed-form
    CDF ``1 - exp(-x) sum_{k<m} x^k / k!`` (x = m y)."""
    if m < 1 or not 0.0 < q < 1.0:
        raise ValueError(f"gamma quantile needs m >= 1 and 0 < q < 1 (m={m}, q={q})")

    def cdf(y: float) -> float:
        x = m * y
        term, total = 1.0, 1.0
        for k in range(1, m):
            term *= x / k
            total += term
        return 1.0 - math.exp(-x) * total

    lo, hi = 0.0, 1.0
    while cdf(hi) < q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if cdf(mid) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return 0.5 * (lo + hi)


def kaiser_order(ripple_db: float, width: float) -> tuple[int, float]:
    """(taps, beta) of a Kaiser-window FIR: ``scipy.signal.kaiserord`` (``width`` as a fraction
    of Nyquist)."""
    a = abs(ripple_db)
    if a < 8:
        raise ValueError("Kaiser design needs at least 8 dB of attenuation")
    if a > 50:
        beta = 0.1102 * (a - 8.7)
    elif a > 21:
        beta = 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    else:
        beta = 0.0
    taps = (a - 7.95) / 2.285 / (np.pi * width) + 1
    return math.ceil(taps), beta


def kaiser_lowpass(taps: int, cutoff_hz: float, beta: float, fs: float) -> npt.NDArray[np.float64]:
    """Windowed-sinc low-pass, unit DC gain: ``scipy.signal.firwin(taps, cutoff_hz,
    window=("kaiser", beta), fs=fs)``."""
    c = cutoff_hz / (fs / 2.0)
    m = np.arange(taps) - 0.5 * (taps - 1)
    h = c * np.sinc(c * m) * np.kaiser(taps, beta)
    out: npt.NDArray[np.float64] = h / np.sum(h)
    return out


def resample_poly(
    x: npt.NDArray[np.complexfloating], up: int, down: int, h: npt.NDArray[np.float64]
) -> npt.NDArray[np.complex64]:
    """``scipy.signal.resample_poly(x, up, down, window=h)`` (zero padding; ``up``/``down``
    coprime): the same output samples, by a compiled polyphase loop over the taps that meet
    each output (instead of an up-sampled product)."""
    x = np.ascontiguousarray(x, dtype=np.complex64)
    n_in = len(x)
    half_len = (len(h) - 1) // 2
    n_out = -(-n_in * up // down)
    n_pre_pad = down - half_len % down
    n_pre_remove = (half_len + n_pre_pad) // down
    hp = np.concatenate([np.zeros(n_pre_pad), np.asarray(h, np.float64) * up])
    out = np.empty(n_out, np.complex64)
    if n_in:
        _polyphase(x, hp, up, down, n_pre_remove, out)
    else:
        out[:] = 0
    return out


@njit()
def _polyphase(
    x: npt.NDArray[np.complex64], h: npt.NDArray[np.float64], up: int, down: int,
    skip: int, out: npt.NDArray[np.complex64],
) -> None:
    """out[k] = sum_i h[n - i up] x[i], n = (skip + k) down (zero-stuffed by ``up``, filtered,
    kept every ``down``-th)."""
    nx = x.size
    nh = h.size
    for k in range(out.size):
        n = (skip + k) * down
        i_hi = min(n // up, nx - 1)
        i_lo = max(0, (n - nh + up) // up)
        re = 0.0
        im = 0.0
        for i in range(i_lo, i_hi + 1):
            c = h[n - i * up]
            v = x[i]
            re += c * v.real
            im += c * v.imag
        out[k] = complex(re, im)
