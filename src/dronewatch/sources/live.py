"""Live sources: receivers that run until stopped (interfaces, controllers, streams, brokers).

The one contract that ``serve``, ``sensor`` and ``decode`` take for live input. A
:class:`LiveSource` owns a receiver thread that runs its :meth:`LiveSource.run` and hands
frames, in :class:`FrameBatch` es, to a bounded queue; the consumer takes them with
:meth:`LiveSource.get` (or, over several sources, :meth:`LiveSet.get`).

* **Backpressure, never silent loss.** When the consumer falls behind, the queue fills. A
  source that cannot make its sender wait (a radio, a socket the kernel would drop from
  silently) drops the batch and counts its frames in ``drops``. A source whose sender keeps
  what it has not acknowledged (``lossless = True``: an MQTT broker with a persistent session)
  blocks instead, so the backpressure reaches the sender.
* **Acknowledgement after commit.** A batch may carry ``ack``: the consumer calls it once what
  the batch's frames produced is durably stored (or, for a consumer that stores nothing, once
  it has been handled). It is called at most once, in the order the batches were queued. A
  batch may also carry a ``key`` (:class:`BatchKey`: sensor, session, sequence number) that
  names it across redeliveries: the consumer stores a keyed batch once, however often it
  comes. A consumer that lost batches it took (a thread died) calls :meth:`LiveSource.resync`:
  a source whose sender keeps what is unacknowledged has it delivered again.
* **Failures are reported and retried.** ``run`` raising (device gone, socket closed) sets the
  state to ``retrying`` with the error in ``last_error``; it is called again after an
  exponential backoff (``BACKOFF_MIN_S`` .. ``BACKOFF_MAX_S``) until the source is stopped.
  :class:`SourceFatal` stops it for good (``failed``: permissions, a wrong interface type:
  retrying cannot help, the message says how to fix it); :class:`SourceEnded` or a normal
  return means the input ended (stdin closed, a file finished): state ``ended``.

Each kind of source is one module, registered in one line in ``_KINDS`` below; the module
defines ``open_source(target, options) -> LiveSource``. :func:`open_live` takes a spec
``KIND:TARGET`` (``wifi:wlan1``, ``bluetooth:hci0``, ``stream:-``, ``tcp://host:port``...).
"""

from __future__ import annotations

import enum
import importlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from dronewatch.model import Frame
from dronewatch.sources.sensors import SensorBook
from dronewatch.stats import DecodeStats

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
QUEUE_BATCHES = 1024  # batches waiting for the consumer, per source, at most
RATE_WINDOW_S = 10.0  # frames/s in health is averaged over this long


class SourceError(Exception):
    """A live source failed; it will be retried (device gone, connection reset...)."""


class SourceFatal(SourceError):
    """A live source cannot work and retrying will not help; the message says how to fix it."""


class SourceEnded(Exception):  # not an error: the input is over
    """The source's input is over (stdin closed, end of a file)."""


class SourceState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RETRYING = "retrying"  # failed, waiting to try again
    ENDED = "ended"  # the input is over
    FAILED = "failed"  # cannot work (SourceFatal)
    STOPPED = "stopped"


class BatchKey(NamedTuple):
    """A batch's name for ever: its sensor, the sensor's session (one per run) and the
    batch's number in that session. Redelivered, it is the same batch."""

    sensor: str
    session: str
    seq: int


@dataclass(slots=True)
class FrameBatch:
    """Frames received together, with what to call once they are handled (see module doc)."""

    frames: list[Frame]
    source: str = ""  # the name of the source that received them
    ack: Callable[[], None] | None = None
    key: BatchKey | None = None  # stored once however often it is delivered


