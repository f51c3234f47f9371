"""Cheap burst detection over a wide capture: channelised power on a coarse time grid.

The capture is cut into ``nbin``-sample blocks (bins of ~0.8 MHz at 50 MS/s); every block is
FFT'd and the per-bin power is averaged over ``~10 us`` cells. Each bin's noise floor is a low
quantile over the chunk, so the statistic is the in-band power excess over the floor summed
over a 9 MHz x 560 us box: a burst of any hop channel inside the capture shows up as a local
maximum. Only those candidates get the full (expensive) receiver. The cost is one short FFT
per block, optionally on a subset of blocks (``stride``) - a small fraction of a second per
second of 50 MS/s capture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dronewatch.jit import njit
from dronewatch.phy.ocusync.filters import gamma_quantile, maximum_filter2d, uniform_filter1d
from dronewatch.phy.ocusync.numerology import BANDWIDTH_HZ

BIN_TARGET_HZ = 0.75e6
CELL_S = 20e-6
BOX_S = 560e-6  # shorter than both layouts (571 / 643 us)
FLOOR_QUANTILE = 0.3
#: Captures shorter than this many boxes get the short-capture floor (see :func:`detect`).
SHORT_CELLS = 8
SHORT_FLOOR_CAP = 2.0


@dataclass(slots=True, frozen=True)
class DetectorConfig:
    min_excess: float = 0.08  # mean in-band SNR (linear) a box must show, ~ -11 dB
    sigmas: float = 7.0  # and this many standard deviations of the noise statistic
    stride: int = 2  # FFT every ``stride``-th block only (4 costs ~0.3 dB of detection)
    workers: int = 2
    #: Reject a candidate when the power excess on either side just outside its 9 MHz band
    #: exceeds this fraction of the in-band excess (None: no test).
    max_shoulder: float | None = 0.5


@dataclass(slots=True, frozen=True)
class Candidate:
    start: int  # coarse burst start, samples from the start of the analysed array
    freq_hz: float  # coarse centre offset from the capture centre
    excess: float  # mean in-band power excess over the floor (~ linear SNR)


@dataclass(slots=True, frozen=True)
class Grid:
    nbin: int
    frames_per_cell: int  # FFT blocks averaged per cell (before stride)
    cell: int  # samples per cell
    box_cells: int
    box_bins: int


def grid_for(sample_rate: float, stride: int = 1) -> Grid:
    nbin = 1 << max(3, round(float(np.log2(sample_rate / BIN_TARGET_HZ))))
    frames = max(stride, round(CELL_S * sample_rate / nbin))
    frames -= frames % stride
    cell = frames * nbin
    box_cells = max(1, round(BOX_S * sample_rate / cell))
    box_bins = max(1, min(nbin, int(np.floor(BANDWIDTH_HZ / (sample_rate / nbin)))))
    return Grid(nbin, frames, cell, box_cells, box_bins)


def power_map(
    x: npt.NDArray[np.complex64], grid: Grid, stride: int = 1, workers: int = 2
) -> npt.NDArray[np.float32]:
    """Per-cell, per-bin power, shape (n_cells, nbin), bins in ascending frequency.

    Every ``stride``-th ``nbin``-sample block is transformed by a compiled radix-2 FFT fused
    with the power sum (no spectrum array; scipy's FFT, whose import cost a live source a
    sixth of its start-up, is not needed). ``workers`` is kept for callers (unused)."""
    n_cells = len(x) // grid.cell
    if n_cells == 0:
        return np.zeros((0, grid.nbin), dtype=np.float32)
    out = np.empty((n_cells, grid.nbin), dtype=np.float32)
    bitrev, twr, twi = _fft_tables(grid.nbin)
    _cell_power_fft(np.ascontiguousarray(x[: n_cells * grid.cell]), n_cells,
                    grid.frames_per_cell, stride, bitrev, twr, twi, out)
    return out


_TABLES: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float32],
                         npt.NDArray[np.float32]]] = {}


def _fft_tables(n: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32],
                                 npt.NDArray[np.float32]]:
    """(bit-reversal permutation, twiddle cos, twiddle -sin) of an ``n``-point FFT."""
    if n not in _TABLES:
        bits = n.bit_length() - 1
        if 1 << bits != n:
            raise ValueError(f"FFT size {n} is not a power of two")
        k = np.arange(n)
        rev = np.zeros(n, np.int64)
        for b in range(bits):
            rev |= ((k >> b) & 1) << (bits - 1 - b)
        w = np.exp(-2j * np.pi * np.arange(n // 2) / n)
        _TABLES[n] = (rev, w.real.astype(np.float32), w.imag.astype(np.float32))
    return _TABLES[n]


@njit()
def _cell_power_fft(
    x: npt.NDArray[np.complex64], n_cells: int, frames: int, stride: int,
    bitrev: npt.NDArray[np.int64], twr: npt.NDArray[np.float32], twi: npt.NDArray[np.float32],
    out: npt.NDArray[np.float32],
) -> None:
    """out[c, shifted bin] = mean over the cell's used blocks (every ``stride``-th of
    ``frames``) of |Hann-windowed FFT|^2 (fftshift order); the periodic Hann window is the
    exact circular 3-tap kernel (-1/4, 1/2, -1/4) over bins, applied after the FFT. The
    cell's blocks are transformed together (innermost loop over blocks: vectorised)."""
    nbin = bitrev.size
    half = nbin // 2
    cell = frames * nbin
    nb = frames // stride
    h0, h1 = np.float32(0.5), np.float32(0.25)
    re = np.empty((nbin, nb), dtype=np.float32)
    im = np.empty((nbin, nb), dtype=np.float32)
    for c in range(n_cells):
        for f in range(nb):
            base = c * cell + f * stride * nbin
            for k in range(nbin):
                v = x[base + bitrev[k]]
                re[k, f] = v.real
                im[k, f] = v.imag
        m = 2
        while m <= nbin:
            hm = m // 2
            step = nbin // m
            for start in range(0, nbin, m):
                for j in range(hm):
                    wr = twr[j * step]
                    wi = twi[j * step]
                    a = start + j
                    b = a + hm
                    ra, ia, rb, ib = re[a], im[a], re[b], im[b]
                    for f in range(nb):
                        tr = wr * rb[f] - wi * ib[f]
                        ti = wr * ib[f] + wi * rb[f]
                        rb[f] = ra[f] - tr
                        ib[f] = ia[f] - ti
                        ra[f] += tr
                        ia[f] += ti
            m *= 2
        for b in range(nbin):
            lo = b - 1 if b > 0 else nbin - 1
            hi = b + 1 if b < nbin - 1 else 0
            acc = np.float32(0.0)
            for f in range(nb):
                vr = h0 * re[b, f] - h1 * (re[lo, f] + re[hi, f])
                vi = h0 * im[b, f] - h1 * (im[lo, f] + im[hi, f])
                acc += vr * vr + vi * vi
            out[c, (b + half) % nbin] = acc / nb


