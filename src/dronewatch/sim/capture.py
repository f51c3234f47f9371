"""Write a scenario as a pcapng capture, the way a sensor would have recorded it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dronewatch.model import Transport
from dronewatch.protocols.link import packet_from_frame
from dronewatch.sim.engine import iter_frames
from dronewatch.sim.scenario import Scenario, ScenarioError
from dronewatch.sources.pcap import PcapngWriter

# Frames that travel as IQ, not as link-layer packets (written by the PHY, not here).
IQ_ONLY = frozenset({Transport.DJI_OCUSYNC})


@dataclass(slots=True)
class CaptureSummary:
    path: str
    sensor: str
    packets: int = 0
    first_time: float | None = None
    last_time: float | None = None
    by_transport: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # e.g. "dji-ocusync: iq-only"
    drones: int = 0
    bytes_written: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "sensor": self.sensor, "packets": self.packets,
            "first_time": self.first_time, "last_time": self.last_time,
            "by_transport": dict(self.by_transport), "skipped": dict(self.skipped),
            "drones": self.drones, "bytes_written": self.bytes_written,
        }


def write_capture(
    scenario: Scenario,
    path: str | Path,
    *,
    seed: int = 0,
    duration: float | None = None,
    sensor: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> CaptureSummary:
    """Write what ``sensor`` (default: the first) receives as pcapng; returns a summary.

    ``progress`` is called with the scenario seconds done so far.
    """
    sensor_id = sensor if sensor is not None else scenario.sensors[0].id
    if sensor_id not in {s.id for s in scenario.sensors}:
        raise ScenarioError(f"no sensor {sensor_id!r} in scenario {scenario.name!r}")
    summary = CaptureSummary(path=str(path), sensor=sensor_id, drones=len(scenario.drones))
    t0 = scenario.start_epoch
    next_report = 0.0
    by_transport: Counter[str] = summary.by_transport
    writer = PcapngWriter(path)
    with writer:
        write = writer.write
        for frame in iter_frames(scenario, seed=seed, duration=duration, sensors=[sensor_id]):
            if frame.transport in IQ_ONLY:
                summary.skipped[f"{frame.transport.value}: iq-only"] += 1
                continue
            linktype, data = packet_from_frame(frame)
            write(frame.time, linktype, data)
            summary.packets += 1
            by_transport[frame.transport.value] += 1
            if summary.first_time is None:
                summary.first_time = frame.time
            summary.last_time = frame.time
            if progress is not None and frame.time - t0 >= next_report:
                progress(frame.time - t0)
                next_report = frame.time - t0 + 1.0
    if progress is not None:
        progress(duration if duration is not None else scenario.duration_s)
    summary.bytes_written = Path(path).stat().st_size
    return summary
