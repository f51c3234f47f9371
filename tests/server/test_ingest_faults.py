"""Faults on the ingest path: alerts are stored before they are shown and not raised twice
after a restart; a dead writer or pipeline thread is restarted; a full database keeps the
backlog in the broker (nothing acknowledged) and everything comes in once it has room."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.server.conftest import CAPTURE, UAS_ID, VIEWER_TOKEN, make_settings
from tests.server.ingestutil import count_observations, observation_keys, stored_keys, wait_for
from tests.sources.mqttutil import BROKER_URL, require_broker, unique_prefix

from dronewatch.model import Frame
from dronewatch.server import health as health_module
from dronewatch.server.app import create_app
from dronewatch.server.context import AppContext
from dronewatch.sinks.mqtt import FramePublisher, publish_frames
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.live import LiveSet, LiveSource
from dronewatch.store import Store


def as_live(t0: float, sensor: str = "mast") -> list[Frame]:
    recorded = list(open_capture(CAPTURE, CaptureOptions(sensor_id=sensor)))
    shift = t0 - recorded[0].time
    return [msgspec.structs.replace(f, time=f.time + shift) for f in recorded]


class Feed(LiveSource):
    """Hands over the batches put in ``todo`` (acknowledging nothing), until stopped."""

    kind = "test-feed"

    def __init__(self) -> None:
        super().__init__("test:feed")
        self.todo: list[list[Frame]] = []
        self.resyncs = 0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            while self.todo:
                self.emit(self.todo.pop(0))
            stop.wait(0.02)

    def resync(self) -> None:
        self.resyncs += 1


def app_with_feed(tmp_path: Path) -> tuple[Any, Feed]:
    app = create_app(make_settings(tmp_path))
    feed = Feed()
    app.state.ctx.live = LiveSet([feed])
    return app, feed


def zone_alerts(store: Store) -> list[dict[str, Any]]:
    return [a for a in store.list_alerts(status="all") if a["uas_id"] == UAS_ID]


def test_an_alert_is_shown_only_once_stored(tmp_path: Path) -> None:
    app, feed = app_with_feed(tmp_path)
    ctx: AppContext = app.state.ctx
    with TestClient(app) as client, client.websocket_connect(f"/api/stream?token={VIEWER_TOKEN}") as ws:
        assert json.loads(ws.receive_text())["kind"] == "hello"
        feed.todo.append(as_live(time.time() - 20))
        for _ in range(1000):
            msg = json.loads(ws.receive_text())
            if msg["kind"] == "alert":
                # At the moment the event is seen, its row is in the database.
                assert ctx.store.get_alert(msg["alert"]["alert_id"]) is not None
                break
        else:
            raise AssertionError("no alert event")


def written(ctx: AppContext) -> bool:
    assert ctx.writer is not None and ctx.processor is not None
    return ctx.writer.queue.unfinished_tasks == 0 and not ctx.processor.pending_rows


def test_alerts_are_not_raised_again_after_a_restart(tmp_path: Path) -> None:
    app, feed = app_with_feed(tmp_path)
    with TestClient(app):
        ctx: AppContext = app.state.ctx
        feed.todo.append(as_live(time.time() - 10))
        rules = lambda: {a["rule"] for a in zone_alerts(ctx.store)}  # noqa: E731
        wait_for(lambda: {"zone_entry", "pilot_in_zone"} <= rules(), 30, "the zone alerts")
        wait_for(lambda: written(ctx), 30, "the writes")
        first = {a["alert_id"]: a["rule"] for a in zone_alerts(ctx.store)}
    # The server restarts on the same database; the drone is still in the zone.
    app, feed = app_with_feed(tmp_path)
    with TestClient(app):
        ctx = app.state.ctx
        feed.todo.append(as_live(time.time() - 2))
        wait_for(lambda: ctx.counters.observations >= 105, 30, "the frames")
        wait_for(lambda: written(ctx), 30, "the writes")
        time.sleep(0.5)
        again = {a["alert_id"]: a["rule"] for a in zone_alerts(ctx.store)}
        assert again == first  # the same episodes continue: no second OPEN of any
        assert ctx.counters.alerts == 0  # nothing raised anew
        by_rule = {a["rule"]: a for a in zone_alerts(ctx.store)}
        assert by_rule["zone_entry"]["status"] == "open"


class Die(BaseException):
    """Ends a thread the way no ``except Exception`` catches."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_writer_or_pipeline_thread_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, feed = app_with_feed(tmp_path)
    ctx: AppContext = app.state.ctx
    with TestClient(app) as client:
        assert ctx.writer is not None and ctx.service is not None and ctx.processor is not None
        real_write = ctx.store.write
        calls = {"n": 0}

        def write_dies_once(batch: Any) -> int:
            calls["n"] += 1
            if calls["n"] == 1:
                raise Die
            return real_write(batch)

        monkeypatch.setattr(ctx.store, "write", write_dies_once)
        frames = as_live(time.time() - 20)
        feed.todo.append(frames[:10])
        wait_for(lambda: ctx.writer.restarts == 1, 20, "the writer restart")  # type: ignore[union-attr]
        # The new writer thread wrote the batch the dead one held.
        wait_for(lambda: count_observations(ctx.store) == sum(observation_keys(frames[:10]).values()),
                 20, "the held batch")
        real_handle = ctx.processor.handle
        handled = {"n": 0}

        def handle_dies_once(decoded: Any) -> int:
            handled["n"] += 1
            if handled["n"] == 1:
                raise Die
            return real_handle(decoded)

        monkeypatch.setattr(ctx.processor, "handle", handle_dies_once)
        feed.todo.append(frames[10:])
        wait_for(lambda: ctx.service.restarts == 1, 20, "the pipeline restart")  # type: ignore[union-attr]
        # Its source is asked to deliver again what was lost (just after the restart is counted).
        wait_for(lambda: feed.resyncs == 1, 20, "the source's resync")
        feed.todo.append(frames[10:])  # (a test feed cannot redeliver: send again)
        wait_for(lambda: stored_keys(ctx.store) == observation_keys(frames), 20, "all frames")
        h = client.get("/health").json()
        assert h["threads"]["writer"]["restarts"] == 1 and h["threads"]["pipeline"]["restarts"] == 1
        assert h["threads"]["writer"]["alive"] and h["threads"]["pipeline"]["alive"]
        assert "the writer thread died and was restarted (1)" in h["causes"]
        assert "the pipeline thread died and was restarted (1)" in h["causes"]