@dataclass(slots=True)
class SourceHealth:
    """A snapshot of one source's state and counters (``/health``, a sensor's status)."""

    name: str
    kind: str
    state: SourceState
    frames: int  # frames delivered to the queue
    drops: int  # frames dropped because the consumer fell behind
    errors: int  # failures of run() (each retried or fatal)
    restarts: int
    frames_per_s: float
    last_frame_age_s: float | None  # seconds since the last frame, None before the first
    last_error: str | None
    queued: int  # batches waiting for the consumer
    queue_max: int = QUEUE_BATCHES
    last_drop_age_s: float | None = None  # seconds since the last drop
    skipped: dict[str, int] = field(default_factory=dict)  # link-layer skips by reason
    detail: dict[str, Any] = field(default_factory=dict)  # kind-specific (channel, PHYs...)

    @property
    def ok(self) -> bool:
        return self.state in (SourceState.STARTING, SourceState.RUNNING, SourceState.ENDED)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state.value,
            "frames": self.frames,
            "drops": self.drops,
            "errors": self.errors,
            "restarts": self.restarts,
            "frames_per_s": round(self.frames_per_s, 2),
            "last_frame_age_s": (
                None if self.last_frame_age_s is None else round(self.last_frame_age_s, 3)
            ),
            "last_error": self.last_error,
            "queued": self.queued,
            "queue_max": self.queue_max,
            "skipped": dict(self.skipped),
            "detail": dict(self.detail),
        }


