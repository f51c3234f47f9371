"""``spoof_clock``: the sender's own timestamps against the capture time.

A constant offset is normal (either clock may be off, test transmitters send made-up times),
so the rule compares each message with the offset its (message type, sensor) stream started
with: a jump of more than ``tolerance_s`` means messages from another clock (replayed or
injected). An offset is flagged on its own only beyond ``RulesConfig.
clock_absolute_tolerance_s``, when set (the capture clock is trusted: sensors with NTP or GPS
time; off by default since raw IQ files carry no time and sniffers without a real-time clock
stamp 1970).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dronewatch.alerts.registry import Finding, Rule, register
from dronewatch.alerts.rules import identity
from dronewatch.model import Observation, Severity
from dronewatch.track.geo import format_duration

if TYPE_CHECKING:
    from dronewatch.track.tracker import TrackState


@register
class SpoofClock(Rule):
    name = "spoof_clock"
    spoof = True

    @dataclass(slots=True, frozen=True)
    class Settings:
        tolerance_s: float = 30.0  # jump of the sender-vs-capture clock offset

    def check(self, st: TrackState, obs: Observation, memory: dict[str, Any]) -> Finding | None:
        if obs.sender_time is None:
            return None
        skew = obs.sender_time - obs.time
        limit = self.config.clock_absolute_tolerance_s if self.config is not None else None
        if limit is not None and abs(skew) > limit:
            reason = (f"its clock is {format_duration(abs(skew))} "
                      f"{'ahead of' if skew > 0 else 'behind'} the capture time")
        else:
            base_by: dict[tuple[str, str], float] = memory.setdefault("base", {})
            key = (obs.message_type, obs.sensor_id)
            base = base_by.get(key)
            if base is None:
                base_by[key] = skew
                return None
            dev = skew - base
            if obs.message_type == "location":  # seconds-after-the-hour: modulo an hour
                dev = (dev + 1800.0) % 3600.0 - 1800.0
            if abs(dev) <= self.settings.tolerance_s:
                base_by[key] = base + 0.1 * dev  # follow slow drift
                return None
            reason = f"its clock jumped {format_duration(abs(dev))} against the capture time"
            base_by[key] = skew  # one jump is one piece of evidence, not many
        return Finding(Severity.WARNING,
                       f"Drone {identity(st.track)}: {reason}: replayed or spoofed messages?",
                       {"skew_s": round(skew, 3)})
