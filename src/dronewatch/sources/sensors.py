"""What the server knows of each sensor that sends it data: frames taken and refused (by
reason), batches that never arrived, redeliveries, the sensor's clock offset, its last status.

Filled by the live sources (message-level: signature, wire format) and by the pipeline
(frame-level: :func:`dronewatch.sources.validate.frame_problem`), read by ``/health``.
Thread-safe: paho's network thread, the pipeline thread and the API threads all use it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

OFFSET_SAMPLES = 64  # clock offset: the largest of the last this many (sent - received)
RECENT_S = 300.0  # a refusal or a missing batch this recent makes the health degraded


@dataclass(slots=True)
class SensorCounters:
    sensor_id: str
    messages: int = 0  # MQTT messages (or batches) received
    frames: int = 0  # frames taken
    rejected: Counter[str] = field(default_factory=Counter)  # frames or messages, by reason
    duplicates: int = 0  # batches received again (redelivered) and not stored twice
    batches_missing: int = 0  # gaps in the sensor's batch numbers (lost before reaching us)
    last_seen: float | None = None  # server clock (UTC epoch s)
    last_problem: float | None = None  # monotonic time of the last refusal or gap
    last_reason: str | None = None
    offsets: deque[float] = field(default_factory=lambda: deque(maxlen=OFFSET_SAMPLES))
    status: dict[str, Any] | None = None  # the last status the sensor sent

    @property
    def clock_offset_s(self) -> float | None:
        """How far the sensor's clock is ahead of the server's (negative: behind), from the
        least delayed of its recent messages (their send time against their arrival)."""
        return max(self.offsets) if self.offsets else None

    def problem_is_recent(self, now_mono: float) -> bool:
        return self.last_problem is not None and now_mono - self.last_problem < RECENT_S

    def to_json(self) -> dict[str, Any]:
        offset = self.clock_offset_s
        return {
            "sensor_id": self.sensor_id,
            "messages": self.messages,
            "frames": self.frames,
            "rejected": dict(self.rejected),
            "duplicates": self.duplicates,
            "batches_missing": self.batches_missing,
            "last_seen": self.last_seen,
            "last_problem": self.last_reason,
            "clock_offset_s": None if offset is None else round(offset, 3),
            "status": self.status,
        }


class SensorBook:
    """Per-sensor counters (see module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sensors: dict[str, SensorCounters] = {}

    def _get(self, sensor_id: str) -> SensorCounters:
        s = self._sensors.get(sensor_id)
        if s is None:
            s = self._sensors[sensor_id] = SensorCounters(sensor_id)
        return s

    def received(
        self,
        sensor_id: str,
        frames: int,
        *,
        sent: float | None = None,
        received: float | None = None,
        status: dict[str, Any] | None = None,
    ) -> None:
        """A message (batch) of ``frames`` frames arrived; ``sent``: the sensor's clock when it
        was sent, ``received``: the server's when it arrived (for the clock offset)."""
        now = time.time() if received is None else received
        with self._lock:
            s = self._get(sensor_id)
            s.messages += 1
            s.frames += frames
            s.last_seen = now
            if sent is not None:
                s.offsets.append(sent - now)
            if status is not None:
                s.status = status

    def reject(self, sensor_id: str, reason: str, n: int = 1) -> None:
        """``n`` frames (or one message) of ``sensor_id`` refused for ``reason``."""
        with self._lock:
            s = self._get(sensor_id)
            s.rejected[reason] += n
            s.last_problem = time.monotonic()
            s.last_reason = reason

    def taken_back(self, sensor_id: str, n: int) -> None:
        """``n`` frames counted as taken were refused after all (by the pipeline's checks)."""
        with self._lock:
            self._get(sensor_id).frames -= n

    def duplicate(self, sensor_id: str) -> None:
        with self._lock:
            self._get(sensor_id).duplicates += 1

    def missing(self, sensor_id: str, n: int) -> None:
        """``n`` batches are missing (``n`` < 0: some arrived late after all)."""
        with self._lock:
            s = self._get(sensor_id)
            s.batches_missing += n
            if n > 0:
                s.last_problem = time.monotonic()
                s.last_reason = "batches missing"

    def snapshot(self) -> list[SensorCounters]:
        """A copy of every sensor's counters, by sensor id."""
        with self._lock:
            out = []
            for sid in sorted(self._sensors):
                s = self._sensors[sid]
                out.append(
                    SensorCounters(
                        sid,
                        s.messages,
                        s.frames,
                        Counter(s.rejected),
                        s.duplicates,
                        s.batches_missing,
                        s.last_seen,
                        s.last_problem,
                        s.last_reason,
                        deque(s.offsets, maxlen=OFFSET_SAMPLES),
                        s.status,
                    )
                )
            return out

    def rejected_total(self) -> int:
        with self._lock:
            return sum(sum(s.rejected.values()) for s in self._sensors.values())
