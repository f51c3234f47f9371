"""The DroneID OcuSync receiver: IQ chunks in, decoded bursts out.

Pipeline per window of the stream (bounded memory, any capture length):

1. :mod:`detect` finds candidate bursts on the full-rate stream (channelised power, cheap).
2. Each candidate is cut out with margins, mixed to baseband by its coarse frequency and
   resampled to 15.36 MS/s (:mod:`resample`).
3. :mod:`sync`: timing and fractional CFO from the cyclic prefixes, integer CFO from the two
   ZC roots, layout from the scrambler symbol. Candidates that are not DroneID stop here.
4. :mod:`equalise` estimates the channel and noise from all known symbols; :mod:`demod` turns
   the data symbols into LLRs; the scrambler is removed and ``coding.decode_llrs`` turbo
   decodes with early stop on CRC-24A.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dronewatch.jit import njit
from dronewatch.phy.ocusync.coding import decode_llrs
from dronewatch.phy.ocusync.demod import burst_llrs
from dronewatch.phy.ocusync.detect import Candidate, DetectorConfig, detect
from dronewatch.phy.ocusync.equalise import delay_samples, estimate
from dronewatch.phy.ocusync.numerology import FS, LAYOUTS, MAX_SAMPLE_RATE_HZ, Layout
from dronewatch.phy.ocusync.ofdm import demodulate_at
from dronewatch.phy.ocusync.resample import resample
from dronewatch.phy.ocusync.scrambler import descramble_llrs
from dronewatch.phy.ocusync.sync import BACKOFF, SyncResult, synchronise

#: Largest fine-timing correction (samples at 15.36 MS/s) taken from the channel's slope.
MAX_FINE = 8.0
PRE_S = 200e-6  # segment margin before the coarse start
POST_S = 900e-6  # segment end after the coarse start
SEARCH_S = 125e-6  # core start searched within +- this of the coarse start
PREROLL_S = 1.0e-3
OVERLAP_S = 1.2e-3
#: Two CRC-checked decodes of one payload this close in time, one of them this much weaker,
#: are one transmission and its echo (an image or a leak of a very strong burst into another
#: candidate): reported once, the stronger. (A drone repeating a block on another channel
#: would be heard at about the same strength: both are kept.)
ECHO_S = 2e-3
ECHO_DB = 20.0
#: A window also takes candidates this far outside its own span (duplicates are dropped).
EDGE_S = 150e-6
WINDOW_S = 0.1
#: A sample component larger than this is no radio measurement (integer formats scale to
#: +-1, float recorders stay far below): like NaN and Inf it would swamp the power of every
#: window it is in and hide the bursts there, so it is zeroed (and counted).
MAX_SAMPLE_MAGNITUDE = 1e9


@dataclass(slots=True, frozen=True)
class ReceiverConfig:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    max_iterations: int = 8
    raster_hz: float = 500e3  # nominal channel raster for ``cfo_hz``
    window_s: float = WINDOW_S
    #: Chase combining: a burst failing CRC-24A is retried with the soft bits of each of the
    #: last ``combine_depth`` failed bursts of the past ``combine_window_s`` (a drone repeats
    #: its serial record verbatim). 0 disables it.
    combine_depth: int = 6
    combine_window_s: float = 20.0


@dataclass(slots=True, frozen=True)
class BurstResult:
    """One DroneID-like burst: where, how strong, and its block when CRC-24A checks."""

    sample_offset: int  # burst start (first CP), input samples from the stream start
    time_s: float  # sample_offset / sample_rate
    freq_offset_hz: float  # burst centre minus capture centre
    cfo_hz: float  # burst centre minus the nearest ``raster_hz`` channel
    snr_db: float  # in-band SNR estimated from the pilots
    layout: Layout
    crc_ok: bool
    payload: bytes | None  # 173 bytes when crc_ok
    iterations: int
    coherence: float  # ZC-root coherence of the sync
    combined: int = 1  # bursts whose soft bits were combined for this decode (chase)


@dataclass(slots=True)
class ReceiverStats:
    windows: int = 0
    candidates: int = 0  # detector candidates
    synced: int = 0  # candidates that look like DroneID (ZC check passed)
    crc_ok: int = 0
    crc_failed: int = 0
    samples_zeroed: int = 0  # not finite, or beyond MAX_SAMPLE_MAGNITUDE
    echoes: int = 0  # second decodes of one transmission (image, leak), not reported


def decode_baseband(
    y: npt.NDArray[np.complexfloating],
    *,
    search: tuple[int, int] | None = None,
    max_iterations: int = 8,
) -> tuple[SyncResult, int, BurstResultCore] | None:
    """Sync and decode the burst in ``y`` (15.36 MS/s, roughly at baseband)."""
    sync = synchronise(y, search=search)
    if sync is None:
        return None
    spec = LAYOUTS[sync.layout]
    start = sync.core_start - spec.core_offset
    if start - BACKOFF < 0:
        # 9-symbol burst cut at the segment start: fall back to the core.
        sync = SyncResult(sync.core_start, sync.cfo_hz, Layout.SYM8, sync.coherence, 0.0,
                          sync.cp_metric)
        spec = LAYOUTS[Layout.SYM8]
        start = sync.core_start
    n = np.arange(len(y))
    yc = np.asarray(y, dtype=np.complex128) * np.exp(-2j * np.pi * sync.cfo_hz / FS * n)
    starts = [start + s - BACKOFF for s in spec.fft_starts()]
    carriers = demodulate_at(yc, starts)
    channel = estimate(carriers, sync.layout)
    llrs = descramble_llrs(burst_llrs(carriers, sync.layout, channel))
    block = decode_llrs(llrs, max_iterations=max_iterations)
    # Sub-sample timing: the channel's delay from the FFT windows' start (BACKOFF samples
    # before each symbol) says where the burst really starts; bounded to the CP (a noisy
    # slope must not move the start by more than the sync could be off).
    fine = delay_samples(channel.h) - BACKOFF
    core = BurstResultCore(
        timing_fine=float(np.clip(fine, -MAX_FINE, MAX_FINE)),
        snr_db=channel.snr_db,
        crc_ok=block.crc_ok,
        payload=block.payload,
        iterations=block.iterations,
        llrs=llrs,
    )
    return sync, start, core


@dataclass(slots=True, frozen=True)
class BurstResultCore:
    """What :func:`decode_baseband` learnt about one burst (before stream bookkeeping)."""

    timing_fine: float  # samples at 15.36 MS/s to add to the start (sub-sample timing)
    snr_db: float
    crc_ok: bool
    payload: bytes | None
    iterations: int
    llrs: npt.NDArray[np.float32]  # descrambled, for chase combining


class Receiver:
    """Streaming receiver: ``feed`` IQ chunks (any size), ``flush`` at the end."""

    def __init__(
        self,
        sample_rate: float,
        *,
        center_freq_hz: float | None = None,
        config: ReceiverConfig | None = None,
    ) -> None:
        if not np.isfinite(sample_rate) or sample_rate < 10e6:
            raise ValueError(
                f"sample rate {sample_rate} S/s is too low for a 9 MHz DroneID burst "
                "(need >= 10 MS/s)"
            )
        if sample_rate > MAX_SAMPLE_RATE_HZ:
            raise ValueError(
                f"sample rate {sample_rate:g} S/s is above the {MAX_SAMPLE_RATE_HZ / 1e6:g} MS/s "
                "the receiver reads"
            )
        self.sample_rate = float(sample_rate)
        self.center_freq_hz = center_freq_hz
        self.config = config or ReceiverConfig()
        self.stats = ReceiverStats()
        fs = self.sample_rate
        self._preroll = int(PREROLL_S * fs)
        self._overlap = int(OVERLAP_S * fs)
        self._hop = max(int(self.config.window_s * fs), 4 * self._overlap)
        # Fixed store: preroll + one window (hop + overlap); memory is bounded whatever the
        # capture length or chunk size. Allocated by the first ``feed`` (``run`` needs none).
        self._store = np.zeros(0, dtype=np.complex64)
        self._len = 0  # valid samples in _store
        self._buf_start = 0  # stream index of _store[0]
        self._next = 0  # stream index where the next hop begins
        self._recent: deque[BurstResult] = deque(maxlen=64)
        self._failed: deque[tuple[int, npt.NDArray[np.float32]]] = deque(
            maxlen=max(1, self.config.combine_depth)
        )

    @property
    def _buf(self) -> npt.NDArray[np.complex64]:
        return self._store[: self._len]

    # -- streaming -----------------------------------------------------------------------
    def run(self, x: npt.NDArray[np.complexfloating]) -> list[BurstResult]:
        """Every burst of a whole capture in memory: ``feed(x) + flush()`` with the same
        windows, analysed in place (no copy of ``x``; ``x`` itself is never modified)."""
        if self._len or self._next:
            raise RuntimeError("Receiver.run: a fresh receiver analyses a whole capture")
        x = np.asarray(x, dtype=np.complex64).ravel()
        if not _all_sane(x.view(np.float32), MAX_SAMPLE_MAGNITUDE):
            x = x.copy()
            self._sanitise(x)
        out: list[BurstResult] = []
        n = len(x)
        lo = 0
        while lo + self._hop + self._overlap <= n:
            self._view(x, lo, lo + self._hop + self._overlap)
            out.extend(self._window(lo, lo + self._hop))
            lo += self._hop
        if lo < n:
            self._view(x, lo, n)
            out.extend(self._window(lo, n))
        self._next = n
        self._store = np.zeros(0, dtype=np.complex64)  # (no reference to x kept)
        self._len = 0
        self._buf_start = n
        return out

    def _view(self, x: npt.NDArray[np.complex64], lo: int, hi: int) -> None:
        """Make x[lo - preroll : hi] the store, as ``feed`` would hold it for window lo."""
        start = max(0, lo - self._preroll)
        self._store = x[start:hi]
        self._len = hi - start
        self._buf_start = start

    def _sanitise(self, dst: npt.NDArray[np.complex64]) -> None:
        """NaN / Inf / absurd samples (a broken file or driver): zeroed, counted."""
        parts = dst.view(np.float32).reshape(-1, 2)
        bad = ~(np.abs(parts) <= MAX_SAMPLE_MAGNITUDE).all(axis=1)  # NaN fails <=
        dst[bad] = 0
        self.stats.samples_zeroed += int(bad.sum())

    def feed(self, chunk: npt.NDArray[np.complexfloating]) -> list[BurstResult]:
        chunk = np.asarray(chunk, dtype=np.complex64).ravel()
        if len(self._store) == 0:  # the first feed (or the first after ``run``)
            self._store = np.zeros(self._preroll + self._hop + self._overlap,
                                   dtype=np.complex64)
        out: list[BurstResult] = []
        pos = 0
        while pos < len(chunk):
            free = len(self._store) - self._len
            n = min(free, len(chunk) - pos)
            dst = self._store[self._len : self._len + n]
            dst[:] = chunk[pos : pos + n]
            if not _all_sane(dst.view(np.float32), MAX_SAMPLE_MAGNITUDE):
                self._sanitise(dst)
            self._len += n
            pos += n
            while self._buf_start + self._len >= self._next + self._hop + self._overlap:
                out.extend(self._window(self._next, self._next + self._hop))
                self._next += self._hop
                self._trim()
        return out

    def flush(self) -> list[BurstResult]:
        end = self._buf_start + self._len
        out: list[BurstResult] = []
        if end > self._next:
            out = self._window(self._next, end)
            self._next = end
        self._trim()
        return out

    def _trim(self) -> None:
        keep_from = max(self._buf_start, self._next - self._preroll)
        drop = keep_from - self._buf_start
        if drop > 0:
            keep = self._len - drop
            self._store[:keep] = self._store[drop : self._len]
            self._len = keep
            self._buf_start = keep_from

    def _window(self, lo: int, hi: int) -> list[BurstResult]:
        """Detect in the buffer, decode candidates whose coarse start is in [lo, hi)."""
        self.stats.windows += 1
        x = self._buf
        base = self._buf_start
        # The coarse start of a burst at a window boundary moves with the cell grid (aligned
        # to each window's store) and with the noise: each window takes a little more than its
        # share, and a burst decoded by the previous window is not decoded again.
        edge = int(EDGE_S * self.sample_rate)
        first = lo - edge if lo > self._buf_start else lo
        cands = [
            c
            for c in detect(x, self.sample_rate, self.config.detector)
            if first <= base + c.start < hi + edge
        ]
        cands.sort(key=lambda c: c.start)  # time order (chase combining pairs forward)
        out: list[BurstResult] = []
        for cand in cands:
            if self._known(base + cand.start, cand.freq_hz):
                continue
            self.stats.candidates += 1
            res = self._decode_candidate(x, base, cand)
            if res is None or self._duplicate(res):
                continue
            twin = self._same_transmission(res)
            if twin is not None:
                # One transmission decoded twice (an image or a leak of a very strong burst
                # into another channel's candidate): the stronger decode stands.
                self.stats.echoes += 1
                if twin.snr_db >= res.snr_db or twin not in out:
                    continue
                out.remove(twin)
                self._recent.remove(twin)
                self._recent.append(res)
                out.append(res)
                continue
            self.stats.synced += 1
            if res.crc_ok:
                self.stats.crc_ok += 1
            else:
                self.stats.crc_failed += 1
            self._recent.append(res)
            out.append(res)
        out.sort(key=lambda r: r.sample_offset)
        return out

    def _known(self, coarse: int, freq_hz: float) -> bool:
        """Whether a burst already decoded covers this candidate (coarse start and freq)."""
        tol = int((SEARCH_S + 100e-6) * self.sample_rate)
        return any(
            abs(r.sample_offset - coarse) < tol and abs(r.freq_offset_hz - freq_hz) < 1.5e6
            for r in self._recent
        )

    def _same_transmission(self, res: BurstResult) -> BurstResult | None:
        """A decode of the same payload within ``ECHO_S`` of this one and ``ECHO_DB`` stronger
        or weaker, at any frequency."""
        if not res.crc_ok:
            return None
        tol = int(ECHO_S * self.sample_rate)
        for r in self._recent:
            if (r.crc_ok and r.payload == res.payload
                    and abs(r.sample_offset - res.sample_offset) < tol
                    and abs(r.snr_db - res.snr_db) >= ECHO_DB):
                return r
        return None

    def _duplicate(self, res: BurstResult) -> bool:
        tol = int(300e-6 * self.sample_rate)
        for r in self._recent:
            if abs(r.sample_offset - res.sample_offset) < tol and abs(
                r.freq_offset_hz - res.freq_offset_hz
            ) < 1e6:
                return True
        return False

    def _decode_candidate(
        self, x: npt.NDArray[np.complex64], base: int, cand: Candidate
    ) -> BurstResult | None:
        fs = self.sample_rate
        want_a = cand.start - int(PRE_S * fs)
        want_b = cand.start + int(POST_S * fs)
        a = max(0, want_a)
        b = min(len(x), want_b)
        if b - a < int(0.5e-3 * fs):
            return None
        seg = x[a:b]
        if a > want_a or b < want_b:
            # A burst at the very edge of the input (a file cut tight around it): zeros stand
            # in for the missing margin, so that sync sees the same segment as anywhere else.
            seg = np.concatenate([np.zeros(a - want_a, np.complex64), seg,
                                  np.zeros(want_b - b, np.complex64)])
            a = want_a
        n = np.arange(len(seg))
        seg = (seg * np.exp(-2j * np.pi * cand.freq_hz / fs * n)).astype(np.complex64)
        y = resample(seg, fs, FS)
        centre = (cand.start - a) * FS / fs
        search = (int(centre - SEARCH_S * FS), int(centre + SEARCH_S * FS))
        got = decode_baseband(y, search=search, max_iterations=self.config.max_iterations)
        if got is None:
            return None
        sync, start, core = got
        offset = base + a + round((start + core.timing_fine) * fs / FS)
        payload, crc_ok, iterations, combined = core.payload, core.crc_ok, core.iterations, 1
        if not crc_ok and self.config.combine_depth > 0:
            payload, iterations, combined = self._chase(offset, core.llrs)
            crc_ok = payload is not None
        freq = cand.freq_hz + sync.cfo_hz
        absolute = freq + (self.center_freq_hz or 0.0)
        raster = self.config.raster_hz
        cfo = absolute - round(absolute / raster) * raster if raster > 0 else freq
        return BurstResult(
            sample_offset=offset,
            time_s=offset / fs,
            freq_offset_hz=freq,
            cfo_hz=cfo,
            snr_db=core.snr_db,
            layout=sync.layout,
            crc_ok=crc_ok,
            payload=payload,
            iterations=iterations,
            coherence=sync.coherence,
            combined=combined,
        )

    def _chase(
        self, offset: int, llrs: npt.NDArray[np.float32]
    ) -> tuple[bytes | None, int, int]:
        """Retry a failed burst combined with earlier failed ones (newest first)."""
        horizon = offset - int(self.config.combine_window_s * self.sample_rate)
        for i in range(len(self._failed) - 1, -1, -1):
            when, old = self._failed[i]
            if when < horizon or when == offset:
                continue
            block = decode_llrs(llrs + old, max_iterations=self.config.max_iterations)
            if block.crc_ok:
                del self._failed[i]
                return block.payload, block.iterations, 2
        self._failed.append((offset, llrs))
        return None, self.config.max_iterations, 1


@njit()
def _all_sane(v: npt.NDArray[np.float32], limit: float) -> bool:
    """Whether every value is finite and within +-``limit``."""
    # No early exit: the OR reduction vectorises (7x faster over clean samples, the case
    # that matters: every sample of a live stream goes through here).
    bad = False
    for i in range(v.size):
        bad |= not abs(v[i]) <= limit  # (NaN compares false)
    return not bad


def receive(
    x: npt.NDArray[np.complexfloating],
    sample_rate: float,
    *,
    center_freq_hz: float | None = None,
    config: ReceiverConfig | None = None,
) -> list[BurstResult]:
    """Every burst in one in-memory capture."""
    rx = Receiver(sample_rate, center_freq_hz=center_freq_hz, config=config)
    return rx.run(x)


#: The sample rates SDRs are run at for DroneID (S/s): LTE-style multiples of 3.84 MS/s and
#: round ones. A stream that holds no burst at its ``--sample-rate`` is tried at these.
COMMON_RATES_SPS = (15.36e6, 20e6, 23.04e6, 30.72e6, 40e6, 46.08e6, 50e6, 56e6, 61.44e6)


def rate_hint(
    x: npt.NDArray[np.complexfloating],
    sample_rate: float,
    *,
    center_freq_hz: float | None = None,
    rates: tuple[float, ...] = COMMON_RATES_SPS,
) -> float | None:
    """The first of ``rates`` (nearest ``sample_rate`` first) at which ``x`` holds a
    CRC-checked DroneID burst: for samples that, read at ``sample_rate``, hold none. How a
    wrong ``--sample-rate`` shows in the signal: an OFDM burst read at a rate a few percent
    off does not decode, and the CRC-24A leaves no false hint. ``None``: no burst at any."""
    tried = sorted(
        (r for r in rates if abs(r / sample_rate - 1) > 0.005 and 10e6 <= r <= MAX_SAMPLE_RATE_HZ),
        key=lambda r: abs(np.log(r / sample_rate)),
    )
    for rate in tried:
        if any(r.crc_ok for r in receive(x, rate, center_freq_hz=center_freq_hz)):
            return rate
    return None


def rate_hint_warning(rate: float, sample_rate: float) -> str:
    """What a user is told when :func:`rate_hint` found ``rate`` for ``sample_rate``."""
    return (
        f"DroneID bursts decode when the samples are read at {rate / 1e6:g} MS/s, not at "
        f"{sample_rate / 1e6:g} MS/s: is the sample rate (--sample-rate) right?"
    )


_WARM = False


def warm_up() -> None:
    """Load (or compile, once per source version) the receiver's kernels by decoding one
    synthetic burst: a live stream's first burst would otherwise wait for them."""
    global _WARM
    if _WARM:
        return
    from dronewatch.phy.ocusync.transmitter import transmit

    burst = transmit(bytes(range(1, 174)), sample_rate=FS)
    rng = np.random.default_rng(0)
    n = len(burst) + 30000
    # Noise at 20 dB below the burst: one candidate (digital silence would make many).
    x = ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) * 0.07).astype(np.complex64)
    x[15000 : 15000 + len(burst)] += burst
    receive(x, FS, config=ReceiverConfig(combine_depth=0))
    _WARM = True