class LiveSource:
    """Base of every live source. Subclasses set ``kind`` and implement :meth:`run`.

    ``run(stop)`` receives until ``stop`` is set (return) or the input ends (return, or raise
    ``SourceEnded``), handing frames to :meth:`emit`; it raises on failure (see module doc).
    It should come back to check ``stop`` at least every ``0.25`` s (socket timeouts) so that
    :meth:`stop` is prompt. Link-layer skips go to ``self.stats`` (a ``DecodeStats``).
    """

    kind: ClassVar[str] = "live"
    lossless: ClassVar[bool] = False  # the sender redelivers: block on a full queue, never drop
    retry: ClassVar[bool] = True  # call run() again after a failure

    def __init__(
        self, name: str, *, queue_batches: int = QUEUE_BATCHES, stats: DecodeStats | None = None
    ) -> None:
        self.name = name
        self.stats = stats if stats is not None else DecodeStats()
        self.book = SensorBook()  # per-sensor counters; a LiveSet shares one among its sources
        self.state = SourceState.STARTING
        self.frames = 0
        self.drops = 0
        self.errors = 0
        self.restarts = 0
        self.last_error: str | None = None
        self.last_drop_at: float | None = None  # monotonic time of the last drop
        self._queue: deque[FrameBatch] = deque()
        self._queue_max = queue_batches
        self._cond = threading.Condition()
        self._notify: Callable[[], None] | None = None  # the LiveSet waiting on us
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_frame_mono: float | None = None
        self._rate: deque[tuple[float, int]] = deque()  # (monotonic, frames) per emit

    # -- what a subclass implements -------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        raise NotImplementedError

    def detail(self) -> dict[str, Any]:
        """Kind-specific health (current channel, controller capabilities...)."""
        return {}

    def close(self) -> None:
        """Release what ``run`` holds, from another thread, to make it return (optional)."""

    def resync(self) -> None:
        """The consumer lost batches it had taken (not acknowledged): have the sender deliver
        again what is unacknowledged, if it can (a broker session). Called from any thread."""

    # -- what a subclass calls ------------------------------------------------------------

    def emit(
        self,
        frames: list[Frame],
        ack: Callable[[], None] | None = None,
        *,
        key: BatchKey | None = None,
        in_order: bool = False,
    ) -> bool:
        """Queue ``frames`` for the consumer; ``False`` if they were dropped (counted).

        A lossless source waits for room instead (until stopped: then ``False``). With no
        frames, ``ack`` is called at once, unless ``in_order``: then the empty batch is queued
        so that its ``ack`` comes after those of the batches before it (a redelivered message
        whose first delivery is still on its way to the store).
        """
        if not frames and not in_order and key is None:
            if ack is not None:
                ack()
            return True
        batch = FrameBatch(frames, self.name, ack, key)
        with self._cond:
            while len(self._queue) >= self._queue_max:
                if not self.lossless:
                    self.drops += len(frames)
                    self.last_drop_at = time.monotonic()
                    return False
                if self._stop.is_set():
                    return False
                self._cond.wait(0.25)
            self._queue.append(batch)
            now = time.monotonic()
            self.frames += len(frames)
            self._last_frame_mono = now
            self._rate.append((now, len(frames)))
            self._cond.notify_all()
        if self.state is not SourceState.RUNNING:
            self.state = SourceState.RUNNING
        notify = self._notify
        if notify is not None:
            notify()
        return True

    def failed(self, message: str) -> None:
        """Record a failure that ``run`` handles itself (it goes on receiving)."""
        self.errors += 1
        self.last_error = message
        log.warning("%s: %s", self.name, message)

    # -- lifecycle and consumer -----------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._main, name=f"dronewatch-source-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop receiving and wait for the thread (what is queued stays readable)."""
        self._stop.set()
        try:
            self.close()
        except Exception:  # closing a broken device must not break shutdown
            log.debug("%s: close failed", self.name, exc_info=True)
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.state not in (SourceState.ENDED, SourceState.FAILED):
            self.state = SourceState.STOPPED

    @property
    def done(self) -> bool:
        """The thread is over (ended, failed or stopped) and nothing is left in the queue."""
        finished = self._thread is not None and not self._thread.is_alive()
        return finished and not self._queue

    def get(self, timeout: float | None = None) -> FrameBatch | None:
        """The next batch, waiting up to ``timeout`` s; ``None`` if there is none."""
        with self._cond:
            if not self._queue and timeout:
                self._cond.wait(timeout)
            if not self._queue:
                return None
            batch = self._queue.popleft()
            self._cond.notify_all()  # room for a waiting lossless receiver
            return batch

    def __iter__(self) -> Iterator[FrameBatch]:
        """Batches until the source is done (a consumer that owns only this source)."""
        while True:
            batch = self.get(0.25)
            if batch is not None:
                yield batch
            elif self.done:
                return

    def health(self) -> SourceHealth:
        now = time.monotonic()
        with self._cond:
            while self._rate and now - self._rate[0][0] > RATE_WINDOW_S:
                self._rate.popleft()
            recent = sum(n for _, n in self._rate)
            queued = len(self._queue)
        last = self._last_frame_mono
        return SourceHealth(
            name=self.name,
            kind=self.kind,
            state=self.state,
            frames=self.frames,
            drops=self.drops,
            errors=self.errors,
            restarts=self.restarts,
            frames_per_s=recent / RATE_WINDOW_S,
            last_frame_age_s=None if last is None else now - last,
            last_error=self.last_error,
            queued=queued,
            queue_max=self._queue_max,
            last_drop_age_s=None if self.last_drop_at is None else now - self.last_drop_at,
            skipped=dict(self.stats.skipped),
            detail=self.detail(),
        )

    def _main(self) -> None:
        delay = BACKOFF_MIN_S
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.run(self._stop)
            except SourceEnded:
                self.state = SourceState.ENDED
                break
            except SourceFatal as exc:
                self.errors += 1
                self.last_error = str(exc)
                self.state = SourceState.FAILED
                log.error("%s: %s", self.name, exc)
                break
            except Exception as exc:  # device gone, connection reset, a bug: retry
                self.errors += 1
                self.last_error = f"{exc.__class__.__name__}: {exc}" if str(exc) else repr(exc)
                if not self.retry:
                    self.state = SourceState.FAILED
                    log.error("%s: %s", self.name, self.last_error)
                    break
                self.state = SourceState.RETRYING
                if time.monotonic() - started > 2 * BACKOFF_MAX_S:
                    delay = BACKOFF_MIN_S  # it ran well for a while: start the backoff again
                log.warning("%s failed (%s); retrying in %.1f s", self.name, self.last_error, delay)
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, BACKOFF_MAX_S)
                self.restarts += 1
                continue
            else:
                if not self._stop.is_set():
                    self.state = SourceState.ENDED
                break
        notify = self._notify
        if notify is not None:
            notify()  # a consumer waiting on us learns that we are done