def detect(
    x: npt.NDArray[np.complex64], sample_rate: float, config: DetectorConfig | None = None
) -> list[Candidate]:
    """Candidate DroneID bursts in ``x`` (coarse time and frequency), strongest first."""
    cfg = config or DetectorConfig()
    grid = grid_for(sample_rate, cfg.stride)
    pm = power_map(x, grid, cfg.stride, cfg.workers)
    n_cells = pm.shape[0]
    if n_cells < grid.box_cells:
        return []
    step = max(1, n_cells // 2000)  # the floor needs a few thousand cells, not all
    sample = np.ascontiguousarray(pm[::step].T)
    k = int(FLOOR_QUANTILE * (sample.shape[1] - 1))
    floor = np.partition(sample, k, axis=1)[:, k]
    # Quantile of a mean of m exponentials sits below the mean: correct the bias.
    m = max(1, grid.frames_per_cell // cfg.stride)
    floor = floor / _quantile_bias(m, FLOOR_QUANTILE)
    if n_cells < SHORT_CELLS * grid.box_cells:
        # A short capture that a burst fills: the burst's own bins' time quantile is the
        # burst, not the noise. Bins of a flat noise floor share one level; cap each bin's
        # floor at a few times the median of all bins' floors (the other channels are noise).
        floor = np.minimum(floor, SHORT_FLOOR_CAP * float(np.median(floor)))
    # Digital silence (zero padding, a squelched SDR) must not divide by zero.
    floor = np.maximum(floor, 1e-6 * float(np.mean(pm)) + 1e-30)
    excess = pm / floor[None, :] - 1.0
    # No wrap-around: a band hanging over the capture edge is not a decodable burst, and
    # wrapping would make edge bins local maxima fed by the other edge.
    band = uniform_filter1d(excess, grid.box_bins, axis=1)
    box = uniform_filter1d(band, grid.box_cells, axis=0, origin=-(grid.box_cells // 2))
    valid = n_cells - grid.box_cells + 1
    box = box[:valid]
    sigma = 1.0 / np.sqrt(m * grid.box_bins * grid.box_cells)
    threshold = max(cfg.min_excess, cfg.sigmas * sigma)
    # Neighbourhood half a box long: two bursts of one drone on one channel come 0.71 ms
    # apart (0x11 then 0x10), and the weaker second one sits on the slope of the first's box
    # response; a full-box neighbourhood let that slope suppress it.
    ts, fs = _local_maxima(box, threshold, (grid.box_cells // 2) | 1, grid.box_bins)
    bin_hz = sample_rate / grid.nbin
    out = []
    for t, f in zip(ts.tolist(), fs.tolist(), strict=True):
        lo = f - grid.box_bins
        cols = np.arange(lo, f + grid.box_bins + 1)
        inside = (cols >= 0) & (cols < grid.nbin)
        prof = np.zeros(len(cols), dtype=np.float32)
        prof[inside] = excess[t : t + grid.box_cells, cols[inside]].mean(axis=0)
        centre = lo + _band_centre(prof, grid.box_bins, BANDWIDTH_HZ / bin_hz)
        if cfg.max_shoulder is not None:
            # A 9 MHz burst has quiet shoulders; Wi-Fi (20 MHz+) or wide video does not (any
            # 9 MHz slice of a wide signal has at least one loud shoulder). Cost: a burst
            # glued to a stronger signal within ~2 MHz is missed.
            half = BANDWIDTH_HZ / bin_hz / 2.0 + 2.5
            sides = []
            for c in (centre - half, centre + half):
                cols = np.arange(round(c) - 1, round(c) + 2)
                cols = cols[(cols >= 0) & (cols < grid.nbin)]
                sides.append(float(excess[t : t + grid.box_cells, cols].mean()) if cols.size else 0.0)
            if max(sides) > cfg.max_shoulder * float(box[t, f]):
                continue
        freq = (centre - grid.nbin // 2) * bin_hz
        out.append(Candidate(start=t * grid.cell, freq_hz=float(freq), excess=float(box[t, f])))
    out.sort(key=lambda c: -c.excess)
    return out


def _band_centre(prof: npt.NDArray[np.float32], mid: int, width: float) -> float:
    """Centre (profile index units) of a ``width``-bin-wide band in ``prof`` near ``mid``:
    the best fit of a rectangle with fractional edges, in 1/8-bin steps. Summing whole bands
    makes it robust to noise at low SNR and to the leakage skirts of strong bursts."""
    j = np.arange(len(prof), dtype=np.float64)
    centres = mid + np.arange(-4.0, 4.0 + 1e-9, 0.125)
    lo = centres[:, None] - width / 2.0
    hi = centres[:, None] + width / 2.0
    w = np.clip(np.minimum(hi, j[None, :] + 0.5) - np.maximum(lo, j[None, :] - 0.5), 0.0, 1.0)
    score = w @ prof.astype(np.float64)
    return float(centres[int(np.argmax(score))])


def _local_maxima(
    box: npt.NDArray[np.float32], threshold: float, size_t: int, size_f: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(t, f) of cells above ``threshold`` that are the maximum of their size_t x size_f
    neighbourhood. Only rows near an above-threshold cell are filtered (bursts are sparse)."""
    hot = np.flatnonzero(box.max(axis=1) > threshold)
    if hot.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    # Group hot rows into runs, each padded by the filter's half size.
    pad = size_t // 2 + 1
    breaks = np.flatnonzero(np.diff(hot) > 2 * pad) + 1
    ts_all: list[npt.NDArray[np.intp]] = []
    fs_all: list[npt.NDArray[np.intp]] = []
    for run in np.split(hot, breaks):
        lo, hi = max(0, int(run[0]) - pad), min(box.shape[0], int(run[-1]) + pad + 1)
        sub = box[lo:hi]
        mx = maximum_filter2d(sub, (size_t, size_f))
        t, f = np.nonzero((sub == mx) & (sub > threshold))
        ts_all.append(t + lo)
        fs_all.append(f)
    return np.concatenate(ts_all), np.concatenate(fs_all)


_BIAS: dict[tuple[int, float], float] = {}


def _quantile_bias(m: int, q: float) -> float:
    """Ratio of the q-quantile to the mean of a Gamma(m, 1/m) variable."""
    key = (m, q)
    if key not in _BIAS:
        _BIAS[key] = gamma_quantile(q, m)
    return _BIAS[key]
