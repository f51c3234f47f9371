"""``spoof_pilot_distance``: the drone is farther from its pilot than any consumer control
link reaches (``max_distance_m``, 15 km by default): its position (or its pilot's) is a lie.

Checked on every new fix of a track that knows its pilot's position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dronewatch.alerts.registry import Finding, Rule, register
from dronewatch.alerts.rules import identity
from dronewatch.model import Observation, Severity
from dronewatch.track.geo import M_PER_DEG, fast_distance_m, format_distance

if TYPE_CHECKING:
    from dronewatch.track.tracker import TrackState


@register
class SpoofPilotDistance(Rule):
    name = "spoof_pilot_distance"
    spoof = True

    @dataclass(slots=True, frozen=True)
    class Settings:
        max_distance_m: float = 15000.0

    def check(self, st: TrackState, obs: Observation, memory: dict[str, Any]) -> Finding | None:
        track = st.track
        lat, lon, olat, olon = track.lat, track.lon, track.operator_lat, track.operator_lon
        if not st.fresh_fix or lat is None or lon is None or olat is None or olon is None:
            return None
        limit = self.settings.max_distance_m
        box = limit / (M_PER_DEG * 1.5)  # surely nearer inside this box
        if abs(lat - olat) < box and abs(lon - olon) * math.cos(math.radians(lat)) < box:
            return None
        d = fast_distance_m(lat, lon, olat, olon)
        if d <= limit:
            return None
        return Finding(
            Severity.WARNING,
            f"Drone {identity(track)} is {format_distance(d)} from its pilot, beyond any "
            "consumer control link: position spoofing?",
            {"pilot_distance_m": round(d, 1)},
        )