class LiveSet:
    """Several live sources read as one: batches in arrival order, round robin when several
    are ready (a flooding source cannot starve the others), health of each."""

    def __init__(self, sources: Sequence[LiveSource] = (), book: SensorBook | None = None) -> None:
        self.sources: list[LiveSource] = []
        self.book = book if book is not None else SensorBook()
        self._cond = threading.Condition()
        self._pending = 0  # notifications not yet looked at
        self._next = 0
        for source in sources:
            self.add(source)

    def add(self, source: LiveSource) -> None:
        source._notify = self._wake
        source.book = self.book
        self.sources.append(source)

    def resync(self) -> None:
        """Every source: deliver again what is unacknowledged (see :meth:`LiveSource.resync`)."""
        for source in self.sources:
            try:
                source.resync()
            except Exception:  # one source's trouble must not stop the others'
                log.exception("%s: resync failed", source.name)

    def _wake(self) -> None:
        with self._cond:
            self._pending += 1
            self._cond.notify_all()

    def start(self) -> None:
        for source in self.sources:
            source.start()

    def stop(self, timeout: float = 5.0) -> None:
        for source in self.sources:
            source._stop.set()
        for source in self.sources:
            source.stop(timeout)

    @property
    def done(self) -> bool:
        return all(s.done for s in self.sources)

    def get(self, timeout: float | None = None) -> FrameBatch | None:
        """The next batch of any source, waiting up to ``timeout`` s; ``None`` if none."""
        deadline = time.monotonic() + (timeout or 0.0)
        while True:
            with self._cond:
                self._pending = 0
            n = len(self.sources)
            for i in range(n):
                source = self.sources[(self._next + i) % n]
                batch = source.get()
                if batch is not None:
                    self._next = (self._next + i + 1) % n
                    return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.done:
                return None
            with self._cond:
                if not self._pending:
                    self._cond.wait(remaining)

    def health(self) -> list[SourceHealth]:
        return [s.health() for s in self.sources]


# -- the registry of kinds -------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class LiveOptions:
    """What every live source may need; kind-specific settings go in ``extra``."""

    sensor_id: str = "local"
    queue_batches: int = QUEUE_BATCHES
    extra: Mapping[str, Any] = field(default_factory=dict)


# kind -> module defining ``open_source(target: str, options: LiveOptions) -> LiveSource``.
# One line per kind of source.
_KINDS: dict[str, str] = {
    "mqtt": "dronewatch.sources.mqtt",
    "mqtts": "dronewatch.sources.mqtt",
    "stream": "dronewatch.sources.stream",
    "iq": "dronewatch.sources.iq_live",
    "zmq": "dronewatch.sources.iq_zmq",
    "soapy": "dronewatch.sources.soapy",
    "antsdr": "dronewatch.sources.antsdr",
    "tcp": "dronewatch.sources.stream",
    "wifi": "dronewatch.sources.wifi",
    "bluetooth": "dronewatch.sources.bluetooth",
}


def kinds() -> list[str]:
    return list(_KINDS)


def split_spec(spec: str) -> tuple[str, str]:
    """``"wifi:wlan1"`` -> ``("wifi", "wlan1")``; a URL keeps its scheme as the kind and the
    whole URL as the target (``"tcp://h:1"`` -> ``("tcp", "tcp://h:1")``)."""
    kind, sep, rest = spec.partition(":")
    if not sep or not kind:
        raise ValueError(f"live source {spec!r}: expected KIND:TARGET (kinds: {', '.join(_KINDS)})")
    return kind, spec if rest.startswith("//") else rest


def open_live(spec: str, options: LiveOptions | None = None) -> LiveSource:
    """The live source for ``spec`` (not started); ``ValueError`` for an unknown kind."""
    kind, target = split_spec(spec)
    module_name = _KINDS.get(kind)
    if module_name is None:
        raise ValueError(f"live source {spec!r}: unknown kind {kind!r} (kinds: {', '.join(_KINDS)})")
    module = importlib.import_module(module_name)
    source: LiveSource = module.open_source(target, options or LiveOptions())
    return source

