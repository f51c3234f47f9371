"""``serve --mqtt``: live frames from a sensor, through the real broker, into the server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import CAPTURE, UAS_ID, VIEWER, make_settings
from tests.sources.mqttutil import BROKER_URL, require_broker, unique_prefix

from dronewatch.server.app import create_app
from dronewatch.sinks.mqtt import FramePublisher, publish_frames
from dronewatch.sources import CaptureOptions, open_capture


@pytest.mark.mqtt
def test_sensor_frames_become_live_tracks(tmp_path: Path) -> None:
    require_broker()
    prefix = unique_prefix()
    app = create_app(make_settings(tmp_path, mqtt=BROKER_URL, mqtt_topic_prefix=prefix))
    with TestClient(app) as client:
        ctx = app.state.ctx
        assert ctx.service is not None and ctx.service.realtime_clock
        assert ctx.live.sources[0].subscribed.wait(10.0)
        publisher = FramePublisher(BROKER_URL, "roof", topic_prefix=prefix)
        publisher.connect()
        frames = open_capture(CAPTURE, CaptureOptions(sensor_id="roof"))
        publish_frames(frames, publisher, pace=False, as_live=True)
        assert publisher.close() == 0
        # No frame follows the last ones: their results must come out all the same.
        deadline = time.monotonic() + 5.0
        drones: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            drones = client.get("/api/drones", headers=VIEWER).json()
            sensors = client.get("/api/sensors", headers=VIEWER).json()
            if drones and sensors and sensors[0]["frames"] == 21:
                break
            time.sleep(0.05)
        assert [d["uas_id"] for d in drones] == [UAS_ID]
        assert drones[0]["state"] == "active"  # as-live times on the wall clock
        assert [s["sensor_id"] for s in sensors] == ["roof"]
        assert sensors[0]["frames"] == 21  # frames, as from the replayed capture (test_api)
    assert not ctx.service._thread.is_alive()  # the live source ended with the app


def test_mqtt_with_replay_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be combined"):
        create_app(make_settings(tmp_path, mqtt=BROKER_URL, replay=[CAPTURE]))


def test_bad_broker_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="broker URL"):
        create_app(make_settings(tmp_path, mqtt="127.0.0.1:1883"))
