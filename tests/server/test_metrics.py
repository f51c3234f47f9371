"""``/metrics``: Prometheus text, behind a token, with the pipeline's counters."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.server.conftest import VIEWER
from tests.server.test_live import feed_capture


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def test_metrics_need_a_token(live: TestClient) -> None:
    assert live.get("/metrics").status_code == 401
    assert (
        live.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code
        == 401
    )


def test_metrics_count_the_pipeline(live: TestClient) -> None:
    before = samples(live.get("/metrics", headers=VIEWER).text)
    assert before[("dronewatch_frames_total", ())] == 0
    ctx = feed_capture(live)
    r = live.get("/metrics", headers=VIEWER)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got: dict[Any, float] = samples(r.text)
    assert all(name.startswith("dronewatch_") for name, _ in got)
    c = ctx.counters
    assert got[("dronewatch_frames_total", ())] == c.frames > 0
    assert got[("dronewatch_messages_total", ())] == c.messages == 105
    per_sensor = {k: v for k, v in got.items() if k[0] == "dronewatch_sensor_frames_total"}
    assert sum(per_sensor.values()) == c.frames  # every frame decoded, counted once
    assert all(dict(labels)["transport"] for _, labels in per_sensor)
    opened = {
        dict(labels)["rule"]: v
        for (name, labels), v in got.items()
        if name == "dronewatch_alert_events_total" and dict(labels)["status"] == "open"
    }
    assert opened.get("zone_entry", 0) >= 1
    assert (
        sum(v for (name, _), v in got.items() if name == "dronewatch_alert_events_total")
        == c.alerts
    )
    assert got[("dronewatch_db_rows_written_total", ())] == c.rows_written > 0
    assert got[("dronewatch_db_write_seconds_count", ())] == c.batches_written > 0
    assert got[("dronewatch_db_write_seconds_sum", ())] > 0
    assert ("dronewatch_tracks_live", ()) in got
    assert ("dronewatch_ws_dropped_total", ()) in got


def test_metrics_read_sink_stats(live: TestClient) -> None:
    class Stats:
        name = "webhook:http://x/hook"
        queue_depth, queue_max, queued, delivered, failed, dropped = 3, 100, 10, 6, 2, 1

    class Sinks:
        def stats(self) -> list[Stats]:
            return [Stats()]

    live.app.state.ctx.sinks = Sinks()  # type: ignore[attr-defined]
    got = samples(live.get("/metrics", headers=VIEWER).text)
    key = (("sink", "webhook:http://x/hook"),)
    assert got[("dronewatch_sink_queue_depth", key)] == 3
    assert got[("dronewatch_sink_failed_total", key)] == 2
    assert got[("dronewatch_sink_dropped_total", key)] == 1
