"""Ground truth of a scenario: what each drone is, where it flew, where its pilot stood."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dronewatch.sim.engine import claimed_state, mac_at, prepare
from dronewatch.sim.scenario import Scenario

SAMPLE_INTERVAL_S = 1.0


@dataclass(slots=True)
class DroneTruth:
    """One drone of a scenario, as broadcast (spoofed values are what the drone claims)."""

    name: str
    kind: str
    transport: str
    uas_id: str
    serial: str
    operator_id: str | None
    product_type: int
    mac: str  # first transmitter address
    spoof: dict[str, Any] | None
    tx_start: float  # UTC epoch seconds
    tx_end: float
    home_lat: float
    home_lon: float
    pilot_lat: float  # real pilot position at the start
    pilot_lon: float
    # samples every second over the transmit window, as claimed
    times: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    height: list[float] = field(default_factory=list)
    alt: list[float] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)
    direction: list[float] = field(default_factory=list)
    operator_lat: list[float] = field(default_factory=list)
    operator_lon: list[float] = field(default_factory=list)

    def position_at(self, t: float) -> tuple[float, float, float]:
        """Interpolated claimed ``(lat, lon, height)`` at UTC epoch ``t``."""
        return (
            float(np.interp(t, self.times, self.lat)),
            float(np.interp(t, self.times, self.lon)),
            float(np.interp(t, self.times, self.height)),
        )

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def ground_truth(scenario: Scenario, seed: int = 0) -> list[DroneTruth]:
    """Per drone: identity, transport, 1 Hz claimed path samples, home and pilot positions."""
    frame, runtimes = prepare(scenario, seed)
    t0 = scenario.start_epoch
    out: list[DroneTruth] = []
    for rt in runtimes:
        d = rt.drone
        start = d.start_s
        end = max(start, rt.tx_end)
        times = np.arange(start, end, SAMPLE_INTERVAL_S)
        times = np.append(times, end) if len(times) == 0 or times[-1] < end else times
        c = claimed_state(rt, frame, times)
        real = rt.pilot.sample(times[:1])
        plat, plon = frame.to_latlon(real.east, real.north)
        spoof = d.spoof.model_dump(exclude_defaults=True) if d.spoof else None
        out.append(
            DroneTruth(
                name=d.name, kind=d.kind, transport=rt.transport.value, uas_id=rt.uas_id,
                serial=rt.serial, operator_id=rt.operator_id, product_type=rt.product_type,
                mac=mac_at(rt, start), spoof=spoof or None, tx_start=t0 + start,
                tx_end=t0 + end, home_lat=rt.home_lat, home_lon=rt.home_lon,
                pilot_lat=float(plat[0]), pilot_lon=float(plon[0]),
                times=(times + t0).tolist(), lat=c.lat.tolist(), lon=c.lon.tolist(),
                height=c.height.tolist(), alt=c.alt.tolist(),
                speed=np.hypot(c.v_east, c.v_north).tolist(), direction=c.heading.tolist(),
                operator_lat=c.pilot_lat.tolist(), operator_lon=c.pilot_lon.tolist(),
            )
        )
    return out
