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
  never holds up an SDR driver or a pipe) and handed to a DSP worker thread through a queue
  of at most ``QUEUE_S`` seconds of samples. When the worker falls behind, whole chunks are
  dropped and counted (``dropped_samples``, ``blocks_dropped``): never hidden, memory bounded.
* **Receiver epochs.** After a loss or a retune the receiver is flushed and started again at
  the new stream index (a burst cannot straddle a hole or a frequency change).
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
import select
import socket
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from dronewatch.model import Frame
from dronewatch.sources.live import (
    LiveOptions,
    LiveSource,
    SourceEnded,
    SourceError,
    SourceFatal,
)

QUEUE_S = 0.3  # seconds of samples waiting for the DSP worker, at most
READ_BYTES = 1 << 22
F_SETPIPE_SZ = 1031  # fcntl (Linux)
PIPE_BYTES = 1 << 20
POLL_S = 0.25
CONNECT_TIMEOUT_S = 5.0
RATE_CHECK_S = 5.0  # arrival rate compared with the sample rate after this long


@dataclass(slots=True)
class IQChunk:
    """Samples in stream order, and what happened just before them."""

    samples: npt.NDArray[np.complex64]
    dropped_before: int = 0  # samples known to be lost just before this chunk
    gap: bool = False  # samples were lost before this chunk, how many is unknown
    center_freq_hz: float | None = None  # the centre from this chunk on (None: unchanged)
    overflow: bool = False  # the device reported an overflow (counted)
    skipped_before: int = 0  # samples read but deliberately not analysed (retune settling)


