"""The sensors a server knows: its own (local live sources, its --position/--gps) and the
remote ones, whose status (the ``status`` map of their MQTT envelopes,
:func:`dronewatch.sources.mqtt.sensor_status`) the live sources keep in the
:class:`~dronewatch.sources.sensors.SensorBook`. ``/api/sensors`` reads :meth:`Sensors.list`.

Positions are kept in the store (so that a sensor stays on the map after a restart); the
live part (online, frames/s, drops, channel, last error of each source) is kept in memory.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

from dronewatch.sources.live import LiveSource
from dronewatch.sources.mqtt import STATUS_INTERVAL_S, sensor_status
from dronewatch.sources.position import FixedPosition, GpsdPosition
from dronewatch.sources.sensors import SensorBook
from dronewatch.store import Store, StoreError

log = logging.getLogger(__name__)

OFFLINE_AFTER_S = 3 * STATUS_INTERVAL_S  # no status for this long: the sensor is offline


def _number(value: Any, low: float, high: float) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        v = float(value)
        if math.isfinite(v) and low <= v <= high:
            return v
    return None


def position_of(status: dict[str, Any]) -> tuple[float, float, float | None] | None:
    """(lat, lon, alt) of a status map; ``None`` without a valid one (a sensor's status is
    input: absurd values are left out, never stored)."""
    lat = _number(status.get("lat"), -90.0, 90.0)
    lon = _number(status.get("lon"), -180.0, 180.0)
    if lat is None or lon is None:
        return None
    return lat, lon, _number(status.get("alt"), -1000.0, 20000.0)


class Sensors:
    def __init__(
        self,
        store: Store,
        local_id: str,
        local_sources: Sequence[LiveSource] = (),
        position: FixedPosition | GpsdPosition | None = None,
        book: SensorBook | None = None,
    ) -> None:
        self.store = store
        self.local_id = local_id
        self.local_sources = list(local_sources)
        self.position = position
        self.book = book
        self._stored: dict[str, tuple[float, float, float | None]] = {}

    @property
    def has_local(self) -> bool:
        return bool(self.local_sources) or self.position is not None

    def start(self) -> None:
        if self.position is not None:
            self.position.start()

    def stop(self) -> None:
        if self.position is not None:
            self.position.stop()

    def local_status(self) -> dict[str, Any]:
        where = self.position.current() if self.position is not None else None
        status = sensor_status(self.local_id, [s.health() for s in self.local_sources], where)
        self._remember(self.local_id, status)
        return status

    def _remember(self, sensor_id: str, status: dict[str, Any]) -> None:
        """Store the position when it changed."""
        where = position_of(status)
        if where is None or self._stored.get(sensor_id) == where:
            return
        try:
            self.store.put_sensor_position(sensor_id, *where, time.time())
            self._stored[sensor_id] = where
        except StoreError as exc:  # the database is failing: the status stays in memory
            log.error("%s", exc)

    def list(self) -> list[dict[str, Any]]:
        """Every sensor: stored counters and position, with the live status where known."""
        now = time.time()
        # sensor -> (status, local, when we last heard from it on our clock)
        statuses: dict[str, tuple[dict[str, Any], bool, float]] = {}
        if self.book is not None:
            for counters in self.book.snapshot():
                if counters.status is not None:
                    heard = counters.last_seen if counters.last_seen is not None else 0.0
                    statuses[counters.sensor_id] = (counters.status, False, heard)
                    self._remember(counters.sensor_id, counters.status)
        if self.has_local:
            statuses[self.local_id] = (self.local_status(), True, now)
        rows = {row["sensor_id"]: row for row in self.store.list_sensors()}
        out = []
        for sid in sorted(set(rows) | set(statuses)):
            row = rows.get(sid, {})
            info = dict(row.get("info") or {})
            rec: dict[str, Any] = {
                "sensor_id": sid,
                "lat": row.get("lat"),
                "lon": row.get("lon"),
                "alt": info.pop("alt", None),
                "first_seen": row.get("first_seen"),
                "last_seen": row.get("last_seen"),
                "frames": row.get("frames", 0),
                "local": False,
                "online": None,  # unknown: a sensor that sends no status
                "status_time": None,
                "position_source": None,
                "position_time": None,
                "frames_per_s": None,
                "drops": None,
                "sources": [],
                "version": None,
                "info": info,
            }
            found = statuses.get(sid)
            if found is not None:
                status, local, heard = found
                sources = [s for s in status.get("sources") or [] if isinstance(s, dict)]
                rec.update(
                    local=local,
                    online=status.get("online") is True and now - heard < OFFLINE_AFTER_S,
                    status_time=_number(status.get("time"), 0.0, math.inf),  # its clock
                    position_source=status.get("position_source"),
                    position_time=status.get("position_time"),
                    sources=sources,
                    frames_per_s=round(sum(_number(s.get("frames_per_s"), 0, math.inf) or 0.0
                                           for s in sources), 2),
                    drops=sum(int(_number(s.get("drops"), 0, math.inf) or 0) for s in sources),
                    version=status.get("version"),
                )
                where = position_of(status)
                if where is not None:
                    rec.update(lat=where[0], lon=where[1], alt=where[2])
            out.append(rec)
        return out
