"""Simulated live data for ``dronewatch demo``: a built-in scenario played in real time, looped."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator

from dronewatch.model import Frame
from dronewatch.server.service import FrameSource


def scenario_source(name: str, *, seed: int = 1, loops: int | None = None) -> FrameSource:
    """Frames of scenario ``name`` started at the current time, looping ``loops`` times
    (forever if ``None``); each loop starts where the previous one ended. The scenario's start
    time is moved (rather than the frames' times) so that the times the drones broadcast agree
    with the reception times."""

    def frames() -> Iterable[Frame]:
        from dronewatch.sim import iter_frames, load_scenario

        scenario = load_scenario(name)
        duration = scenario.duration_s

        def gen() -> Iterator[Frame]:
            base = time.time()
            k = 0
            while loops is None or k < loops:
                start = dt.datetime.fromtimestamp(base + k * duration, dt.UTC)
                yield from iter_frames(scenario.model_copy(update={"start_time": start}), seed=seed)
                k += 1

        return gen()

    return frames


def scenario_center(name: str) -> tuple[float, float]:
    """The scenario's origin (lat, lon), to centre the map on."""
    from dronewatch.sim import load_scenario
    from dronewatch.sim.engine import resolve_origin

    lat, lon, _alt = resolve_origin(load_scenario(name))
    return lat, lon


def scenario_sensors(name: str) -> list[tuple[str, float, float]]:
    """The scenario's sensors as (sensor id, lat, lon): where the map draws them."""
    from dronewatch.sim import load_scenario
    from dronewatch.sim.engine import resolve_origin
    from dronewatch.sim.flight import LocalFrame

    scenario = load_scenario(name)
    lat0, lon0, _ground = resolve_origin(scenario)
    frame = LocalFrame.at(lat0, lon0)
    out = []
    for s in scenario.sensors:
        east, north = frame.place(s)
        out.append((s.id, lat0 + north / frame.m_per_deg_lat, lon0 + east / frame.m_per_deg_lon))
    return out
