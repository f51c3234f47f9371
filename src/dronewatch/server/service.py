"""The pipeline service: sources -> edge checks -> decode -> tracking pipeline -> store + bus.

One thread runs the sources (capture replay, paced or as fast as possible; the simulator for
the demo; live sources), checks every frame at the edge (``sources/validate.py``), decodes
frames and feeds the tracking pipeline. Its results are cut into batches: ``WriteBatch`` to a
bounded queue drained by a writer thread (bulk inserts into the store), and serialised live
events to the event bus. A full write queue blocks the pipeline thread (back-pressure up to
the sources, never unbounded memory); track updates are coalesced to at most
``track_rate_hz`` per track. An alert is flushed at once and shown once its row is committed
(stored before shown).

Live batches are acknowledged to their source only once their rows are committed; a keyed
batch (a sensor's numbered batch) that comes again is stored once (:mod:`.ledger` and the
store's unique key). The writer never drops a batch the database cannot take: it retries, and
the backlog stays upstream (in an MQTT broker, unacknowledged). A thread that dies is
restarted by :meth:`PipelineService.ensure_alive` (the app's watchdog).
"""

from __future__ import annotations

import gc
import logging
import math
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import Histogram

from dronewatch.alerts.whitelist import Whitelist
from dronewatch.decode import decode_frames
from dronewatch.model import Alert, Decoded, Frame, Observation, Track
from dronewatch.server.bus import ALERT, TRACK, EventBus, event
from dronewatch.server.ledger import Ledger
from dronewatch.sinks.base import SinkSet
from dronewatch.sources.live import LiveSet
from dronewatch.sources.sensors import SensorBook
from dronewatch.sources.validate import FrameLimits, frame_problem, text_problem
from dronewatch.stats import DecodeStats
from dronewatch.store import (
    SensorSeen,
    Store,
    StoreError,
    StoreRejected,
    StoreUnavailable,
    WriteBatch,
)
from dronewatch.store.records import (
    alert_json,
    alert_record,
    observation_row,
    point_list,
    track_record,
)
from dronewatch.track.observe import observe
from dronewatch.track.rf_locate import RfEstimate, rf_fields

log = logging.getLogger(__name__)

TRAIL_POINTS = 50
FLUSH_INTERVAL_S = 0.025  # track updates and rows reach the bus/writer at least this often
TRACKS_PER_FLUSH = 64  # track states serialised per flush at most (bounds each pause)
FLUSH_ROWS = 5000  # ... or when this many rows are pending (alerts go out at once)
STREAM_TRAIL_POINTS = 20  # trail length in live track events (the REST API gives 50)
TICK_INTERVAL_S = 1.0
FULL_GC_INTERVAL_S = 600.0
LIVE_POLL_S = 0.1  # while live sources are silent, results are published this often
RETRY_MAX_S = 5.0  # the writer retries a database that cannot write at least this often


class Pipeline(Protocol):
    """What the service needs of ``dronewatch.alerts.pipeline.TrackingPipeline``."""

    def feed_observation(
        self, obs: Observation, *, frame_track: str | None = None
    ) -> tuple[Track | None, list[Alert]]: ...
    def tick(self, now: float) -> list[Alert]: ...
    @property
    def tracks(self) -> Mapping[str, Track]: ...
    @property
    def merged(self) -> Mapping[str, str]: ...


FrameSource = Callable[[], Iterable[Frame]]


# database write (one batch, one transaction) latency buckets, seconds (/metrics)
DB_WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def db_write_histogram() -> Histogram:
    """A histogram of database write times, kept by the writer thread (not registered
    globally: each app's /metrics collector reports its own)."""
    return Histogram(
        "dronewatch_db_write_seconds",
        "Time to write one batch to the database (successful writes).",
        buckets=DB_WRITE_BUCKETS,
        registry=None,
    )


