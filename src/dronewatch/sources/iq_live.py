"""Live IQ streams -> DJI DroneID frames: the one chunked sample stream behind every SDR source.

A kind of IQ source (raw IQ on stdin, a FIFO or TCP in this module; GNU Radio ZMQ in
:mod:`.iq_zmq`; SoapySDR devices in :mod:`.soapy`) only implements :meth:`IQStreamSource.chunks`:
complex64 sample chunks, each saying how many samples were lost just before it (a device
overflow with timestamps, a gap) or that an unknown number was (an overflow flag without
time, a reconnect), and the centre frequency when it changed (a hop). This class does the rest:

* **A running sample counter.** Every chunk gets its stream index; lost samples advance the
  counter, so burst times stay exact to the sample (``time = start + index / rate``) across
  drops. Each frame carries its stream ``sample_offset``.
* **Bounded work queue, counted drops.** Chunks are read as fast as they arrive (the reader
  never holds up an SDR driver or a pipe), cut into ``SEGMENT_S`` segments and handed to the
  DSP workers through a queue of at most ``QUEUE_S`` seconds of samples. When the workers fall
  behind, whole segments are dropped and counted (``dropped_samples``, ``blocks_dropped``):
  never hidden, memory bounded.
* **Segments over the cores.** ``DSP_WORKERS`` threads (the FFTs and numba kernels release
  the GIL) each decode one segment at a time with a receiver of its own. A segment starts with
  the previous one's last ``LEAD_S`` samples and owns the bursts that start in
  ``[start - EDGE_S, end - EDGE_S)``: a burst across a boundary is whole in exactly one
  segment, none is lost or decoded twice. Frames go out in stream order. (Chase combining of
  failed bursts works within a segment.)
* **Epochs.** After a loss or a retune the segment ends there and the next starts without a
  lead-in (a burst cannot straddle a hole or a frequency change).
* **Health**: samples, seconds, drops, overflows, gaps, zeroed (NaN/Inf) samples, bursts
  decoded and failed, the centre frequency, the arrival rate (a warning when the stream is
  slower than ``--sample-rate`` says, or the spectrum looks like a wrong ``--iq-format``).

``iq:-`` reads raw interleaved IQ on stdin, ``iq:PATH`` a FIFO (or a file, to its end) and
``iq:tcp://HOST:PORT`` a TCP stream (``rtl_tcp``-like servers, ``nc``); the format, rate and
centre come from ``LiveOptions.extra`` (``iq_format``, ``sample_rate_hz``, ``center_freq_hz``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from dronewatch.model import Frame

if TYPE_CHECKING:
    from dronewatch.sources.iq import SampleFormat
from dronewatch.sources.live import (
    LiveOptions,
    LiveSource,
    SourceEnded,
    SourceError,
    SourceState,
)

QUEUE_S = 0.4  # seconds of samples waiting for the DSP workers, at most
#: ... and this much more while the first worker loads the receiver's kernels (a second on a
#: busy machine): the stream is read from the start, nothing dropped for the warm-up.
WARM_QUEUE_S = 1.0
WARM_QUEUE_MAX_SAMPLES = 50_000_000  # (400 MB: wider streams get less than a second)
SEGMENT_S = 0.1  # the stream is cut into segments this long, one per worker at a time
LEAD_S = 2e-3  # each segment starts with the previous one's last samples
EDGE_S = 0.7e-3  # > a burst: a burst starting this close to a segment's end is the next's
DSP_WORKERS = 2  # the numba kernels and FFTs release the GIL: threads use the cores
READ_BYTES = 1 << 22
F_SETPIPE_SZ = 1031  # fcntl (Linux)
PIPE_BYTES = 1 << 20
POLL_S = 0.25
RATE_CHECK_S = 5.0  # arrival rate compared with the sample rate after this long
STALL_S = 2.0  # no samples for this long: the stream stopped (not a slow one)
#: While nothing has decoded, the 3rd, 30th and 300th segment with burst candidates and no
#: decode are tried at the other common SDR rates (a wrong --sample-rate; ~1 s CPU a try; not
#: the 1st: at the right rate a weak burst may fail before the first one decodes).
RATE_HINT_AT = (3, 30, 300)


NO_SAMPLES: npt.NDArray[np.complex64] = np.zeros(0, np.complex64)


@dataclass(slots=True)
class IQChunk:
    """Samples in stream order, and what happened just before them."""

    samples: npt.NDArray[np.complex64]
    dropped_before: int = 0  # samples known to be lost just before this chunk
    gap: bool = False  # samples were lost before this chunk, how many is unknown
    center_freq_hz: float | None = None  # the centre from this chunk on (None: unchanged)
    overflow: bool = False  # the device reported an overflow (counted)
    skipped_before: int = 0  # samples read but deliberately not analysed (retune settling)
    #: Instead of ``samples``: the interleaved components as read, converted by ``raw_format``
    #: straight into the segment (one pass over the data, no complex64 copy in between).
    raw: npt.NDArray[Any] | None = None
    raw_format: SampleFormat | None = None

    def __len__(self) -> int:
        return len(self.samples) if self.raw is None else len(self.raw) // 2


@dataclass(slots=True)
class _Segment:
    """A stretch of one epoch for a DSP worker: the previous one's tail, then its samples,
    contiguous in a pooled buffer laid out ``[lead area (LEAD_S) | body area (SEGMENT_S)]``."""

    seq: int
    buf: npt.NDArray[np.complex64]
    lead: int  # samples of the previous segment's tail (same epoch) before the body, or 0
    body: int  # samples of this segment
    start: int  # stream index of the body's first sample
    centre: float | None
    final: bool  # the last of its epoch (its bursts up to its end are its own)
    lead_area: int

    @property
    def samples(self) -> npt.NDArray[np.complex64]:
        """Lead and body (a view of ``buf``)."""
        return self.buf[self.lead_area - self.lead : self.lead_area + self.body]


class IQStreamSource(LiveSource):
    """Base of the IQ sources: chunks in, DroneID frames out (see the module doc)."""

    kind = "iq"
    integer_samples = False  # samples were integers scaled to +-1 (format checks)

    def __init__(
        self,
        name: str,
        options: LiveOptions,
        sample_rate: float,
        center_freq_hz: float | None = None,
    ) -> None:
        super().__init__(name, queue_batches=options.queue_batches)
        from dronewatch.phy.ocusync.numerology import MAX_SAMPLE_RATE_HZ

        if not np.isfinite(sample_rate) or not 10e6 <= sample_rate <= MAX_SAMPLE_RATE_HZ:
            raise ValueError(
                f"{name}: sample rate {sample_rate:g} S/s: a DroneID receiver needs 10 MS/s "
                f"(one channel) to {MAX_SAMPLE_RATE_HZ / 1e6:g} MS/s"
            )
        self.sensor_id = options.sensor_id
        #: Wait for the DSP instead of dropping (a recording piped in: nothing is lost
        #: upstream by waiting). A live SDR must not wait: it would overflow unseen.
        self.backpressure = bool(options.extra.get("iq_backpressure", False))
        self._stop_flag: threading.Event | None = None
        self.sample_rate = float(sample_rate)
        self.center_freq_hz = center_freq_hz
        self.samples = 0  # stream index of the next sample (received + lost)
        self.samples_received = 0
        self.dropped_samples = 0  # lost: device overflows with a known count, queue drops
        self.blocks_dropped = 0  # chunks dropped because the DSP fell behind
        self.overflows = 0  # overflow flags from the device
        self.gaps = 0  # losses of unknown size (overflow without time, reconnect)
        self.samples_skipped = 0  # read but not analysed on purpose (settling after a retune)
        self.bursts = 0  # CRC-checked bursts emitted
        self.crc_failed = 0
        self.warnings: list[str] = []
        self._start_wall: float | None = None  # UTC time of stream index 0
        self._first_mono: float | None = None
        self._last_mono = 0.0  # monotonic time samples last arrived
        self.workers = max(1, int(options.extra.get("iq_workers", DSP_WORKERS)))
        self._wq: queue.Queue[_Segment | None] = queue.Queue()
        self._wq_samples = 0  # samples in the work queue
        self._wq_max = max(int(QUEUE_S * self.sample_rate), 2 * int(SEGMENT_S * self.sample_rate))
        self._wq_max_warm = self._wq_max + min(int(WARM_QUEUE_S * self.sample_rate),
                                               WARM_QUEUE_MAX_SAMPLES)
        self._lock = threading.Lock()
        self._pending_gap = False
        self._seg_len = int(SEGMENT_S * self.sample_rate)
        self._lead_len = int(LEAD_S * self.sample_rate)
        # The segment being filled, in a pooled buffer [lead area | body area]: the samples
        # are copied once, into memory that is used again (no fresh pages per segment).
        self._fill: npt.NDArray[np.complex64] | None = None
        self._parts_len = 0  # samples in its body area
        self._pool: list[npt.NDArray[np.complex64]] = []  # free buffers
        # (at most what is in flight once warm: a full queue, one per worker, the one filling)
        self._pool_max = -(-self._wq_max // self._seg_len) + self.workers + 1
        self._seg_start = 0  # stream index of its first sample
        self._seg_centre: float | None = center_freq_hz
        self._lead: npt.NDArray[np.complex64] | None = None  # the previous segment's tail
        self._seq = 0  # segments dispatched
        self._done: dict[int, list[Frame]] = {}  # finished segments waiting for their turn
        self._next_emit = 0
        self._zeroed = 0
        self._cpu: dict[int, float] = {}  # worker -> CPU seconds
        self._checked_spectrum = False
        self._rate_warned = False
        self._undecoded_segments = 0  # segments with candidates and no decode, none ever
        self._rate_hinted = False
        self._warmed = threading.Event()  # the receiver's kernels are loaded
        self._caught_up = False  # ... and the samples queued meanwhile are down to QUEUE_S
        self.warm_up_s: float | None = None  # how long loading them took (health)

    # -- what a kind implements ---------------------------------------------------------------

    def chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        """Sample chunks until ``stop`` or the end of the input (then return)."""
        raise NotImplementedError

    # -- the stream ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        # The stream is read at once; the first DSP worker loads the receiver's kernels
        # (warm_up: ~0.4 s of CPU) while the first samples wait in the bounded queue.
        self._stop_flag = stop
        workers = [threading.Thread(target=self._work, args=(k,), daemon=True,
                                    name=f"dronewatch-dsp{k}-{self.name}")
                   for k in range(self.workers)]
        for w in workers:
            w.start()
        ended = False
        try:
            for chunk in self.chunks(stop):
                self._offer(chunk)
                if stop.is_set():
                    break
            else:
                ended = not stop.is_set()
        finally:
            self._dispatch(final=True)  # what the input ended with
            self._lead = None
            self._pending_gap = True  # a new run (reconnect) starts a new epoch
            self._wq.put(None)
            for w in workers:
                while w.is_alive():
                    w.join(POLL_S)
                    if stop.is_set():
                        break
            while not self._wq.empty():  # the end marker (workers gone)
                with contextlib.suppress(queue.Empty):
                    self._wq.get_nowait()
        if ended:
            raise SourceEnded

    def _offer(self, chunk: IQChunk) -> None:
        """Number the chunk's samples and add them to the segment being filled."""
        n = len(chunk)
        if chunk.overflow:
            self.overflows += 1
        if chunk.dropped_before > 0:
            self.dropped_samples += chunk.dropped_before
            self.samples += chunk.dropped_before
            self._pending_gap = True
        if chunk.gap:
            self.gaps += 1
            self._pending_gap = True
        if chunk.skipped_before > 0:
            self.samples += chunk.skipped_before
            self.samples_skipped += chunk.skipped_before
            self._pending_gap = True
        if n:
            self._last_mono = time.monotonic()
        if self._start_wall is None and n:
            self._start_wall = time.time() - n / self.sample_rate
            self._first_mono = self._last_mono
        if chunk.center_freq_hz is not None and chunk.center_freq_hz != self.center_freq_hz:
            self.center_freq_hz = chunk.center_freq_hz
            self._pending_gap = True  # a retune starts a new receiver epoch
        if n == 0:
            return
        if self._pending_gap:  # the samples before the hole end their segment and epoch
            self._dispatch(final=True)
            self._lead = None
            self._pending_gap = False
        if self._parts_len == 0:
            self._seg_start = self.samples
            self._seg_centre = self.center_freq_hz
        self.samples += n
        self.samples_received += n
        done = 0
        while done < n:
            take = min(n - done, self._seg_len - self._parts_len)
            if self._fill is None:
                self._fill = self._take_buffer()
            at = self._lead_len + self._parts_len
            dst = self._fill[at : at + take]
            if chunk.raw is not None and chunk.raw_format is not None:
                # (numpy until the DSP worker has loaded the compiled kernels: the reader
                # never waits for the compiler)
                chunk.raw_format.convert_into(chunk.raw[2 * done : 2 * (done + take)], dst,
                                              compiled=self._warmed.is_set())
            else:
                dst[:] = chunk.samples[done : done + take]
            self._parts_len += take
            done += take
            if self._parts_len >= self._seg_len:
                self._dispatch(final=False)
                if done < n:
                    self._seg_start = self.samples - (n - done)
                    self._seg_centre = self.center_freq_hz

    def _dispatch(self, final: bool) -> None:
        """Queue the filled segment (with the previous one's tail) or drop it, counted."""
        if self._parts_len == 0 or self._fill is None:
            return
        buf, n = self._fill, self._parts_len
        self._fill, self._parts_len = None, 0
        lead = 0
        if self._lead is not None:
            lead = len(self._lead)
            buf[self._lead_len - lead : self._lead_len] = self._lead
        seg = _Segment(self._seq, buf, lead, n, self._seg_start, self._seg_centre, final,
                       self._lead_len)
        self._seq += 1
        # Its tail leads the next segment in: a burst across the boundary is whole there.
        body = buf[self._lead_len : self._lead_len + n]
        self._lead = None if final else body[-self._lead_len :].copy()
        if self.backpressure:
            while self._wq_samples > 0 and self._wq_samples + n > self._queue_limit():
                if self._stop_flag is not None and self._stop_flag.is_set():
                    break
                time.sleep(0.002)
        with self._lock:
            full = self._wq_samples + n > self._queue_limit() and self._wq_samples > 0
            if not full:
                self._wq_samples += n
        if full:  # the DSP fell behind: drop this segment whole, counted
            self.blocks_dropped += 1
            self.dropped_samples += n
            self._give_buffer(buf)
            self._finished(seg.seq, [])
            return
        self._wq.put(seg)

    def _queue_limit(self) -> int:
        """The warm-up's larger queue holds until the workers have caught up with what piled
        up meanwhile (shrinking it at once would drop the next segments)."""
        if self._caught_up:
            return self._wq_max
        if self._warmed.is_set() and self._wq_samples <= self._wq_max:
            self._caught_up = True
            return self._wq_max
        return self._wq_max_warm

    def _take_buffer(self) -> npt.NDArray[np.complex64]:
        with self._lock:
            if self._pool:
                return self._pool.pop()
        return np.empty(self._lead_len + self._seg_len, np.complex64)

    def _give_buffer(self, buf: npt.NDArray[np.complex64]) -> None:
        """A segment's buffer is free again (at most the segments in flight are kept)."""
        with self._lock:
            if len(self._pool) < self._pool_max:
                self._pool.append(buf)  # (beyond: the warm-up's extra buffers are freed)

    def _work(self, k: int) -> None:
        """A DSP worker: one receiver per segment (the workers share the queue)."""
        cpu0 = time.thread_time()
        try:
            if k == 0:
                t0 = time.monotonic()
                try:
                    from dronewatch.phy.ocusync.receiver import warm_up

                    warm_up()  # kernels loaded before the first segment, not during a burst
                    self.warm_up_s = time.monotonic() - t0
                finally:
                    self._warmed.set()  # (a failure shows in the segments' decoding)
            else:
                while not self._warmed.wait(POLL_S):
                    if self._stop_flag is not None and self._stop_flag.is_set():
                        return
            from dronewatch.phy.ocusync.receiver import Receiver

            while True:
                seg = self._wq.get()
                if seg is None:
                    self._wq.put(None)  # for the other workers
                    return
                x = seg.samples
                if not self._checked_spectrum:
                    self._check_spectrum(x[seg.lead :])
                rx = Receiver(self.sample_rate, center_freq_hz=seg.centre)
                results = rx.run(x)  # in place: no copy of the segment
                if (rx.stats.candidates and not self.bursts and not self._rate_hinted
                        and not any(r.crc_ok for r in results)):
                    self._hint_rate(x, seg.centre)
                # Each burst start belongs to exactly one segment: [start - edge, end - edge)
                # (the last of an epoch to its end); its tail's bursts are whole in the next.
                edge = int(EDGE_S * self.sample_rate)
                base = seg.start - seg.lead
                lo = seg.start - edge if seg.lead else seg.start
                hi = seg.start + seg.body - (0 if seg.final else edge)
                mine = [r for r in results if lo <= base + r.sample_offset < hi]
                frames = self._frames(mine, base, seg.centre)
                del x
                self._give_buffer(seg.buf)
                with self._lock:
                    self._wq_samples -= seg.body
                    self._zeroed += rx.stats.samples_zeroed
                self._finished(seg.seq, frames)
                self._cpu[k] = time.thread_time() - cpu0
        except Exception as exc:  # a bug in the DSP must show, not kill the source silently
            self.failed(f"DSP worker: {exc.__class__.__name__}: {exc}")
            raise
        finally:
            self._cpu[k] = time.thread_time() - cpu0

    def _finished(self, seq: int, frames: list[Frame]) -> None:
        """Emit segments' frames in stream order (workers finish out of order)."""
        with self._lock:
            self._done[seq] = frames
            ready: list[Frame] = []
            while self._next_emit in self._done:
                ready += self._done.pop(self._next_emit)
                self._next_emit += 1
            if ready:
                self.bursts += len(ready)
                for f in ready:
                    self.heard(f)
                self.emit(ready)

    def _frames(self, results: list[Any], base: int, centre: float | None) -> list[Frame]:
        from dronewatch.sources.iq import burst_frame

        frames: list[Frame] = []
        start = self._start_wall or 0.0
        for r in results:
            self.stats.packets_read += 1
            if not r.crc_ok or r.payload is None:
                self.crc_failed += 1
                self.stats.skip("dji-ocusync: crc")
                continue
            index = base + r.sample_offset
            frames.append(burst_frame(r, start + index / self.sample_rate, centre,
                                      self.sensor_id, sample_offset=index))
        return frames

    def heard(self, frame: Frame) -> None:
        """A burst was decoded (a hopping source stays longer where drones are)."""

    def _check_spectrum(self, x: npt.NDArray[np.complex64]) -> None:
        """Warn once when the first samples look like a wrong --iq-format."""
        if len(x) < 4096:
            return
        self._checked_spectrum = True
        for warning in spectrum_warnings(x[: 1 << 16], self.integer_samples):
            self.warn(warning)

    def _hint_rate(self, x: npt.NDArray[np.complex64], centre: float | None) -> None:
        """Warn when the bursts of a segment that decoded nothing decode at another common
        SDR rate (tried on a few such segments while nothing at all has decoded)."""
        from dronewatch.phy.ocusync.receiver import rate_hint, rate_hint_warning

        with self._lock:
            self._undecoded_segments += 1
            if self._undecoded_segments not in RATE_HINT_AT:
                return
        rate = rate_hint(x, self.sample_rate, center_freq_hz=centre)
        if rate is not None:
            self._rate_hinted = True
            self.warn(rate_hint_warning(rate, self.sample_rate))

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self.failed(message)

    @property
    def samples_zeroed(self) -> int:
        return self._zeroed

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu.values())

    def detail(self) -> dict[str, Any]:
        seconds = self.samples / self.sample_rate
        out: dict[str, Any] = {
            "sample_rate_hz": self.sample_rate,
            "center_freq_hz": self.center_freq_hz,
            "samples": self.samples,
            "seconds": round(seconds, 3),
            "dropped_samples": self.dropped_samples,
            "blocks_dropped": self.blocks_dropped,
            "overflows": self.overflows,
            "gaps": self.gaps,
            "samples_skipped": self.samples_skipped,
            "samples_zeroed": self.samples_zeroed,
            "bursts": self.bursts,
            "crc_failed": self.crc_failed,
            "dsp_cpu_s": round(self.cpu_s, 3),
            "queued_samples": self._wq_samples,
            "warm_up_s": None if self.warm_up_s is None else round(self.warm_up_s, 3),
        }
        if self._first_mono is not None:
            now = time.monotonic()
            silent = now - self._last_mono
            if silent > STALL_S and self.state is SourceState.RUNNING:
                # A stream that stopped (a flowgraph that ended: ZMQ has no end marker, an
                # unplugged device, a lost connection) is not a slow one.
                out["silent_s"] = round(silent, 1)
                self.warn(
                    f"no samples for more than {STALL_S:g} s: the stream stopped or stalled "
                    "(a flowgraph that ended, a device unplugged, a connection lost)"
                )
            # The arrival rate while samples flowed: a wrong rate or format.
            wall = self._last_mono - self._first_mono
            if wall > 0:
                out["arrival_rate_sps"] = round(self.samples_received / wall)
            if (wall > RATE_CHECK_S and not self._rate_warned and not self.backpressure
                    and self.samples_received < 0.8 * self.sample_rate * wall):
                self._rate_warned = True
                self.warn(
                    f"samples arrive at {self.samples_received / wall / 1e6:.2f} MS/s, slower "
                    f"than the {self.sample_rate / 1e6:g} MS/s --sample-rate says (a wrong "
                    "rate or format): burst times drift"
                )
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def spectrum_warnings(x: npt.NDArray[np.complex64], integer: bool = True) -> list[str]:
    """What the first samples say about a wrong ``--iq-format`` (pure, for tests).
    ``integer``: the samples were integers scaled to +-1 (their full scale is known)."""
    out: list[str] = []
    finite = np.isfinite(x.real) & np.isfinite(x.imag)
    if finite.mean() < 0.99:
        out.append("many samples are NaN/Inf: is --iq-format right (cf32 vs ci16)?")
        return out
    mag = np.abs(x[finite])
    if mag.size == 0 or not np.any(mag):
        return out
    if np.max(mag) > 1e6:
        out.append("sample values are huge: is --iq-format right (float read as integers?)")
        return out
    if integer:
        comp = np.abs(x[finite].view(np.float32))
        if float(np.median(comp)) > 0.6:
            out.append(
                "most samples sit near full scale: unsigned samples (cu8, rtl-sdr) read as "
                "signed (ci8), or the reverse? check --iq-format"
            )
            return out
    rms = float(np.sqrt(np.mean(mag**2)))
    dc = float(np.abs(np.mean(x[finite])))
    if dc > 0.7 * rms:
        out.append(
            "most of the power is at 0 Hz (a DC offset): unsigned samples (cu8, rtl-sdr) "
            "read as signed, or the reverse? check --iq-format"
        )
    return out


