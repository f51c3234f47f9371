"""``spoof_rssi``: the signal at a sensor of known position is much stronger than the
claimed distance allows.

The strongest a signal can be at a distance is free-space path loss from ``max_eirp_dbm``
(1 W: above any legal 2.4/5.8 GHz drone transmitter) into a generous ``rx_gain_dbi``
antenna; an RSSI more than ``margin_db`` above it, ``min_count`` fixes in a row, means the
transmitter is much nearer than it claims. Needs the sensor positions
(``RulesConfig.sensor_positions``); for the position itself see ``spoof_position_rf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dronewatch.alerts.registry import Finding, Rule, register
from dronewatch.alerts.rules import free_space_rssi_dbm, identity
from dronewatch.model import Observation, Severity
from dronewatch.track.geo import fast_distance_m, format_distance

if TYPE_CHECKING:
    from dronewatch.track.tracker import TrackState


@register
class SpoofRssi(Rule):
    name = "spoof_rssi"
    spoof = True

    @dataclass(slots=True, frozen=True)
    class Settings:
        max_eirp_dbm: float = 30.0
        rx_gain_dbi: float = 10.0
        margin_db: float = 15.0
        min_count: int = 5
        frequency_hz: float = 2.44e9

    def check(self, st: TrackState, obs: Observation, memory: dict[str, Any]) -> Finding | None:
        positions = self.config.sensor_positions if self.config is not None else {}
        track = st.track
        lat, lon = track.lat, track.lon
        if not st.fresh_fix or obs.rssi_dbm is None or lat is None or lon is None:
            return None
        site = positions.get(obs.sensor_id)
        if site is None:
            return None
        s = self.settings
        d = fast_distance_m(site[0], site[1], lat, lon)
        excess = obs.rssi_dbm - free_space_rssi_dbm(d, s.max_eirp_dbm, s.rx_gain_dbi,
                                                    s.frequency_hz)
        if excess <= s.margin_db:
            memory["count"] = 0
            return None
        memory["count"] = memory.get("count", 0) + 1
        if memory["count"] < s.min_count:
            return None
        return Finding(
            Severity.WARNING,
            f"Drone {identity(track)}: signal at sensor {obs.sensor_id} is {excess:.0f} dB "
            f"stronger than its claimed distance of {format_distance(d)} allows: position "
            "spoofing?",
            {"sensor": obs.sensor_id, "excess_db": round(excess, 1)},
        )