@dataclass(slots=True)
class Counters:
    """Service counters shown by ``/health`` and ``/api/stats``."""

    frames: int = 0
    messages: int = 0
    observations: int = 0
    alerts: int = 0
    batches_written: int = 0
    rows_written: int = 0
    db_errors: int = 0
    db_rows_lost: int = 0  # given up at shutdown while the database could not write
    db_rows_rejected: int = 0  # rows the database refused (left out, the rest written)
    db_reject_reasons: Counter[str] = field(default_factory=Counter)
    duplicates_skipped: int = 0  # redelivered sensor batches the store already held
    frames_rejected: int = 0  # frames refused at the edge (by sensor: the SensorBook)
    source_errors: int = 0
    pipeline_errors: int = 0
    last_db_error: str | None = None
    last_db_error_at: float | None = None  # monotonic
    last_db_reject_at: float | None = None
    last_pipeline_error_at: float | None = None
    db_failing_since: float | None = None  # monotonic; None while writes succeed
    degraded: bool = False  # the database is failing writes now
    decode: DecodeStats = field(default_factory=DecodeStats)
    # /metrics: frames decoded by (sensor, transport), alert events by (rule, status), and
    # the time of each database write (seconds; prometheus_client's thread-safe histogram)
    frames_by_sensor: Counter[tuple[str, str]] = field(default_factory=Counter)
    alert_events: Counter[tuple[str, str]] = field(default_factory=Counter)
    db_write_seconds: Histogram = field(default_factory=lambda: db_write_histogram())

    def db_error(self, message: str) -> None:
        self.db_errors += 1
        self.last_db_error = message[:300]
        self.last_db_error_at = time.monotonic()

    def pipeline_error(self) -> None:
        self.pipeline_errors += 1
        self.last_pipeline_error_at = time.monotonic()

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "messages": self.messages,
            "observations": self.observations,
            "alerts": self.alerts,
            "batches_written": self.batches_written,
            "rows_written": self.rows_written,
            "db_errors": self.db_errors,
            "db_rows_lost": self.db_rows_lost,
            "db_rows_rejected": self.db_rows_rejected,
            "db_reject_reasons": dict(self.db_reject_reasons),
            "duplicates_skipped": self.duplicates_skipped,
            "frames_rejected": self.frames_rejected,
            "last_db_error": self.last_db_error,
            "source_errors": self.source_errors,
            "pipeline_errors": self.pipeline_errors,
            "decode": self.decode.to_json(),
        }