# -- raw IQ on stdin, a FIFO or TCP --------------------------------------------------------------


def stream_rate(extra: Any) -> float | None:
    """A stream's sample rate: ``--sample-rate`` (decode) or ``--sdr-rate`` (serve, sensor)."""
    rate = extra.get("sample_rate_hz") or extra.get("sdr_rate_hz")
    return None if rate is None else float(rate)


def stream_centre(extra: Any) -> float | None:
    """A stream's centre: ``--center-freq``, or the one ``--sdr-channels`` value given."""
    centre = extra.get("center_freq_hz")
    if centre is None:
        channels: list[float] = list(extra.get("sdr_channels") or [])
        if len(channels) == 1:
            centre = channels[0]
    return None if centre is None else float(centre)


class _Decoder:
    """Bytes -> complex64, keeping a partial sample for the next read."""

    def __init__(self, fmt: Any) -> None:
        self.fmt = fmt
        self._rest = b""

    def feed(self, data: bytes | memoryview) -> npt.NDArray[np.complex64]:
        out: npt.NDArray[np.complex64] = self.fmt.convert(self.components(data))
        return out

    def chunk(self, data: bytes | memoryview, **kw: Any) -> IQChunk:
        """The whole samples of ``data`` (and what was left over before) as a chunk of raw
        components, converted when the stream copies them into a segment."""
        return IQChunk(NO_SAMPLES, raw=self.components(data), raw_format=self.fmt, **kw)

    def components(self, data: bytes | memoryview) -> npt.NDArray[Any]:
        if self._rest:
            data = self._rest + bytes(data)
        size = self.fmt.sample_bytes
        whole = len(data) // size * size
        self._rest = bytes(data[whole:])  # (a copy: ``data`` may be a reused buffer)
        count = whole // self.fmt.component.itemsize
        return np.frombuffer(data, dtype=self.fmt.component, count=count)

    @property
    def pending(self) -> int:
        return len(self._rest)