@pytest.mark.mqtt
def test_a_full_database_keeps_the_backlog_in_the_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite "full" (max_page_count): nothing is acknowledged, /health fails with HTTP 503
    and says why; the server stops meanwhile; started again with room, it gets everything
    from the broker, stored once."""
    require_broker()
    monkeypatch.setattr(health_module, "FAILING_AFTER_S", 1.0)
    prefix = unique_prefix()
    client_id = f"dw-full-{uuid.uuid4().hex[:12]}"
    settings: Callable[[], Any] = lambda: make_settings(  # noqa: E731
        tmp_path, mqtt=BROKER_URL, mqtt_topic_prefix=prefix, mqtt_client_id=client_id,
        mqtt_session_expiry_s=120,
    )
    frames = as_live(time.time() - 30, "roof")
    app = create_app(settings())
    ctx: AppContext = app.state.ctx
    with ctx.store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    def full(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    sa.event.listen(ctx.store.engine, "connect", full)
    ctx.store.engine.dispose()
    with TestClient(app) as client:
        assert ctx.live is not None and ctx.live.sources[0].subscribed.wait(20)  # type: ignore[attr-defined]
        publisher = FramePublisher(BROKER_URL, "roof", topic_prefix=prefix)
        publisher.connect()
        publish_frames(frames, publisher, pace=False, batch_frames=4)
        assert publisher.close() == 0

        def failing() -> bool:
            r = client.get("/health")
            return r.status_code == 503 and r.json()["status"] == "failing"

        wait_for(failing, 30, "/health failing")
        causes = " ".join(client.get("/health").json()["causes"])
        assert "database writes failing" in causes and "full" in causes
        # What fitted before the database filled up is acknowledged, nothing else.
        acked = ctx.live.sources[0].acks_sent  # type: ignore[attr-defined]
    store = Store.open(tmp_path / "dw.db")
    with store.engine.connect() as conn:
        committed = conn.exec_driver_sql("SELECT count(*) FROM ingest_batches").scalar()
    assert acked == committed and committed < publisher.messages
    assert count_observations(store) < sum(observation_keys(frames).values())
    # Room again: a new server on the same database takes the backlog from the broker.
    app = create_app(settings())
    with TestClient(app):
        store = app.state.ctx.store
        wait_for(lambda: stored_keys(store) == observation_keys(frames), 30, "the backlog")
