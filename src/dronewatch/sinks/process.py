"""The streaming sinks (CoT, syslog, MQTT out, notifications) in a process of their own.

Why: they format and send thousands of messages a second. In the server's process that
Python work holds the GIL the pipeline needs: with 1,000 live drones the pipeline lost 4-13%
of its throughput to them as threads (``bench/sinks.py --threads-too``, best and median of six
runs), more than their own CPU time, from the threads taking the GIL from each other (every
``sendto`` gives it up and takes it back). In a child process they run on another core, the
pipeline only encodes what it hands over, and its throughput is the same with them as
without. The webhook sinks stay in the server's process: their outbox
is written in the same transaction as the alerts.

The server's writer thread hands each committed batch to :meth:`SinkProcess.offer` (never
blocks): the records are encoded (msgpack) and queued to the child (a bounded
``multiprocessing`` queue; when it is full the batch is dropped and counted for every sink of
the child). The child runs the same :class:`~dronewatch.sinks.base.Sink` objects, built from
the same :class:`~dronewatch.sinks.settings.SinkSettings`, and reports their counters every
``STATS_INTERVAL_S`` and when it stops; its log records go to the server's logging. A child
that dies is started again by :meth:`SinkProcess.ensure_alive` (the server's watchdog).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import logging.handlers
import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from dronewatch.sinks.base import DRAIN_TIMEOUT_S, Kind, SinkSet, SinkStats

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 0.5  # how often the child reports its sinks' counters
BATCHES_MAX = 200  # batches queued to the child (the writer commits one every ~25 ms)
_STOP = b""  # the end of the events
#: The record fields the streaming sinks never read: left out of what is sent to the child.
_UNUSED = frozenset({"trail"})


def _child(
    build: Callable[[Any], SinkSet],
    settings: Any,
    events: Any,
    stats: Any,
    logs: Any,
    level: int,
) -> None:
    """The child's main: the sinks ``build(settings)`` makes, fed from ``events``."""
    with contextlib.suppress(OSError):  # its name in ps and top (Linux)
        Path("/proc/self/comm").write_text("dronewatch-sink")  # (at most 15 characters)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(logs)]
    root.setLevel(level)
    sinks = build(settings)
    sinks.start()
    stats.put([s.to_json() for s in sinks.stats()])  # the first report: running
    decode = msgspec.msgpack.Decoder().decode
    due = time.monotonic() + STATS_INTERVAL_S
    parent = mp.parent_process()
    try:
        while True:
            try:
                item = events.get(timeout=STATS_INTERVAL_S)
            except queue.Empty:
                item = None
            if item == _STOP:
                break
            if item is not None:
                tracks, alerts = decode(item)
                sinks.publish(tracks, alerts)
            now = time.monotonic()
            if now >= due:
                due = now + STATS_INTERVAL_S
                if parent is not None and not parent.is_alive():
                    break  # the server is gone (killed): so are its sinks
                stats.put([s.to_json() for s in sinks.stats()])
    finally:
        sinks.stop()
        stats.put([s.to_json() for s in sinks.stats()])


class _ToParentLogging(logging.Handler):
    """The child's log records, handled by the server's own loggers."""

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
        return True


