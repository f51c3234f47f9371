"""``spoof_position_rf``: the drone's signal does not come from where it says it is.

The RF locator (:mod:`dronewatch.track.rf_locate`) fits, over a sliding window, where the
transmitter is relative to the broadcast positions and tests "the signal comes from the
broadcast positions" with a likelihood ratio (``lr_stat``, chi-square with 2 degrees of
freedom for an honest drone). This rule raises when that test rejects the broadcast
``confirm`` times in a row (consecutive refits, ``update_every_s`` apart) with an estimated
offset of at least ``min_offset_m``. It is a test over time, not a fixed distance: a small
offset seen by many sensors along a long path is caught, a large one seen through poor
geometry is not (its uncertainty is large). It says how far off the drone claims to be and
where the transmitter likely is (with its 1-sigma radius).

Tracks without RF estimates (fewer than 3 sensors with known sites, no RSSI, no broadcast
position) are never flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dronewatch.alerts.registry import Finding, Rule, register
from dronewatch.alerts.rules import identity
from dronewatch.model import Observation, Severity
from dronewatch.track.geo import bearing_deg, compass, format_distance

if TYPE_CHECKING:
    from dronewatch.track.tracker import TrackState


@register
class SpoofPositionRf(Rule):
    name = "spoof_position_rf"
    spoof = True

    @dataclass(slots=True, frozen=True)
    class Settings:
        # chi-square(2) survival 3.7e-6: an honest drone crosses it about once an hour of
        # refits, and needs to do so ``confirm`` times in a row
        lr_threshold: float = 25.0
        confirm: int = 2
        min_offset_m: float = 50.0
        critical_offset_m: float = 1000.0

    def check(self, st: TrackState, obs: Observation, memory: dict[str, Any]) -> Finding | None:
        est = st.rf
        if est is None or est.lr_stat is None or est.lat is None or est.lon is None:
            return None
        if memory.get("time") == est.time:  # no new refit since the last observation
            return None
        memory["time"] = est.time
        s = self.settings
        offset = est.offset_m or 0.0
        if est.lr_stat < s.lr_threshold or offset < s.min_offset_m:
            memory["count"] = 0
            return None
        memory["count"] = memory.get("count", 0) + 1
        if memory["count"] < s.confirm or est.claimed_lat is None or est.claimed_lon is None:
            return None
        where = compass(bearing_deg(est.lat, est.lon, est.claimed_lat, est.claimed_lon))
        error = f" ± {format_distance(est.error_m)}" if est.error_m is not None else ""
        message = (
            f"Drone {identity(st.track)} claims to be {format_distance(offset)} {where} of "
            f"where its signal comes from: transmitter likely at {est.lat:.5f}, {est.lon:.5f}"
            f"{error} ({len(est.sensors)} sensors): position spoofing?"
        )
        severity = Severity.CRITICAL if offset >= s.critical_offset_m else Severity.WARNING
        return Finding(severity, message, {
            "offset_m": round(offset, 1), "rf_lat": round(est.lat, 6),
            "rf_lon": round(est.lon, 6),
            "rf_error_m": round(est.error_m, 1) if est.error_m is not None else None,
            "lr_stat": round(est.lr_stat, 1), "sensors": list(est.sensors),
        })