class Processor:
    """Decoded messages -> tracking pipeline -> write batches and live events (one thread).

    Not thread-safe: the pipeline thread owns it (the bench and tests call it directly).
    """

    def __init__(
        self, pipeline: Pipeline, *, track_rate_hz: float = 2.0, counters: Counters | None = None
    ) -> None:
        self.pipeline = pipeline
        # The pipeline's RF estimates by track (``TrackingPipeline.rf_estimate``; a pipeline
        # without RF localisation has none): stored with the track, so that they outlive it.
        self._rf_estimate: Callable[[str], RfEstimate | None] | None = getattr(
            pipeline, "rf_estimate", None
        )
        self.counters = counters if counters is not None else Counters()
        self.min_interval = 1.0 / track_rate_hz if track_rate_hz > 0 else 0.0
        self.whitelist = Whitelist()
        self.batch = WriteBatch()
        self.events: list[tuple[str, str]] = []  # track events: out with the next flush
        self.alert_events: list[tuple[str, str]] = []  # out once their rows are committed
        self._dirty: dict[str, Track] = {}
        self._objects: dict[str, Track] = {}  # every track seen and not yet dropped
        self._published: dict[str, float] = {}  # track_id -> monotonic time of last publish
        self._state: dict[str, str] = {}  # track_id -> state last published
        self._last_pos: dict[str, float] = {}  # track_id -> time of the last written position
        self._n_pos: dict[str, int] = {}  # track_id -> positions written
        # track_id -> its last RF estimate: the pipeline forgets it with the track, before
        # the track's last ("ended") record goes out
        self._rf_last: dict[str, dict[str, Any]] = {}
        self.data_time = -math.inf  # newest frame time seen
        self._last_frame: Frame | None = None
        self._frame_track: str | None = None
        self._counted_frame: Frame | None = None  # the frame last counted for its sensor

    # -- input --------------------------------------------------------------------------

    def handle(self, decoded: Decoded) -> int:
        """Feed one decoded message; the number of alerts it raised."""
        c = self.counters
        c.messages += 1
        frame = decoded.frame
        if frame.time > self.data_time:
            self.data_time = frame.time
        # What TrackingPipeline.feed does, keeping the observation for the store (so that
        # every message is mapped once): the messages of one frame describe one drone.
        track: Track | None = None
        alerts: list[Alert] = []
        try:
            obs = observe(decoded)
            if obs is not None:
                hint = self._frame_track if frame is self._last_frame else None
                track, alerts = self.pipeline.feed_observation(obs, frame_track=hint)
        except Exception:  # a pipeline bug must not stop the service: count and go on
            c.pipeline_error()
            log.exception("tracking pipeline failed on a %s message", decoded.message.type)
            return 0
        tid: str | None = None
        if track is not None:
            tid = track.track_id
            self._dirty[tid] = track
            self._objects[tid] = track
        if obs is not None:
            self._last_frame = frame
            self._frame_track = tid if tid is not None else hint
            c.observations += 1
            self.batch.observations.append(observation_row(obs, tid))
        new_frame = frame is not self._counted_frame  # a frame's messages share it
        sensor = self.batch.sensors.get(frame.sensor_id)
        if sensor is None:
            self.batch.sensors[frame.sensor_id] = SensorSeen(frame.time, frame.time, int(new_frame))
        elif new_frame:  # (the frame's other messages are in this batch's times already)
            t = frame.time
            if t < sensor.first_seen:
                sensor.first_seen = t
            if t > sensor.last_seen:
                sensor.last_seen = t
            sensor.frames += 1
        if new_frame:
            self._counted_frame = frame
            c.frames_by_sensor[frame.sensor_id, frame.transport] += 1
        if alerts:
            self._alerts(alerts)
        return len(alerts)

    def _alerts(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self.counters.alerts += 1
            self.counters.alert_events[alert.rule, alert.status] += 1
            rec = alert_record(alert)
            self.batch.alerts.append(rec)
            self.alert_events.append(event(ALERT, alert=alert_json(rec)))

    def tick(self, now: float) -> None:
        """Age tracks at ``now`` (data clock); state changes are published like updates."""
        try:
            alerts = self.pipeline.tick(now)
        except Exception:
            self.counters.pipeline_error()
            log.exception("tracking pipeline tick failed")
            return
        self._alerts(alerts)
        live = self.pipeline.tracks
        for tid, track in live.items():
            if self._state.get(tid) != track.state:
                self._dirty[tid] = track
                self._published.pop(tid, None)  # a state change goes out at once
        # Tracks the pipeline dropped: merged into another track, or forgotten long after
        # they ended. A merged one is still "active" for clients and the store: end it there.
        merged = self.pipeline.merged
        for tid in [t for t in self._objects if t not in live]:
            track = self._objects.pop(tid)
            self._dirty.pop(tid, None)
            if self._state.get(tid) != "ended":
                track.state = "ended"  # the pipeline no longer owns this object
                rec = self.summary(track, STREAM_TRAIL_POINTS)
                rec["merged_into"] = merged.get(tid)
                self.events.append(event(TRACK, track=rec))
                del rec["trail"], rec["whitelisted"], rec["merged_into"]
                self.batch.tracks[tid] = rec
            for d in (self._state, self._published, self._last_pos, self._n_pos, self._rf_last):
                d.pop(tid, None)

    # -- output -------------------------------------------------------------------------

    def summary(self, track: Track, trail: int = TRAIL_POINTS) -> dict[str, Any]:
        rec = track_record(track)
        rec["positions"] = self._n_pos.get(track.track_id, 0)
        rec["trail"] = [point_list(p) for p in track.positions[-trail:]]
        rec["whitelisted"] = self.whitelist.allows(track)
        est = self._rf_estimate(track.track_id) if self._rf_estimate is not None else None
        last: dict[str, Any] | None
        if est is not None:
            last = self._rf_last[track.track_id] = est.to_json()
        else:
            last = self._rf_last.get(track.track_id)
        rec.update(rf_fields(last))
        return rec

    def collect(
        self, mono_now: float | None = None, *, force: bool = False, budget: int | None = None
    ) -> tuple[WriteBatch, list[tuple[str, str]]]:
        """Take the pending batch and track events; track states are coalesced and rate
        limited. Alert events stay in ``alert_events`` (see :meth:`take_alert_events`).

        ``budget``: publish at most this many track states now (the others stay pending and
        come first next time), so that one call never stalls the pipeline for long; ``force``:
        every changed track now (e.g. at the end of a source).
        """
        mono_now = time.monotonic() if mono_now is None else mono_now
        batch = self.batch
        held: dict[str, Track] = {}
        rest: dict[str, Track] = {}
        published = 0
        for tid, track in self._dirty.items():
            if budget is not None and published >= budget and not force:
                rest[tid] = track
                continue
            last = self._last_pos.get(tid, -math.inf)
            new = []
            for p in reversed(track.positions):
                if p.time <= last:
                    break
                new.append(p)
            if new:
                self._last_pos[tid] = new[0].time
                self._n_pos[tid] = self._n_pos.get(tid, 0) + len(new)
                olat, olon = track.operator_lat, track.operator_lon
                batch.positions.extend(
                    (tid, p.time, p.lat, p.lon, p.alt, olat, olon) for p in reversed(new)
                )
            if not force and mono_now - self._published.get(tid, -math.inf) < self.min_interval:
                held[tid] = track
                continue
            published += 1
            self._published[tid] = mono_now
            self._state[tid] = track.state
            rec = self.summary(track, STREAM_TRAIL_POINTS)
            self.events.append(event(TRACK, track=rec))
            del rec["trail"], rec["whitelisted"]
            batch.tracks[tid] = rec
        rest.update(held)  # the ones not looked at go first next time
        self._dirty = rest
        events, self.events = self.events, []
        self.batch = WriteBatch()
        return batch, events

    def take_alert_events(self) -> list[tuple[str, str]]:
        """The alert events of the rows in the last collected batch: to show once committed."""
        events, self.alert_events = self.alert_events, []
        return events

    @property
    def pending_rows(self) -> int:
        return len(self.batch.observations) + len(self.batch.alerts)


class Writer:
    """The background writer thread: bounded queue of batches -> store.

    It never drops a batch because the database cannot write now (locked, full, read-only,
    unreachable): it retries with back-off (up to ``RETRY_MAX_S``) until the write succeeds,
    holding its queue, so the pipeline and the live sources wait (an MQTT broker keeps what
    is unacknowledged), and reports the database failing (``counters.db_failing_since``).
    A batch holding values the database refuses has those rows found (``Store.bad_rows``),
    counted (``db_rows_rejected``) and left out; the rest is written. Only at shutdown is a
    batch that still cannot be written given up (``db_rows_lost``; a live source's messages
    were not acknowledged: the broker delivers them again).

    If the thread dies, :meth:`ensure_alive` starts another, which writes again the batch
    the dead one held (idempotent for sensor batches: their keys are in the same transaction).
    """

    def __init__(
        self,
        store: Store,
        counters: Counters,
        *,
        maxsize: int = 32,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self.store = store
        self.counters = counters
        self.queue: queue.Queue[WriteBatch | None] = queue.Queue(maxsize=maxsize)
        self.retry_max_s = retry_max_s
        self.restarts = 0
        self.last_restart_at: float | None = None  # monotonic
        self._thread: threading.Thread | None = None
        self._current: tuple[WriteBatch, int, bool] | None = None  # batch, items, end after
        self._stopping = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dronewatch-writer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ensure_alive(self) -> bool:
        """Start a new thread if the writer's died; ``True`` if it did."""
        if self._thread is None or self.alive or self._stopping.is_set():
            return False
        self.restarts += 1
        self.last_restart_at = time.monotonic()
        log.error("the writer thread died; starting another (restart %d)", self.restarts)
        self.start()
        return True

    def put(self, batch: WriteBatch, stop: threading.Event | None = None) -> bool:
        """Queue a batch, blocking while the queue is full (back-pressure); ``False`` if
        ``stop`` was set meanwhile (the batch is not queued)."""
        while True:
            try:
                self.queue.put(batch, timeout=0.2)
                return True
            except queue.Full:
                if stop is not None and stop.is_set():
                    return False

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued batch is written."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued (giving up on what the database cannot take), then stop."""
        self._stopping.set()
        if self.alive:
            assert self._thread is not None
            try:
                self.queue.put(None, timeout=timeout)
            except queue.Full:
                log.error("the writer did not drain its queue in %.0f s", timeout)
            self._thread.join(timeout)

    def _run(self) -> None:
        if self._current is not None:  # a previous thread died holding this batch
            batch, n_items, done = self._current
            self._write(batch)
            self._current = None
            for _ in range(n_items):
                self.queue.task_done()
            if done:
                return
        while True:
            item = self.queue.get()
            if item is None:
                self.queue.task_done()
                return
            batch, n_items, done = item, 1, False
            while len(batch) < 50_000:  # coalesce what is waiting into one transaction
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                n_items += 1
                if more is None:
                    done = True
                    break
                batch.merge(more)
            self._current = (batch, n_items, done)
            self._write(batch)
            self._current = None
            for _ in range(n_items):
                self.queue.task_done()
            if done:
                return

    def _write(self, batch: WriteBatch) -> None:
        c = self.counters
        if not len(batch) and not batch.sensors and not batch.keys:
            self._acknowledge(batch)  # only acknowledgements: nothing to write
            return
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                duplicates = self.store.write(batch)
            except StoreRejected as exc:
                c.db_error(str(exc))
                try:
                    if self._leave_out_bad_rows(batch):
                        continue  # write the rest at once
                except StoreUnavailable as exc2:
                    exc = exc2  # type: ignore[assignment]
                failure: Exception = exc
            except StoreError as exc:
                c.db_error(str(exc))
                failure = exc
            except Exception as exc:  # a bug: keep the batch, keep trying, say so
                c.db_error(f"{exc.__class__.__name__}: {exc}")
                log.exception("writing a batch failed unexpectedly")
                failure = exc
            else:
                c.db_write_seconds.observe(time.perf_counter() - started)
                c.batches_written += 1
                c.rows_written += len(batch)
                c.duplicates_skipped += duplicates
                c.degraded = False
                c.db_failing_since = None
                self._acknowledge(batch)
                return
            now = time.monotonic()
            if c.db_failing_since is None:
                c.db_failing_since = now
                log.error("database write failed: %s; retrying until it succeeds", failure)
            c.degraded = True
            if self._stopping.is_set():
                c.db_rows_lost += len(batch)
                log.error("stopping while the database cannot write: %d rows not stored "
                          "(live messages were not acknowledged)", len(batch))
                return
            self._stopping.wait(delay)
            delay = min(delay * 2, self.retry_max_s)

    def _leave_out_bad_rows(self, batch: WriteBatch) -> bool:
        """Find and remove the rows the database refuses; ``False`` if none was found."""
        bad = self.store.bad_rows(batch)
        if not bad:
            return False
        c = self.counters
        n = 0
        for part, rows in bad.items():
            for _, reason in rows:
                c.db_reject_reasons[f"{part}: {reason.split(': ', 1)[-1][:120]}"] += 1
            n += len(rows)
            gone = {i for i, _ in rows}
            if part == "observations":
                batch.drop_observations(gone)
            elif part == "positions":
                batch.positions = [r for i, r in enumerate(batch.positions) if i not in gone]
            elif part == "alerts":
                batch.alerts = [r for i, r in enumerate(batch.alerts) if i not in gone]
            elif part == "tracks":
                for tid in [t for i, t in enumerate(batch.tracks) if i in gone]:
                    del batch.tracks[tid]
            else:
                for sid in [t for i, t in enumerate(batch.sensors) if i in gone]:
                    del batch.sensors[sid]
        c.db_rows_rejected += n
        c.last_db_reject_at = time.monotonic()
        log.error("the database refused %d rows (%s); the rest of the batch is written", n,
                  "; ".join(f"{p}: {rows[0][1]}" for p, rows in bad.items()))
        return True

    def _acknowledge(self, batch: WriteBatch) -> None:
        """The batch is committed: tell the live sources, show its alerts (in commit order)."""
        for ack in batch.acks:
            try:
                ack()
            except Exception:  # a source gone away must not stop the writer
                log.exception("acknowledging a committed batch failed")


def replay_source(path: Path, stats: DecodeStats) -> FrameSource:
    """Frames of one capture file (any kind ``open_capture`` reads)."""

    def frames() -> Iterable[Frame]:
        from dronewatch.sources import open_capture

        return open_capture(path, stats=stats)

    return frames


class PipelineService:
    """Runs sources through a ``Processor`` in a thread, feeding a ``Writer`` and the bus."""

    def __init__(
        self,
        processor: Processor,
        writer: Writer,
        bus: EventBus,
        sources: list[FrameSource],
        *,
        live: LiveSet | None = None,
        speed: float = 1.0,
        loop_sources: bool = False,
        realtime_clock: bool = False,
        gc_freeze: bool = False,
        limits: FrameLimits | None = None,
        book: SensorBook | None = None,
        sinks: SinkSet | None = None,
    ) -> None:
        self.processor = processor
        self.sinks = sinks if sinks else None  # fed each batch once it is committed
        self.writer = writer
        self.bus = bus
        self.sources = sources
        self.live = live  # live sources: received until the service stops
        # Edge checks: live frames within a window of the server clock, recordings finite.
        self.limits = limits if limits is not None else FrameLimits()
        self.book = book if book is not None else live.book if live is not None else SensorBook()
        self.ledger = Ledger(writer.store, self.book)
        self.restarts = 0
        self.last_restart_at: float | None = None  # monotonic
        self.beat = time.monotonic()  # the pipeline thread's last sign of life
        self.speed = speed
        self.loop_sources = loop_sources
        self.realtime_clock = realtime_clock  # tick on the wall clock (simulated live data)
        self.gc_freeze = gc_freeze
        self._last_full_gc = time.monotonic()
        self.counters = processor.counters
        self.lock = threading.Lock()  # guards the processor against zone/whitelist updates
        self.stop_event = threading.Event()
        self.sources_done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dronewatch-pipeline", daemon=True)
        self._last_flush = time.monotonic()
        self._last_tick = time.monotonic()
        self._data_mono = time.monotonic()  # monotonic time when data_time was last advanced

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def ensure_alive(self) -> bool:
        """Start a new pipeline thread if it died (``True`` if so). Live sources deliver
        again what the dead thread took and nobody acknowledged (``LiveSet.resync``)."""
        if self.alive or self.stop_event.is_set() or self._thread.ident is None:
            return False
        self.restarts += 1
        self.last_restart_at = time.monotonic()
        log.error("the pipeline thread died; starting another (restart %d)", self.restarts)
        self._thread = threading.Thread(target=self._run, name="dronewatch-pipeline", daemon=True)
        self._thread.start()
        if self.live is not None:
            self.live.resync()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self.lock:
            self._flush(force=True)

    def check(self, frames: list[Frame], limits: FrameLimits) -> list[Frame]:
        """The frames that pass the edge checks; the others counted per sensor and reason."""
        now = time.time()
        bad: list[tuple[int, str]] | None = None
        for i, frame in enumerate(frames):
            problem = frame_problem(frame, now, limits)
            if problem is not None:
                if bad is None:
                    bad = []
                bad.append((i, problem))
        if bad is None:
            return frames
        self.counters.frames_rejected += len(bad)
        for i, problem in bad:
            sensor = frames[i].sensor_id
            if text_problem(sensor, "sensor id") is not None:
                sensor = "(invalid sensor id)"
            else:
                self.book.taken_back(sensor, 1)
            self.book.reject(sensor, problem)
        gone = {i for i, _ in bad}
        return [f for i, f in enumerate(frames) if i not in gone]

    def idle(self) -> None:
        """A source is waiting for data (call from the pipeline thread): publish what is
        pending and age the tracks, as between paced frames."""
        with self.lock:
            self._flush()
            self._maybe_tick()

    def call(self, fn: Callable[[Processor], None]) -> None:
        """Run ``fn(processor)`` under the lock (zone and whitelist updates from the API)."""
        with self.lock:
            fn(self.processor)

    # -- the thread ---------------------------------------------------------------------

    def clock(self) -> float:
        """'Now' for the tracker: wall clock for live data, else the data clock, advancing
        with the wall clock (times the replay speed) while no frame comes."""
        if self.realtime_clock or self.processor.data_time == -math.inf:
            return time.time()
        pace = self.speed if self.speed > 0 else 1.0
        return self.processor.data_time + (time.monotonic() - self._data_mono) * pace

    def _flush(self, force: bool = False) -> None:
        batch, events = self.processor.collect(force=force, budget=TRACKS_PER_FLUSH)
        self._last_flush = time.monotonic()
        if events:
            self.bus.publish_threadsafe(events)
        alert_events = self.processor.take_alert_events()
        if alert_events:  # shown once stored
            batch.acks.append(partial(self.bus.publish_threadsafe, alert_events))
        sinks = self.sinks
        if sinks is not None and (
            batch.tracks or batch.alerts or (sinks.want_observations and batch.observations)
        ):
            if batch.alerts:  # owed to the durable sinks in the same transaction
                batch.outbox.extend(sinks.outbox_rows(batch.alerts))
            # Copies: the writer merges queued batches into the first one.
            batch.acks.append(
                partial(
                    sinks.publish,
                    list(batch.tracks.values()) if sinks.want_tracks else [],
                    list(batch.alerts) if sinks.want_alerts else [],
                    list(batch.observations) if sinks.want_observations else [],
                )
            )
        if len(batch) or batch.sensors or batch.acks or batch.keys:
            self.writer.put(batch, self.stop_event)

    def _maybe_tick(self) -> None:
        mono = time.monotonic()
        if mono - self._last_tick >= TICK_INTERVAL_S:
            self._last_tick = mono
            self.processor.tick(self.clock())
            self._flush()
            if self.gc_freeze:
                self._gc_maintenance(mono)

    def _gc_maintenance(self, mono: float) -> None:
        """Keep full garbage collections off the live path.

        Thousands of live tracks hold millions of small objects (positions); a full collection
        scans them all and stalls every thread for 100+ ms, the tail of the alert latency.
        Once a second the surviving objects are frozen (``gc.freeze``: refcounting still frees
        them; only the cycle collector skips them), and every ``FULL_GC_INTERVAL_S`` they are
        unfrozen and collected once, so that cyclic garbage cannot pile up.
        """
        if mono - self._last_full_gc >= FULL_GC_INTERVAL_S:
            self._last_full_gc = mono
            gc.unfreeze()
            gc.collect()
        gc.freeze()

    def _paced(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Frames at ``speed`` times their recorded pace (flushing results while waiting)."""
        t0: float | None = None
        start = time.monotonic()
        for frame in frames:
            if self.stop_event.is_set():
                return
            self.counters.frames += 1
            if self.speed > 0:
                if t0 is None or frame.time < t0:
                    t0, start = frame.time, time.monotonic()
                target = start + (frame.time - t0) / self.speed
                while True:
                    delay = target - time.monotonic()
                    if delay <= 0.001:
                        break
                    with self.lock:
                        self._flush()
                        self._maybe_tick()
                    if self.stop_event.wait(min(delay, 0.25)):
                        return
            self._data_mono = time.monotonic()
            yield frame

    def _checked(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Recorded frames through the edge checks (finite values only: their own times)."""
        limits = FrameLimits.recording()
        chunk: list[Frame] = []
        for frame in frames:
            chunk.append(frame)
            if len(chunk) >= 256:
                yield from self.check(chunk, limits)
                chunk = []
        yield from self.check(chunk, limits)

    def run_frames(self, frames: Iterable[Frame]) -> None:
        """Process frames (in the calling thread) until they end or the service stops."""
        proc = self.processor
        for decoded in decode_frames(self._checked(self._paced(frames)), self.counters.decode):
            with self.lock:
                self.beat = time.monotonic()
                if (
                    proc.handle(decoded)  # an alert: stored (and shown) at once
                    or proc.pending_rows >= FLUSH_ROWS
                    or self.beat - self._last_flush >= FLUSH_INTERVAL_S
                ):
                    self._flush()
                self._maybe_tick()
        with self.lock:
            self._flush(force=True)

    def run_live(self, live: LiveSet) -> None:
        """Receive from live sources (in the calling thread) until the service stops or
        every source is done. A batch's acknowledgement rides with the rows it produced and
        is called by the writer once they are committed; a keyed batch already taken (a
        redelivery) is only acknowledged, after the rows of its first delivery."""
        proc = self.processor
        counters = self.counters
        while not self.stop_event.is_set():
            self.beat = time.monotonic()
            batch = live.get(LIVE_POLL_S)
            if batch is None:
                if live.done:
                    break
                self.idle()
                continue
            key = batch.key
            if key is not None and not self.ledger.take(key):
                if batch.ack is not None:
                    with self.lock:
                        proc.batch.acks.append(batch.ack)
                continue
            frames = self.check(batch.frames, self.limits)
            counters.frames += len(frames)
            with self.lock:
                start = len(proc.batch.observations)
                alerts = 0
                handled = False
                try:
                    for item in decode_frames(frames, counters.decode):
                        alerts += proc.handle(item)
                    handled = True
                finally:
                    if not handled:  # a thread-killing error: its rows must not go half in
                        del proc.batch.observations[start:]
                        if key is not None:
                            self.ledger.forget(key)
                if key is not None:
                    proc.batch.keys.append((key, start, len(proc.batch.observations)))
                if batch.ack is not None:
                    proc.batch.acks.append(batch.ack)
                if (
                    alerts  # stored (and shown) at once
                    or proc.pending_rows >= FLUSH_ROWS
                    or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S
                ):
                    self._flush()
                self._maybe_tick()
        with self.lock:
            self._flush(force=True)

    def _run(self) -> None:
        if self.live is not None:
            self._receive(self.live)
        else:
            self._play()
        self.sources_done.set()
        while not self.stop_event.wait(0.25):
            self.beat = time.monotonic()
            with self.lock:
                self._maybe_tick()
                if time.monotonic() - self._last_flush >= 0.25:
                    self._flush()

    def _receive(self, live: LiveSet) -> None:
        from dronewatch.decode import warm_up

        warm_up()  # the first live frame must not wait for the decoders to load
        live.start()
        while not self.stop_event.is_set():
            try:
                self.run_live(live)
                return
            except Exception:  # a bug must not end reception: count it and go on
                self.counters.pipeline_error()
                log.exception("live reception failed; going on")
                live.resync()  # what it had taken comes again

    def _play(self) -> None:
        while not self.stop_event.is_set():
            for source in self.sources:
                if self.stop_event.is_set():
                    break
                try:
                    self.run_frames(source())
                except Exception as exc:  # a broken capture: log, count, go on
                    self.counters.source_errors += 1
                    log.error("source failed: %s: %s", exc.__class__.__name__, exc)
            if not self.loop_sources or not self.sources:
                break
