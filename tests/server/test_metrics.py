"""``/metrics``: Prometheus text, behind a token, with the pipeline's counters."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.server.conftest import CAPTURE, VIEWER, make_settings
from tests.server.test_live import feed_capture
from tests.server.test_live_sources import BrokenSource, CaptureSource
from tests.sinks.receivers import UdpReceiver, wait_for

from dronewatch.server.app import create_app
from dronewatch.sinks.settings import SinkSettings
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.live import LiveSet


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


def test_metrics_count_a_real_sink(tmp_path: Path) -> None:
    rx = UdpReceiver()
    target = f"udp://127.0.0.1:{rx.port}"
    app = create_app(make_settings(tmp_path, sinks=SinkSettings(syslog=[target])))
    try:
        with TestClient(app) as client:
            feed_capture(client)  # raises alerts: each goes to the syslog receiver
            wait_for(lambda: len(rx.datagrams) >= 1, what="a syslog datagram")
            wait_for(lambda: app.state.ctx.sinks.stats()[0].delivered >= 1, what="the sink's count")
            sink = app.state.ctx.sinks.stats()[0]
            got = samples(client.get("/metrics", headers=VIEWER).text)
            key = (("kind", sink.kind), ("sink", sink.name))
            delivered = got[("dronewatch_sink_delivered_total", key)]
            # Every delivery counted reaches the receiver (alerts may still be on their way
            # while the page is read: it is compared with what has arrived once they are in).
            wait_for(lambda: len(rx.datagrams) >= delivered, what="the counted datagrams")
    finally:
        app.state.ctx.store.close()
        rx.close()
    assert delivered >= 1
    assert got[("dronewatch_sink_alive", key)] == 1
    assert got[("dronewatch_sink_queue_max", key)] > 0
    assert got[("dronewatch_sink_dropped_total", key)] == 0


def test_metrics_per_live_source_and_sensor(tmp_path: Path) -> None:
    recorded = list(open_capture(CAPTURE, CaptureOptions(sensor_id="mast")))
    shift = time.time() - recorded[0].time
    frames = [msgspec.structs.replace(f, time=f.time + shift) for f in recorded]
    app = create_app(make_settings(tmp_path))
    ctx = app.state.ctx
    source = CaptureSource(frames, 5, lambda: 0)
    ctx.live = LiveSet([source, BrokenSource("wifi:wlan9")])
    with TestClient(app) as client:
        assert source.all_acked.wait(30.0)
        got = samples(client.get("/metrics", headers=VIEWER).text)
    ok = (("kind", "test-capture"), ("source", "test:capture"))
    broken = (("kind", "test-broken"), ("source", "wifi:wlan9"))
    assert got[("dronewatch_source_frames_total", ok)] == len(frames)
    assert got[("dronewatch_source_up", ok)] == 1 and got[("dronewatch_source_up", broken)] == 0
    assert ("dronewatch_source_frames_per_second", ok) in got
    mast = sum(
        v
        for (name, labels), v in got.items()
        if name == "dronewatch_sensor_frames_total" and dict(labels)["sensor"] == "mast"
    )
    assert mast == len(frames)
