"""The sensor end of the sensor network: frames -> batches -> MQTT (``dronewatch sensor``).

The wire format and the server's end are in :mod:`dronewatch.sources.mqtt`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from dronewatch.model import Frame
from dronewatch.sources.mqtt import (
    BATCH_FRAMES,
    BATCH_INTERVAL_S,
    DEFAULT_TOPIC_PREFIX,
    KEEPALIVE_S,
    QOS,
    encode_batch,
    frames_topic,
    new_client,
    parse_broker_url,
)


class BrokerError(Exception):
    """The broker cannot be reached or refused us."""


class FramePublisher:
    """Publishes batches of frames for one sensor, QoS 1.

    paho's network thread reconnects after a broker restart and resends what was not
    acknowledged. At most ``max_pending`` messages wait for their acknowledgement: beyond that
    :meth:`publish` drops the batch (counted) or, with ``wait``, blocks until there is room.
    """

    def __init__(
        self,
        url: str,
        sensor_id: str,
        *,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        max_pending: int = 1000,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.broker = parse_broker_url(url)
        self.sensor_id = sensor_id
        self.topic = frames_topic(topic_prefix, sensor_id)
        self.max_pending = max_pending
        self.on_event = on_event  # connection news for people (the CLI prints it)
        self.messages = 0  # published (queued in paho)
        self.frames = 0
        self.dropped_messages = 0
        self.dropped_frames = 0
        self._pending: set[int] = set()  # message ids not yet acknowledged
        self._acked_early: set[int] = set()  # acknowledged before publish() recorded them
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._refused: str | None = None
        self._closing = False
        self._client: Any = None

    @property
    def pending(self) -> int:
        """Messages published and not yet acknowledged by the broker."""
        with self._cond:
            return len(self._pending)

    def connect(self, timeout: float = 10.0) -> None:
        """Connect (``BrokerError`` if the broker cannot be reached within ``timeout``)."""
        client = new_client(self.broker, f"dronewatch-sensor-{self.sensor_id}"[:64])
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        try:
            client.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        except OSError as exc:
            raise BrokerError(f"cannot reach the MQTT broker {self.broker}: {exc}") from exc
        client.loop_start()
        self._client = client
        if not self._connected.wait(timeout) or self._refused is not None:
            self.close(0.0)
            raise BrokerError(
                f"MQTT broker {self.broker}: {self._refused or 'no answer to CONNECT'}"
            )

    def publish(self, frames: list[Frame], *, wait: bool = False) -> bool:
        """Queue one batch; ``False`` if it was dropped (too many messages pending)."""
        payload = encode_batch(frames)
        with self._cond:
            while len(self._pending) >= self.max_pending:
                if not wait:
                    self.dropped_messages += 1
                    self.dropped_frames += len(frames)
                    return False
                self._cond.wait(0.5)
        # Outside our lock: paho calls _on_publish holding its own (the lock order).
        info = self._client.publish(self.topic, payload, qos=QOS)
        with self._cond:
            if info.mid in self._acked_early:
                self._acked_early.discard(info.mid)
            else:
                self._pending.add(info.mid)
        self.messages += 1
        self.frames += len(frames)
        return True

    def close(self, timeout: float = 10.0) -> int:
        """Wait up to ``timeout`` s for the acknowledgements, disconnect; messages unsent."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending and time.monotonic() < deadline:
                self._cond.wait(min(0.1, max(deadline - time.monotonic(), 0.0)))
            unsent = len(self._pending)
            self._closing = True
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        return unsent

    # -- paho's network thread ------------------------------------------------------------

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._refused = f"refused the connection: {reason}"
        elif self._connected.is_set() and self.on_event is not None:
            self.on_event(f"reconnected to {self.broker}")
        self._connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if not self._closing and self.on_event is not None:
            self.on_event(f"lost the broker {self.broker} ({reason}); reconnecting")

    def _on_publish(
        self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        with self._cond:
            if mid in self._pending:
                self._pending.discard(mid)
            else:  # acknowledged before publish() returned
                self._acked_early.add(mid)
            self._cond.notify_all()


#: The longest wait between two frames when publishing at the recorded pace.
MAX_PACE_GAP_S = 10.0


def publish_frames(
    frames: Iterable[Frame],
    publisher: FramePublisher,
    *,
    pace: bool = True,
    as_live: bool = False,
    batch_frames: int = BATCH_FRAMES,
    batch_interval: float = BATCH_INTERVAL_S,
    stop: threading.Event | None = None,
    max_gap: float = MAX_PACE_GAP_S,
    on_gap: Callable[[float, float], None] | None = None,
) -> None:
    """Publish ``frames`` in batches of up to ``batch_frames``, none held longer than
    ``batch_interval`` s.

    ``pace``: at their recorded pace (a frame older than the one before restarts the clock; a
    jump forward longer than ``max_gap`` s waits ``max_gap`` s, and ``on_gap(gap, max_gap)``
    says so), dropping batches the broker cannot take in time, as a live sensor must;
    otherwise as fast as the broker acknowledges. ``as_live``: times shifted so that the
    first frame is now (and a cut gap is cut from the times too).
    """
    batch: list[Frame] = []
    deadline = math.inf  # monotonic time by which the batch goes out
    t0: float | None = None
    start = 0.0
    last = 0.0
    shift: float | None = None
    wait = not pace

    def flush() -> None:
        nonlocal batch, deadline
        if batch:
            publisher.publish(batch, wait=wait)
        batch, deadline = [], math.inf

    for frame in frames:
        if stop is not None and stop.is_set():
            break
        if pace:
            if t0 is None or frame.time < t0:
                t0, start = frame.time, time.monotonic()
            elif frame.time - last > max_gap:  # e.g. a clock set during the capture
                gap = frame.time - last
                t0 += gap - max_gap
                if shift is not None:
                    shift -= gap - max_gap
                if on_gap is not None:
                    on_gap(gap, max_gap)
            last = frame.time
            target = start + (frame.time - t0)
            if deadline <= target:  # the batch is due before this frame
                _sleep_until(deadline, stop)
                flush()
            _sleep_until(target, stop)
        if as_live:
            if shift is None:
                shift = time.time() - frame.time
            frame = msgspec.structs.replace(frame, time=frame.time + shift)
        if not batch:
            deadline = time.monotonic() + batch_interval
        batch.append(frame)
        if len(batch) >= batch_frames or time.monotonic() >= deadline:
            flush()
    flush()


def _sleep_until(when: float, stop: threading.Event | None) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)