class SinkProcess:
    """The sinks ``build(settings)`` makes (``sinks.settings.open_sinks``; streaming ones
    only: no webhooks) in a child process.

    ``local_stats``, until the child's first report: those of the sinks built in this process
    to check the settings (a bad URL or certificate is a ``SinkError`` here, before)."""

    def __init__(
        self,
        build: Callable[[Any], SinkSet],
        settings: Any,
        local_stats: Sequence[SinkStats],
        wants: set[Kind],
    ) -> None:
        self.build = build  # a module-level function: the child imports it by name
        self.settings = settings
        self.want_tracks = "track" in wants
        self.want_alerts = "alert" in wants
        self._stats = [dataclasses.replace(s) for s in local_stats]
        self._dropped = 0  # batches' events the child's queue had no room for, per sink
        self._lock = threading.Lock()
        self._ctx = mp.get_context("spawn")  # not fork: the server runs threads
        self._proc: Any = None
        self._events: Any = None
        self._stats_q: Any = None
        self._logs: Any = None
        self._listener: logging.handlers.QueueListener | None = None
        self._stopping = False
        self._reported = False  # the child sent a report since it was started
        self.restarts = 0
        self._encode = msgspec.msgpack.Encoder(enc_hook=str).encode

    def __len__(self) -> int:
        return len(self._stats)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        ctx = self._ctx
        self._events = ctx.Queue(BATCHES_MAX)
        self._stats_q = ctx.Queue()
        self._logs = ctx.Queue()
        self._listener = logging.handlers.QueueListener(self._logs, _ToParentLogging())
        self._listener.start()
        self._reported = False
        self._proc = ctx.Process(
            target=_child,
            args=(
                self.build,
                self.settings,
                self._events,
                self._stats_q,
                self._logs,
                logging.getLogger().getEffectiveLevel(),
            ),
            name="dronewatch-sink",
            daemon=True,
        )
        self._proc.start()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Wait until the child runs its sinks (its first report); ``False`` on time-out."""
        end = time.monotonic() + timeout
        while not self._reported and time.monotonic() < end:
            try:
                report = self._stats_q.get(timeout=min(0.1, max(end - time.monotonic(), 0.0)))
            except queue.Empty:
                if not self.alive:
                    return False
                continue
            self._take(report)
        return self._reported

    def _take(self, report: list[dict[str, Any]]) -> None:
        with self._lock:
            self._stats = [SinkStats(**s) for s in report]
            self._reported = True

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def ensure_alive(self) -> bool:
        """Start the child again if it died (``True`` if so): what it held is lost (counted
        in its last report), what comes next is sent."""
        if self._stopping or self._proc is None:
            return False
        if self._proc.is_alive():
            self._read_stats()  # (so that unread reports never pile up)
            return False
        self.restarts += 1
        log.error(
            "the sinks' process died (exit code %s); starting another (restart %d)",
            self._proc.exitcode,
            self.restarts,
        )
        self._close_queues()
        self.start()
        return True

    def stop(self, timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Let the child send what is queued (at most ``timeout`` s), then end it."""
        self._stopping = True
        proc = self._proc
        if proc is None:
            return
        if proc.is_alive():
            try:
                self._events.put(_STOP, timeout=1.0)
            except queue.Full:
                log.warning("the sinks' process is behind: stopping it without draining")
            proc.join(timeout + 2.0)
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
        self._read_stats()
        self._close_queues()

    def _close_queues(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        for q in (self._events, self._stats_q, self._logs):
            if q is not None:
                q.close()
                q.cancel_join_thread()  # a dead child leaves it undrained: don't wait for it

    # -- the pipeline's side (never blocks) ----------------------------------------------------

    def offer(self, tracks: Sequence[dict[str, Any]], alerts: Sequence[dict[str, Any]]) -> None:
        """Hand a committed batch to the child (dropped and counted if it is behind)."""
        if not tracks and not alerts:
            return
        slim = [
            r if _UNUSED.isdisjoint(r) else {k: v for k, v in r.items() if k not in _UNUSED}
            for r in tracks
        ]
        try:
            data = self._encode((slim, list(alerts)))
        except (TypeError, ValueError, OverflowError) as exc:  # a bug: say so, count them
            log.error("sinks: a batch could not be encoded for the sinks' process: %s", exc)
            self._count_dropped(len(tracks) + len(alerts))
            return
        try:
            self._events.put_nowait(data)
        except (queue.Full, ValueError, AssertionError):  # full, or closed (stopping)
            self._count_dropped(len(tracks) + len(alerts))

    def _count_dropped(self, n: int) -> None:
        with self._lock:
            self._dropped += n

    # -- counters -------------------------------------------------------------------------------

    def _read_stats(self) -> None:
        latest = None
        q = self._stats_q
        while q is not None:
            try:
                latest = q.get_nowait()
            except (queue.Empty, OSError, ValueError):
                break
        if latest is not None:
            self._take(latest)

    def stats(self) -> list[SinkStats]:
        """The child's sinks' counters as last reported (``alive``: the child runs, and
        the sink's worker in it, once it reported; the batches it had no room for counted in
        ``dropped``)."""
        self._read_stats()
        alive = self.alive
        with self._lock:
            dropped = self._dropped
            stats = self._stats
            reported = self._reported
        return [
            dataclasses.replace(
                s, alive=alive and (s.alive or not reported), dropped=s.dropped + dropped
            )
            for s in stats
        ]
