"""``/metrics``: the server's counters in the Prometheus text format (prometheus-client).

Nothing on the hot path: a collector reads, at each scrape, the counters the service keeps
anyway (``/health`` and ``/api/stats`` show the same numbers). Every metric is prefixed
``dronewatch_``; rates (frames/s per sensor and transport, per live source) are
``rate(...)`` of the ``_total`` counters in PromQL.

Sinks (TAK, webhooks, syslog, MQTT out, notifications): ``ctx.sinks.stats()``, labelled by
sink name and kind.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dronewatch import __version__

if TYPE_CHECKING:
    from dronewatch.server.context import AppContext

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"dronewatch_{name}", doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"dronewatch_{name}", doc, value=value)


class ServerCollector(Collector):
    """Everything ``/metrics`` says about one server (``AppContext``)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        ctx = self.ctx
        c = ctx.counters
        info = GaugeMetricFamily("dronewatch_info", "The server's version.", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info
        yield _gauge(
            "uptime_seconds", "Seconds since the server started.", time.time() - ctx.started
        )

        # -- frames in ------------------------------------------------------------------
        yield _counter("frames", "Frames taken by the pipeline (every source).", c.frames)
        by_sensor = CounterMetricFamily(
            "dronewatch_sensor_frames",
            "Frames decoded, by sensor and transport.",
            labels=["sensor", "transport"],
        )
        for (sensor, transport), n in sorted(c.frames_by_sensor.copy().items()):
            by_sensor.add_metric([sensor, str(transport)], n)
        yield by_sensor
        yield _counter(
            "frames_rejected",
            "Frames refused at the edge (too old, ahead, malformed).",
            c.frames_rejected,
        )
        yield _counter("messages", "Messages decoded.", c.messages)
        yield _counter("observations", "Observations fed to the tracker.", c.observations)
        skipped = CounterMetricFamily(
            "dronewatch_decode_skipped", "Frames or messages skipped, by reason.", labels=["reason"]
        )
        for reason, n in sorted(c.decode.skipped.copy().items()):
            skipped.add_metric([reason], n)
        yield skipped
        yield from self._sources()
        yield from self._sensors()

        # -- tracks and alerts ------------------------------------------------------------
        yield _gauge("tracks_live", "Tracks in the active state.", self._live_tracks())
        alerts = CounterMetricFamily(
            "dronewatch_alert_events",
            "Alert events, by rule and status (open, update, closed).",
            labels=["rule", "status"],
        )
        for (rule, status), n in sorted(c.alert_events.copy().items()):
            alerts.add_metric([rule, str(status)], n)
        yield alerts

        # -- database -----------------------------------------------------------------------
        yield _counter("db_rows_written", "Rows written to the database.", c.rows_written)
        yield _counter("db_batches_written", "Batches written to the database.", c.batches_written)
        yield _counter("db_errors", "Database errors (each write is retried).", c.db_errors)
        yield _counter(
            "db_rows_lost",
            "Rows given up at shutdown while the database could not write.",
            c.db_rows_lost,
        )
        rejected = CounterMetricFamily(
            "dronewatch_db_rows_rejected",
            "Rows the database refused, by reason.",
            labels=["reason"],
        )
        for reason, n in sorted(c.db_reject_reasons.copy().items()):
            rejected.add_metric([reason], n)
        yield rejected
        yield _counter(
            "duplicates_skipped",
            "Redelivered sensor batches the store already held.",
            c.duplicates_skipped,
        )
        yield _gauge("db_failing", "1 while database writes are failing.", float(c.degraded))
        yield from c.db_write_seconds.collect()
        if ctx.writer is not None:
            yield _gauge(
                "db_write_queue_depth", "Batches waiting for the writer.", ctx.writer.queue.qsize()
            )
            yield _gauge(
                "db_write_queue_max",
                "Most batches the writer queue holds.",
                ctx.writer.queue.maxsize,
            )
        yield _counter("pipeline_errors", "Messages the pipeline failed on.", c.pipeline_errors)
        yield _counter("source_errors", "Replay sources that failed.", c.source_errors)

        # -- live stream --------------------------------------------------------------------
        b = ctx.bus.counters
        yield _gauge("ws_clients", "Live-stream (WebSocket) clients.", len(ctx.bus.clients))
        yield _counter("ws_dropped", "Track updates dropped for slow WebSocket clients.", b.dropped)
        yield _counter(
            "ws_disconnected_slow",
            "WebSocket clients disconnected for being too slow.",
            b.disconnected_slow,
        )
        yield from self._sinks()

    def _live_tracks(self) -> int:
        if self.ctx.processor is None:
            return 0
        with contextlib.suppress(RuntimeError):  # changed size while counting: next scrape
            tracks = list(self.ctx.processor.pipeline.tracks.values())
            return sum(1 for t in tracks if t.state == "active")
        return 0

    def _sources(self) -> Iterator[Metric]:
        live = self.ctx.live
        health = live.health() if live is not None else []
        labels = ["source", "kind"]
        frames = CounterMetricFamily(
            "dronewatch_source_frames", "Frames received by a live source.", labels=labels
        )
        drops = CounterMetricFamily(
            "dronewatch_source_drops",
            "Frames a live source dropped (pipeline behind).",
            labels=labels,
        )
        errors = CounterMetricFamily(
            "dronewatch_source_errors", "Failures of a live source.", labels=labels
        )
        queued = GaugeMetricFamily(
            "dronewatch_source_queue_depth",
            "Batches waiting in a live source's queue.",
            labels=labels,
        )
        up = GaugeMetricFamily(
            "dronewatch_source_up", "1 while a live source works.", labels=labels
        )
        rate = GaugeMetricFamily(
            "dronewatch_source_frames_per_second",
            "Frames a live source received per second, lately (its own rate window).",
            labels=labels,
        )
        for h in health:
            key = [h.name, h.kind]
            frames.add_metric(key, h.frames)
            rate.add_metric(key, h.frames_per_s)
            drops.add_metric(key, h.drops)
            errors.add_metric(key, h.errors)
            queued.add_metric(key, h.queued)
            up.add_metric(key, float(h.ok))
        yield from (frames, rate, drops, errors, queued, up)

    def _sensors(self) -> Iterator[Metric]:
        live = self.ctx.live
        book = live.book if live is not None else None
        sensors = book.snapshot() if book is not None else []
        received = CounterMetricFamily(
            "dronewatch_sensor_received_frames",
            "Frames received from a remote sensor (through the broker).",
            labels=["sensor"],
        )
        refused = CounterMetricFamily(
            "dronewatch_sensor_refused",
            "Frames or batches refused, by sensor and reason.",
            labels=["sensor", "reason"],
        )
        missing = CounterMetricFamily(
            "dronewatch_sensor_batches_missing",
            "Batches of a sensor that never arrived.",
            labels=["sensor"],
        )
        for s in sensors:
            received.add_metric([s.sensor_id], s.frames)
            missing.add_metric([s.sensor_id], s.batches_missing)
            for reason, n in sorted(s.rejected.items()):
                refused.add_metric([s.sensor_id, reason], n)
        yield from (received, refused, missing)

    def _sinks(self) -> Iterator[Metric]:
        labels = ["sink", "kind"]
        gauges = {
            "queue_depth": "Events waiting for a sink (webhooks: rows in the outbox).",
            "queue_max": "Most events a sink's queue holds.",
            "connected": "1 while a sink's last send worked.",
            "alive": "1 while a sink's worker thread runs.",
        }
        counters = {
            "queued": "Events accepted by a sink.",
            "delivered": "Events a sink delivered.",
            "failed": "Failed send attempts of a sink (webhooks retry them).",
            "dropped": "Events a sink dropped (queue full, given up at shutdown).",
            "skipped": "Events a sink left out on purpose (rate limited, no position).",
        }
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            **{
                k: GaugeMetricFamily(f"dronewatch_sink_{k}", doc, labels=labels)
                for k, doc in gauges.items()
            },
            **{
                k: CounterMetricFamily(f"dronewatch_sink_{k}", doc, labels=labels)
                for k, doc in counters.items()
            },
        }
        for st in self.ctx.sinks.stats():
            for attr, family in families.items():
                family.add_metric([st.name, st.kind], float(getattr(st, attr)))
        yield from families.values()


def render(ctx: AppContext) -> bytes:
    """The Prometheus text exposition of ``ctx``'s metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(ctx))
    return generate_latest(registry)
