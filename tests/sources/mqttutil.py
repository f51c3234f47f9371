"""Helpers of the MQTT tests: the real Mosquitto broker on 127.0.0.1:1883."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from dronewatch.model import Frame
from dronewatch.sources.mqtt import MqttSource

BROKER_HOST, BROKER_PORT = "127.0.0.1", 1883
BROKER_URL = f"mqtt://{BROKER_HOST}:{BROKER_PORT}"


def require_broker() -> None:
    """Fail (never skip) when the broker is not there: these tests are part of CI."""
    try:
        socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=2.0).close()
    except OSError as exc:
        pytest.fail(
            f"no MQTT broker on {BROKER_HOST}:{BROKER_PORT} ({exc}): start Mosquitto "
            "(apt install mosquitto; mosquitto -d) to run the tests marked mqtt",
            pytrace=False,
        )


def unique_prefix() -> str:
    """A topic prefix no other test run publishes under."""
    return f"dronewatch-test/{uuid.uuid4().hex[:12]}"


TEST_SESSION_EXPIRY_S = 60  # the sessions tests leave on the shared broker expire soon


def short_lived_source(url: str, prefix: str, **kw: object) -> MqttSource:
    """An ``MqttSource`` whose persistent session the shared broker forgets soon."""
    kw.setdefault("session_expiry_s", TEST_SESSION_EXPIRY_S)
    return MqttSource(url, prefix, **kw)  # type: ignore[arg-type]


class Received:
    """Frames an ``MqttSource`` yields, collected in a thread (each batch acknowledged once
    collected: this consumer stores nothing)."""

    def __init__(self, source: MqttSource) -> None:
        self.source = source
        self.frames: list[Frame] = []
        self.batches = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for batch in self.source:
            self.frames.extend(batch.frames)
            self.batches += 1
            if batch.ack is not None:
                batch.ack()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Frame]:
        deadline = time.monotonic() + timeout
        while len(self.frames) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.frames)


@contextmanager
def receiving(source: MqttSource) -> Iterator[Received]:
    """``source`` started and read in a thread, subscribed when this is entered."""
    received = Received(source)
    source.start()
    received._thread.start()
    try:
        assert source.subscribed.wait(10.0), "the source did not subscribe within 10 s"
        yield received
    finally:
        source.stop()
        received._thread.join(5.0)
        assert not received._thread.is_alive(), "the source did not stop after close()"
