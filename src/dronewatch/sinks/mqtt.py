"""The sensor end of the sensor network: frames -> batches -> MQTT (``dronewatch sensor``).

The wire format and the server's end are in :mod:`dronewatch.sources.mqtt`. Each batch is an
envelope numbered in a session that is new each time the publisher is made (random), so that
the server stores every batch once, even when the broker or the sensor resends it, and even
across a restart of the sensor (the new session's numbers cannot collide with the old's).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from dronewatch.model import Frame
from dronewatch.sources.live import LiveSet
from dronewatch.sources.mqtt import (
    BATCH_FRAMES,
    BATCH_INTERVAL_S,
    DEFAULT_TOPIC_PREFIX,
    KEEPALIVE_S,
    QOS,
    STATUS_INTERVAL_S,
    Envelope,
    TlsFiles,
    frames_topic,
    new_client,
    parse_broker_url,
    refusal_text,
    seal,
)


class BrokerError(Exception):
    """The broker cannot be reached or refused us."""


class FramePublisher:
    """Publishes batches of frames for one sensor, QoS 1, each in a numbered envelope,
    signed with ``key`` when given.

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
        key: bytes | None = None,
        tls_files: TlsFiles | None = None,
        session: str | None = None,
    ) -> None:
        self.broker = parse_broker_url(url, tls_files)
        self.sensor_id = sensor_id
        self.topic = frames_topic(topic_prefix, sensor_id)
        self.key = key
        self.session = session or secrets.token_hex(8)
        self.seq = 0  # the next batch's number in the session
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
        try:
            client = new_client(self.broker, f"dronewatch-sensor-{self.sensor_id}"[:64])
        except ValueError as exc:  # TLS files
            raise BrokerError(str(exc)) from exc
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        try:
            client.connect(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise BrokerError(f"cannot reach the MQTT broker {self.broker}: {exc}") from exc
        client.loop_start()
        self._client = client
        if not self._connected.wait(timeout) or self._refused is not None:
            self.close(0.0)
            raise BrokerError(self._refused or f"MQTT broker {self.broker}: no answer to CONNECT")

    def publish(
        self, frames: list[Frame], *, wait: bool = False, status: dict[str, Any] | None = None
    ) -> bool:
        """Queue one batch (with the sensor's ``status``, if given); ``False`` if it was
        dropped (too many messages pending)."""
        envelope = Envelope(self.sensor_id, self.session, self.seq, time.time(), frames, status)
        self.seq += 1  # a dropped batch leaves a gap: the server counts it as missing
        payload = seal(envelope, self.key)
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
            self._refused = refusal_text(self.broker, reason)
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


def publish_live(
    live: LiveSet,
    publisher: FramePublisher,
    status: Callable[[], dict[str, Any]],
    stop: threading.Event,
    *,
    batch_frames: int = BATCH_FRAMES,
    batch_interval: float = BATCH_INTERVAL_S,
    status_interval: float = STATUS_INTERVAL_S,
) -> None:
    """Publish what live sources receive, in batches of up to ``batch_frames`` frames, none
    held longer than ``batch_interval`` s, with ``status()`` in a batch (or alone) every
    ``status_interval`` s, until ``stop`` is set or every source is done. A batch the broker
    cannot take in time is dropped and counted (``publisher.dropped_frames``): a receiver
    cannot wait."""
    pending: list[Frame] = []
    acks: list[Callable[[], None]] = []
    deadline = math.inf
    next_status = time.monotonic()

    def flush(with_status: bool) -> None:
        nonlocal pending, acks, deadline, next_status
        state = status() if with_status else None
        if with_status:
            next_status = time.monotonic() + status_interval
        if not pending and state is not None:
            publisher.publish([], status=state)
        for i in range(0, len(pending), batch_frames):
            publisher.publish(pending[i : i + batch_frames], status=state if i == 0 else None)
        for ack in acks:
            ack()
        pending, acks, deadline = [], [], math.inf

    while not stop.is_set():
        now = time.monotonic()
        if now >= next_status:
            flush(True)
        batch = live.get(max(0.0, min(deadline, next_status, now + 0.25) - now))
        if batch is not None:
            if not pending:
                deadline = time.monotonic() + batch_interval
            pending += batch.frames
            if batch.ack is not None:
                acks.append(batch.ack)
        elif live.done:
            break
        if len(pending) >= batch_frames or time.monotonic() >= deadline:
            flush(False)
    flush(True)
