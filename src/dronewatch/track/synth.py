"""Synthetic observation streams with known truth, for tests and benchmarks of the tracker
and the rules (no wire format involved; the scenario simulator in ``dronewatch.sim`` covers
the full chain from frames).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dronewatch.model import Observation, Transport
from dronewatch.track.geo import bearing_deg, destination, fast_distance_m


def make_obs(
    time: float,
    *,
    transport: Transport = Transport.WIFI_BEACON,
    message_type: str = "location",
    **fields: Any,
) -> Observation:
    """An observation with the given fields (anything not given is ``None``/default)."""
    return Observation(time=time, transport=transport, message_type=message_type, **fields)


@dataclass(slots=True)
class Flight:
    """A drone flying straight legs between waypoints at constant speed and height.

    ``observations`` yields one Location-like observation per ``period_s`` carrying the
    identity, position, height, speed, direction and the pilot position.
    """

    uas_id: str | None
    waypoints: list[tuple[float, float]]  # (lat, lon)
    speed: float = 10.0  # m/s
    height: float = 60.0  # m above take-off
    ground_alt: float = 50.0  # m, geodetic altitude of the take-off point
    start: float = 1_700_000_000.0
    period_s: float = 1.0
    pilot: tuple[float, float] | None = None
    source: str | None = "02:00:00:00:00:01"
    transport: Transport = Transport.WIFI_BEACON
    sensor_id: str = "local"
    serial: str | None = None
    id_type: str | None = "serial_number"
    extra: dict[str, Any] = field(default_factory=dict)

    def positions(self) -> Iterator[tuple[float, float, float, float]]:
        """(time, lat, lon, direction) every ``period_s`` along the legs."""
        t = self.start
        for (lat1, lon1), (lat2, lon2) in zip(self.waypoints, self.waypoints[1:], strict=False):
            leg = fast_distance_m(lat1, lon1, lat2, lon2)
            hdg = bearing_deg(lat1, lon1, lat2, lon2)
            d = 0.0
            while d < leg:
                lat, lon = destination(lat1, lon1, hdg, d)
                yield t, lat, lon, hdg
                t += self.period_s
                d += self.speed * self.period_s
        lat, lon = self.waypoints[-1]
        yield t, lat, lon, 0.0

    def observations(self) -> Iterator[Observation]:
        serial = self.serial
        if serial is None and self.id_type == "serial_number":
            serial = self.uas_id
        for t, lat, lon, hdg in self.positions():
            yield Observation(
                time=t, transport=self.transport, message_type="location",
                sensor_id=self.sensor_id, source=self.source, uas_id=self.uas_id,
                id_type=self.id_type if self.uas_id else None, serial=serial,
                lat=lat, lon=lon, alt_geo=self.ground_alt + self.height, height=self.height,
                speed=self.speed, direction=hdg, vspeed=0.0,
                operator_lat=self.pilot[0] if self.pilot else None,
                operator_lon=self.pilot[1] if self.pilot else None,
                **self.extra,
            )


def merge_streams(*streams: Iterator[Observation]) -> list[Observation]:
    """All observations of several streams in time order (stable for equal times)."""
    out = [o for s in streams for o in s]
    out.sort(key=lambda o: o.time)
    return out
