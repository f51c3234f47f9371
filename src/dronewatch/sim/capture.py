"""Write a scenario as a pcapng capture, the way a sensor would have recorded it, and its DJI
OcuSync bursts as a SigMF IQ recording (:mod:`.iq_capture`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dronewatch.model import Transport
from dronewatch.protocols.link import default_linktype, packet_from_frame
from dronewatch.sim.engine import TRANSPORT_OF_KIND, iter_frames, mhz_of, sensor_sites
from dronewatch.sim.iq_capture import MAX_SECONDS, BurstRecorder, IqSummary
from dronewatch.sim.scenario import Scenario, ScenarioError
from dronewatch.sources.pcap import PcapngWriter

# Frames that travel as IQ, not as link-layer packets (written by the PHY, not in the pcapng).
IQ_ONLY = frozenset({Transport.DJI_OCUSYNC})


@dataclass(slots=True)
class CaptureSummary:
    path: str
    sensor: str  # the sensor ids written, comma-separated
    packets: int = 0
    first_time: float | None = None
    last_time: float | None = None
    by_transport: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # e.g. "dji-ocusync: iq-only"
    drones: int = 0
    bytes_written: int = 0
    iq: IqSummary | None = None  # the OcuSync IQ recording, when one was written

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "sensor": self.sensor, "packets": self.packets,
            "first_time": self.first_time, "last_time": self.last_time,
            "by_transport": dict(self.by_transport), "skipped": dict(self.skipped),
            "drones": self.drones, "bytes_written": self.bytes_written,
            "iq": self.iq.to_json() if self.iq is not None else None,
        }


def write_capture(
    scenario: Scenario,
    path: str | Path,
    *,
    seed: int = 0,
    duration: float | None = None,
    sensor: str | None = None,
    progress: Callable[[float], None] | None = None,
    iq_path: str | Path | None = None,
    iq_max_seconds: float = MAX_SECONDS,
) -> CaptureSummary:
    """Write what every sensor of the scenario (or only ``sensor``) receives as pcapng;
    returns a summary.

    Each sensor has its own interfaces in the capture, named by its id and giving its position
    (:func:`~dronewatch.sources.pcap.leading_sensors` reads them back; every frame read keeps
    the id of the sensor that received it). With ``iq_path`` (a SigMF base name or ``.sigmf-meta`` path) and OcuSync drones in the
    scenario, their bursts also go to a SigMF recording there, at most ``iq_max_seconds`` long
    (see :mod:`.iq_capture`); otherwise they are counted as skipped. ``progress`` is called
    with the scenario seconds done so far.
    """
    if sensor is not None and sensor not in {s.id for s in scenario.sensors}:
        raise ScenarioError(f"no sensor {sensor!r} in scenario {scenario.name!r}")
    chosen = [s for s in scenario.sensors if sensor is None or s.id == sensor]
    ids = [s.id for s in chosen]
    summary = CaptureSummary(path=str(path), sensor=",".join(ids), drones=len(scenario.drones))
    sites = sensor_sites(scenario)
    linktypes = sorted({default_linktype(TRANSPORT_OF_KIND[d.kind]) for d in scenario.drones
                        if TRANSPORT_OF_KIND[d.kind] not in IQ_ONLY})
    iq_sensor = ids[0]  # the IQ recording is one receiver's
    t0 = scenario.start_epoch
    next_report = 0.0
    by_transport: Counter[str] = summary.by_transport
    recorder: BurstRecorder | None = None
    with ExitStack() as stack:
        writer = PcapngWriter(path)
        stack.enter_context(writer)
        write = writer.write
        for sid in ids:  # every interface up front, before the first packet
            for lt in linktypes:
                writer.sensor_interface(lt, sid, sites[sid])
        if iq_path is not None and any(d.kind == "dji-ocusync" for d in scenario.drones):
            recorder = stack.enter_context(BurstRecorder(
                iq_path, center_freq_hz=mhz_of(Transport.DJI_OCUSYNC, 0) * 1e6,
                max_seconds=iq_max_seconds, seed=seed,
            ))
        for frame in iter_frames(scenario, seed=seed, duration=duration, sensors=ids):
            if progress is not None and frame.time - t0 >= next_report:
                progress(frame.time - t0)
                next_report = frame.time - t0 + 1.0
            if frame.transport in IQ_ONLY:
                if frame.sensor_id != iq_sensor:
                    continue
                if recorder is None:
                    summary.skipped[f"{frame.transport.value}: iq-only"] += 1
                else:
                    recorder.add(frame)
                continue
            linktype, data = packet_from_frame(frame)
            write(frame.time, linktype, data, frame.sensor_id)
            summary.packets += 1
            by_transport[frame.transport.value] += 1
            if summary.first_time is None:
                summary.first_time = frame.time
            summary.last_time = frame.time
    if recorder is not None:  # closed by the ExitStack: metadata written
        summary.iq = recorder.summary
        for reason, n in summary.iq.skipped.items():
            summary.skipped[f"{Transport.DJI_OCUSYNC.value}: {reason}"] += n
    if progress is not None:
        progress(duration if duration is not None else scenario.duration_s)
    summary.bytes_written = Path(path).stat().st_size
    return summary
