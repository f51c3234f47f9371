"""The receiver's own filters (phy/ocusync/filters.py) against the scipy functions they replace
(scipy stays out of the receiver's imports: start-up)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import scipy.stats

from dronewatch.phy.ocusync import filters
from dronewatch.phy.ocusync.resample import design_filter, rational_ratio


@pytest.mark.parametrize(("size", "origin", "axis"), [(11, 0, 1), (28, -14, 0), (27, -13, 0),
                                                       (4, 0, 1), (1, 0, 0), (9, 0, -1)])
def test_uniform_filter1d(size: int, origin: int, axis: int) -> None:
    x = np.random.default_rng(size).standard_normal((60, 40)).astype(np.float32)
    want = scipy.ndimage.uniform_filter1d(x, size, axis=axis, mode="constant", origin=origin)
    got = filters.uniform_filter1d(x, size, axis=axis, origin=origin)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [(15, 11), (13, 10), (1, 5), (4, 1)])
def test_maximum_filter2d(size: tuple[int, int]) -> None:
    x = np.random.default_rng(sum(size)).standard_normal((50, 33)).astype(np.float32)
    want = scipy.ndimage.maximum_filter(x, size=size, mode="constant", cval=-np.inf)
    np.testing.assert_array_equal(filters.maximum_filter2d(x, size), want)


@pytest.mark.parametrize("m", [1, 2, 4, 8, 16, 32])
def test_gamma_quantile(m: int) -> None:
    for q in (0.05, 0.3, 0.5, 0.9):
        assert filters.gamma_quantile(q, m) == pytest.approx(
            scipy.stats.gamma.ppf(q, m, scale=1.0 / m), rel=1e-9)


@pytest.mark.parametrize(("fs_in", "fs_out"), [(50e6, 15.36e6), (15.36e6, 50e6),
                                               (61.44e6, 15.36e6), (20e6, 15.36e6),
                                               (15.36e6, 30.72e6)])
def test_design_and_resample_match_scipy(fs_in: float, fs_out: float) -> None:
    up, down = rational_ratio(fs_in, fs_out)
    h = design_filter(up, down, fs_in)
    # the design: kaiserord + firwin as scipy would make it
    fs_up = fs_in * up
    taps, beta = scipy.signal.kaiserord(70.0, 0.1)
    assert filters.kaiser_order(70.0, 0.1) == (taps, pytest.approx(beta))
    ref = scipy.signal.firwin(len(h) | 1, 0.3 * fs_up / 2, window=("kaiser", beta), fs=fs_up)
    np.testing.assert_allclose(filters.kaiser_lowpass(len(h) | 1, 0.3 * fs_up / 2, beta, fs_up),
                               ref, rtol=1e-9, atol=1e-12)
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 1000, 20011):
        x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
        want = scipy.signal.resample_poly(x, up, down, window=h)
        got = filters.resample_poly(x, up, down, h)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(
            np.max(np.abs(want), initial=0.0))))


@pytest.mark.parametrize(("rate", "stride"), [(50e6, 2), (15.36e6, 1), (61.44e6, 4), (10e6, 2)])
def test_power_map_matches_the_fft(rate: float, stride: int) -> None:
    # The detector's fused radix-2 FFT + Hann power against numpy's FFT of Hann-windowed blocks.
    from dronewatch.phy.ocusync.detect import grid_for, power_map

    grid = grid_for(rate, stride)
    rng = np.random.default_rng(int(rate) % 1000)
    n = grid.cell * 37 + 5
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    x[grid.cell * 3 : grid.cell * 9] += 30 * np.exp(2j * np.pi * 0.21 * np.arange(grid.cell * 6))
    n_cells = n // grid.cell
    blocks = x[: n_cells * grid.cell].reshape(n_cells, grid.frames_per_cell, grid.nbin)
    blocks = blocks[:, ::stride, :].astype(np.complex128)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(grid.nbin) / grid.nbin)  # periodic
    spec = np.fft.fft(blocks * hann, axis=2)
    want = np.fft.fftshift((np.abs(spec) ** 2).mean(axis=1), axes=1)
    got = power_map(x, grid, stride)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-4 * float(want.max()))
