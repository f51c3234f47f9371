"""``/health``: what works and what does not, said plainly.

Status ``ok``, ``degraded`` (working, with something to look at) or ``failing`` (data is not
getting stored, or nothing is received: HTTP 503), with ``causes``, one sentence each.

Failing: the database cannot be reached or has refused writes for ``FAILING_AFTER_S``
(nothing is acknowledged meanwhile: sensors' data waits in the broker); the pipeline or the
writer thread is dead (the watchdog restarts it within a second); no live source is working.
Degraded: a database error, a row the database refused, a pipeline error, a thread restart or
a frame refused at the edge in the last ``RECENT_S``; a live source retrying, failed or
dropping; a backlog (write queue or a source's queue three quarters full); a sensor whose
batches went missing or whose clock is off by more than ``CLOCK_OFFSET_MAX_S``.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from dronewatch import __version__
from dronewatch.sources.sensors import RECENT_S

if TYPE_CHECKING:
    from dronewatch.server.context import AppContext

FAILING_AFTER_S = 10.0
CLOCK_OFFSET_MAX_S = 2.0
BACKLOG_FRACTION = 0.75


def _recent(at: float | None, now: float) -> bool:
    return at is not None and now - at < RECENT_S


def report(ctx: AppContext) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, body)`` of ``/health``."""
    now = time.monotonic()
    c = ctx.counters
    failing: list[str] = []
    degraded: list[str] = []
    db_ok = ctx.store.ping()
    if not db_ok:
        failing.append("the database cannot be reached")
    if c.db_failing_since is not None:
        for_s = now - c.db_failing_since
        text = (
            f"database writes failing for {for_s:.0f} s ({c.last_db_error}); nothing is "
            "acknowledged meanwhile, live data waits upstream"
        )
        (failing if for_s >= FAILING_AFTER_S else degraded).append(text)
    elif _recent(c.last_db_error_at, now):
        degraded.append(f"database errors ({c.db_errors}); last: {c.last_db_error}")
    if _recent(c.last_db_reject_at, now):
        reasons = ", ".join(f"{r}: {n}" for r, n in c.db_reject_reasons.most_common(3))
        degraded.append(f"the database refused {c.db_rows_rejected} rows ({reasons})")
    if c.db_rows_lost:
        degraded.append(f"{c.db_rows_lost} rows could not be stored")
    if _recent(c.last_pipeline_error_at, now):
        degraded.append(f"pipeline errors ({c.pipeline_errors}; see the log)")

    threads: dict[str, Any] = {}
    service, writer = ctx.service, ctx.writer
    if service is not None:
        threads["pipeline"] = {
            "alive": service.alive,
            "restarts": service.restarts,
            "last_beat_age_s": round(now - service.beat, 3),
        }
        if not service.alive and not service.stop_event.is_set():
            failing.append("the pipeline thread is dead (restarting)")
        if _recent(service.last_restart_at, now):
            degraded.append(f"the pipeline thread died and was restarted ({service.restarts})")
    if writer is not None:
        queued, qmax = writer.queue.qsize(), writer.queue.maxsize
        threads["writer"] = {
            "alive": writer.alive,
            "restarts": writer.restarts,
            "queued": queued,
            "queue_max": qmax,
        }
        if not writer.alive and not writer._stopping.is_set():
            failing.append("the writer thread is dead (restarting)")
        if _recent(writer.last_restart_at, now):
            degraded.append(f"the writer thread died and was restarted ({writer.restarts})")
        if qmax and queued >= BACKLOG_FRACTION * qmax:
            degraded.append(f"write backlog: {queued} of {qmax} batches queued")

    sources = ctx.live.health() if ctx.live is not None else []
    for h in sources:
        if not h.ok:
            degraded.append(f"source {h.name} {h.state.value}: {h.last_error}")
        if h.last_drop_age_s is not None and h.last_drop_age_s < RECENT_S:
            degraded.append(f"source {h.name} dropped {h.drops} frames (the pipeline fell behind)")
        if h.queued >= BACKLOG_FRACTION * h.queue_max:
            degraded.append(f"source {h.name}: backlog of {h.queued} batches")
    if sources and not any(h.ok for h in sources):
        failing.append("no live source is receiving")

    book = ctx.service.book if ctx.service is not None else ctx.live.book if ctx.live else None
    sensors = book.snapshot() if book is not None else []
    for s in sensors:
        if s.problem_is_recent(now):
            refused = sum(s.rejected.values())
            if refused:
                top = ", ".join(f"{r}: {n}" for r, n in s.rejected.most_common(3))
                degraded.append(f"sensor {s.sensor_id}: {refused} refused ({top})")
            if s.batches_missing > 0:
                degraded.append(f"sensor {s.sensor_id}: {s.batches_missing} batches never arrived")
        offset = s.clock_offset_s
        if offset is not None and abs(offset) > CLOCK_OFFSET_MAX_S:
            side = "ahead of" if offset > 0 else "behind"
            degraded.append(f"sensor {s.sensor_id}: clock {abs(offset):.1f} s {side} the server's")

    sinks = ctx.sinks.stats()
    for st in sinks:
        if not st.alive and ctx.service is not None:
            degraded.append(f"sink {st.name}: its worker is not running")
        if st.last_error_age_s is not None and st.last_error_age_s < RECENT_S:
            degraded.append(f"sink {st.name}: {st.last_error}")
        if st.queue_max and st.queue_depth >= BACKLOG_FRACTION * st.queue_max:
            degraded.append(f"sink {st.name}: backlog of {st.queue_depth} events")

    status = "failing" if failing else "degraded" if degraded else "ok"
    live = 0
    if ctx.processor is not None:
        with contextlib.suppress(RuntimeError):  # dict changed size while counting
            live = sum(
                1 for t in list(ctx.processor.pipeline.tracks.values()) if t.state == "active"
            )
    body = {
        "status": status,
        "causes": failing + degraded,
        "version": __version__,
        "db": ctx.store.dialect,
        "db_ok": db_ok,
        "uptime_s": round(time.time() - ctx.started, 3),
        "tracks_live": live,
        "ws_clients": len(ctx.bus.clients),
        "threads": threads,
        "sources": [h.to_json() for h in sources],
        "sensors": [s.to_json() for s in sensors],
        "sinks": [st.to_json() for st in sinks],
        "counters": {
            "frames": c.frames,
            "frames_rejected": c.frames_rejected,
            "messages": c.messages,
            "observations": c.observations,
            "alerts": c.alerts,
            "rows_written": c.rows_written,
            "duplicates_skipped": c.duplicates_skipped,
            "db_errors": c.db_errors,
            "db_rows_rejected": c.db_rows_rejected,
            "db_rows_lost": c.db_rows_lost,
            "source_errors": c.source_errors,
            "pipeline_errors": c.pipeline_errors,
            "ws_dropped": ctx.bus.counters.dropped,
            "ws_disconnected_slow": ctx.bus.counters.disconnected_slow,
        },
    }
    return (503 if status == "failing" else 200), body