class RawIQSource(IQStreamSource):
    """Raw interleaved IQ from stdin (``-``), a FIFO/file path or ``tcp://HOST:PORT``."""

    retry = False  # a pipe that closed does not come back

    def __init__(self, target: str, options: LiveOptions) -> None:
        from dronewatch.errors import Unsupported
        from dronewatch.sources.iq import raw_format

        extra = options.extra
        fmt_name = extra.get("iq_format") or extra.get("sdr_format")
        rate = stream_rate(extra)
        if not fmt_name:
            raise ValueError(f"IQ stream {target!r}: needs --iq-format (ci16, cf32, cu8, ci8...)"
                             " (serve/sensor: --sdr-format)")
        if rate is None:
            raise ValueError(f"IQ stream {target!r}: needs --sample-rate (serve/sensor: "
                             "--sdr-rate)")
        try:
            self.fmt = raw_format(str(fmt_name))
        except Unsupported as exc:
            raise ValueError(str(exc)) from exc
        self.tcp: tuple[str, int] | None = None
        if target.startswith("tcp://"):
            from dronewatch.sources.stream import parse_tcp_target

            self.tcp = parse_tcp_target(target)
            name = target
        elif not target:
            raise ValueError("IQ stream: expected iq:-, iq:PATH or iq:tcp://HOST:PORT")
        else:
            name = "stdin" if target == "-" else target
        super().__init__(name, options, float(rate), stream_centre(extra))
        self.integer_samples = self.fmt.component.kind in "iu"
        self.target = target
        self.bytes_read = 0
        self.connections = 0

    def detail(self) -> dict[str, Any]:
        return {**super().detail(), "bytes": self.bytes_read, "format": self.fmt.datatype}

    def chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        if self.tcp is not None:
            yield from self._tcp_chunks(stop)
        else:
            yield from self._file_chunks(stop)

    def _file_chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        from dronewatch.sources.stream import fd_reads_into, open_input

        fd, own = open_input(self.target, "an IQ stream")
        with contextlib.suppress(OSError):  # a larger pipe buffer: fewer, larger reads
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
        dec = _Decoder(self.fmt)
        buf = bytearray(READ_BYTES)  # reused: each chunk is taken in before the next read
        try:
            for data in fd_reads_into(fd, stop, buf):
                self.bytes_read += len(data)
                yield dec.chunk(data)
        finally:
            if own:
                os.close(fd)

    def _tcp_chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        from dronewatch.sources.stream import connect_tcp, socket_reads

        assert self.tcp is not None
        sock = connect_tcp(*self.tcp, self.name)
        self.connections += 1
        dec = _Decoder(self.fmt)
        first = True
        try:
            for data in socket_reads(sock, stop, READ_BYTES):
                self.bytes_read += len(data)
                # a new connection: samples between the two are lost (how many is unknown)
                yield dec.chunk(data, gap=first and self.connections > 1)
                first = False
            if not stop.is_set():
                raise SourceError(f"{self.name} closed the stream; connecting again")
        finally:
            sock.close()


class RawIQTcpSource(RawIQSource):
    """Raw IQ over TCP: connected again when the stream closes (a counted gap)."""

    retry = True


def open_source(target: str, options: LiveOptions) -> LiveSource:
    """``iq:-`` (stdin), ``iq:PATH`` (a FIFO) or ``iq:tcp://HOST:PORT``: raw IQ."""
    if target.startswith("tcp://"):
        return RawIQTcpSource(target, options)
    return RawIQSource(target, options)