@dataclass(slots=True)
class _Work:
    samples: npt.NDArray[np.complex64]
    index: int  # stream index of samples[0]
    new_epoch: bool
    center_freq_hz: float | None


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
        from dronewatch.phy.ocusync.receiver import MAX_SAMPLE_RATE_HZ

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
        self.cpu_s = 0.0  # DSP worker CPU time
        self._start_wall: float | None = None  # UTC time of stream index 0
        self._first_mono: float | None = None
        self._wq: queue.Queue[_Work | None] = queue.Queue()
        self._wq_samples = 0  # samples in the work queue
        self._wq_max = int(QUEUE_S * self.sample_rate)
        self._lock = threading.Lock()
        self._pending_gap = False
        self._rx: Any = None  # the current receiver (an epoch)
        self._epoch_base = 0
        self._epoch_centre: float | None = center_freq_hz
        self._zeroed_before = 0  # samples zeroed by receivers of earlier epochs
        self._checked_spectrum = False
        self._rate_warned = False

    # -- what a kind implements ---------------------------------------------------------------

    def chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        """Sample chunks until ``stop`` or the end of the input (then return)."""
        raise NotImplementedError

    # -- the stream ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        from dronewatch.phy.ocusync.receiver import warm_up

        warm_up()  # the kernels, before the first samples (not while they pile up)
        self._stop_flag = stop
        worker = threading.Thread(target=self._work, name=f"dronewatch-dsp-{self.name}",
                                  daemon=True)
        worker.start()
        ended = False
        try:
            for chunk in self.chunks(stop):
                self._offer(chunk)
                if stop.is_set():
                    break
            else:
                ended = not stop.is_set()
        finally:
            self._pending_gap = True  # a new run (reconnect) starts a new epoch
            self._wq.put(None)
            while worker.is_alive():
                worker.join(POLL_S)
                if stop.is_set():
                    break
        if ended:
            raise SourceEnded

    def _offer(self, chunk: IQChunk) -> None:
        """Number the chunk and queue it for the worker, or drop it (counted)."""
        n = len(chunk.samples)
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
        if self._start_wall is None and n:
            self._start_wall = time.time() - n / self.sample_rate
            self._first_mono = time.monotonic()
        if chunk.center_freq_hz is not None and chunk.center_freq_hz != self.center_freq_hz:
            self.center_freq_hz = chunk.center_freq_hz
            self._pending_gap = True  # a retune starts a new receiver epoch
        if n == 0:
            return
        index = self.samples
        self.samples += n
        self.samples_received += n
        if self.backpressure:
            while self._wq_samples > 0 and self._wq_samples + n > self._wq_max:
                if self._stop_flag is not None and self._stop_flag.is_set():
                    return
                time.sleep(0.002)
        with self._lock:
            full = self._wq_samples + n > self._wq_max and self._wq_samples > 0
            if not full:
                self._wq_samples += n
        if full:  # the DSP fell behind: drop this chunk whole, counted
            self.blocks_dropped += 1
            self.dropped_samples += n
            self._pending_gap = True
            return
        self._wq.put(_Work(chunk.samples, index, self._pending_gap, self.center_freq_hz))
        self._pending_gap = False

    def _work(self) -> None:
        """The DSP worker: receiver epochs over the queued chunks."""
        cpu0 = time.thread_time()
        try:
            while True:
                work = self._wq.get()
                if work is None:
                    self._end_epoch()
                    return
                with self._lock:
                    self._wq_samples -= len(work.samples)
                if self._rx is None or work.new_epoch:
                    self._end_epoch()
                    self._new_epoch(work.index, work.center_freq_hz)
                if not self._checked_spectrum:
                    self._check_spectrum(work.samples)
                self._emit_results(self._rx.feed(work.samples))
                self.cpu_s = time.thread_time() - cpu0
        except Exception as exc:  # a bug in the DSP must show, not kill the source silently
            self.failed(f"DSP worker: {exc.__class__.__name__}: {exc}")
            raise
        finally:
            self.cpu_s = time.thread_time() - cpu0

    def _new_epoch(self, index: int, centre: float | None) -> None:
        from dronewatch.phy.ocusync.receiver import Receiver

        self._rx = Receiver(self.sample_rate, center_freq_hz=centre)
        self._epoch_base = index
        self._epoch_centre = centre

    def _end_epoch(self) -> None:
        if self._rx is not None:
            self._emit_results(self._rx.flush())
            self._zeroed_before += self._rx.stats.samples_zeroed
            self._rx = None

    def _emit_results(self, results: list[Any]) -> None:
        from dronewatch.sources.iq import burst_frame

        frames: list[Frame] = []
        start = self._start_wall or 0.0
        for r in results:
            self.stats.packets_read += 1
            if not r.crc_ok or r.payload is None:
                self.crc_failed += 1
                self.stats.skip("dji-ocusync: crc")
                continue
            index = self._epoch_base + r.sample_offset
            frames.append(burst_frame(r, start + index / self.sample_rate, self._epoch_centre,
                                      self.sensor_id, sample_offset=index))
        if frames:
            self.bursts += len(frames)
            for f in frames:
                self.heard(f)
            self.emit(frames)

    def heard(self, frame: Frame) -> None:
        """A burst was decoded (a hopping source stays longer where drones are)."""

    def _check_spectrum(self, x: npt.NDArray[np.complex64]) -> None:
        """Warn once when the first samples look like a wrong --iq-format."""
        if len(x) < 4096:
            return
        self._checked_spectrum = True
        for warning in spectrum_warnings(x[: 1 << 16], self.integer_samples):
            self.warn(warning)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self.failed(message)

    @property
    def samples_zeroed(self) -> int:
        rx = self._rx
        return self._zeroed_before + (rx.stats.samples_zeroed if rx is not None else 0)

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
        }
        if self._first_mono is not None:
            wall = time.monotonic() - self._first_mono
            if wall > 0:
                out["arrival_rate_sps"] = round(self.samples_received / wall)
            if (wall > RATE_CHECK_S and not self._rate_warned and not self.backpressure
                    and self.samples_received < 0.8 * self.sample_rate * wall):
                self._rate_warned = True
                self.warn(
                    f"samples arrive at {self.samples_received / wall / 1e6:.2f} MS/s, slower "
                    f"than the {self.sample_rate / 1e6:g} MS/s --sample-rate says (a wrong "
                    "rate or format, or a stalled source): burst times drift"
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


class _Decoder:
    """Bytes -> complex64, keeping a partial sample for the next read."""

    def __init__(self, fmt: Any) -> None:
        self.fmt = fmt
        self._rest = b""

    def feed(self, data: bytes) -> npt.NDArray[np.complex64]:
        if self._rest:
            data = self._rest + data
        size = self.fmt.sample_bytes
        whole = len(data) // size * size
        self._rest = data[whole:]
        count = whole // self.fmt.component.itemsize
        raw = np.frombuffer(data, dtype=self.fmt.component, count=count)
        out: npt.NDArray[np.complex64] = self.fmt.convert(raw)
        return out

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
        fmt_name = extra.get("iq_format")
        rate = extra.get("sample_rate_hz")
        if not fmt_name:
            raise ValueError(f"IQ stream {target!r}: needs --iq-format (ci16, cf32, cu8, ci8...)")
        if rate is None:
            raise ValueError(f"IQ stream {target!r}: needs --sample-rate")
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
        super().__init__(name, options, float(rate), extra.get("center_freq_hz"))
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
        own = self.target != "-"
        if own:
            try:
                mode = os.stat(self.target).st_mode
            except FileNotFoundError:
                raise SourceFatal(f"{self.target}: no such file or FIFO") from None
            if stat.S_ISDIR(mode):
                raise SourceFatal(f"{self.target}: is a directory, not an IQ stream")
            try:
                fd = os.open(self.target, os.O_RDONLY | os.O_NONBLOCK)
            except PermissionError:
                raise SourceFatal(f"{self.target}: permission denied") from None
        else:
            fd = sys.stdin.fileno()
        with contextlib.suppress(OSError):  # a larger pipe buffer: fewer, larger reads
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
        dec = _Decoder(self.fmt)
        try:
            while not stop.is_set():
                ready, _, _ = select.select([fd], [], [], POLL_S)
                if not ready:
                    continue
                try:
                    data = os.read(fd, READ_BYTES)
                except BlockingIOError:
                    continue
                if not data:
                    return
                self.bytes_read += len(data)
                yield IQChunk(dec.feed(data))
        finally:
            if own:
                os.close(fd)

    def _tcp_chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        assert self.tcp is not None
        try:
            sock = socket.create_connection(self.tcp, timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise SourceError(f"cannot connect to {self.name}: {exc.strerror or exc}") from exc
        self.connections += 1
        dec = _Decoder(self.fmt)
        first = True
        try:
            sock.settimeout(POLL_S)
            while not stop.is_set():
                try:
                    data = sock.recv(READ_BYTES)
                except TimeoutError:
                    continue
                if not data:
                    raise SourceError(f"{self.name} closed the stream; connecting again")
                self.bytes_read += len(data)
                # a new connection: samples between the two are lost (how many is unknown)
                yield IQChunk(dec.feed(data), gap=first and self.connections > 1)
                first = False
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
