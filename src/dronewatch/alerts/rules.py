"""The alert rules: names, tunables (with documented defaults) and their sentences.

Rules (``Alert.rule``):

====================  ========================================================================
``zone_entry``        the drone is inside an active zone's volume (severity: the zone's)
``zone_approach``     on its current velocity the drone enters a zone within
                      ``approach_horizon_s`` (warning; critical under ``approach_critical_s``)
``altitude``          height above take-off/ground over ``altitude_limit_m`` (default 120 m;
                      critical over ``altitude_critical_m``)
``pilot_in_zone``     the pilot (operator position) is inside an active zone
``unknown_drone``     a whitelist is configured and none of the drone's IDs is on it
``drone_lost``        the drone went silent ``lost_after_s`` while inside or within
                      ``lost_near_m`` of a zone
``spoof_motion``      physically impossible motion: a position jump faster than
                      ``max_speed_ms`` (over at least ``jump_min_m``) from one transmitter,
                      or a reported speed over ``max_speed_ms``
``spoof_clone``       the same identity transmitted at about the same time from places
                      farther apart than flight allows (cloned identity)
====================  ========================================================================

Rules of the registry, one module each in :mod:`dronewatch.alerts.rulebook` (see
:mod:`dronewatch.alerts.registry`; settings in ``rule_settings``, off when in ``disabled``,
or, for the names in ``ALL_RULES``, when left out of ``enabled``):

====================  ========================================================================
``spoof_clock``       the offset between the sender's own timestamps and the capture time
                      jumps by more than ``tolerance_s`` within a track, or (when the
                      capture clock is trusted) exceeds ``clock_absolute_tolerance_s``
                      (replayed or fabricated messages)
``spoof_pilot_distance``  drone farther than ``max_distance_m`` (15 km) from its pilot (no
                      consumer control link reaches that far)
``spoof_rssi``        the signal at a sensor of known position is much stronger than the
                      claimed distance allows (free-space path loss from ``max_eirp_dbm``
                      plus ``margin_db``), ``min_count`` times in a row
``spoof_position_rf`` the RF position estimate from the RSSI at 3 or more sensors rejects the
                      broadcast positions (likelihood-ratio test over time); says how far off
                      the drone claims to be and where the transmitter likely is
====================  ========================================================================

Zone and altitude rules use only fixes reachable from the track's last trusted fix (at
``max_speed_ms`` plus ``jump_min_m``): a teleporting spoofer's fake positions raise
``spoof_motion``, not zone alerts. A new place reported for ``retrust_after_s`` is trusted.

Hysteresis: a zone or altitude episode closes after its condition has been false for
``close_hold_s`` and, for zones, after the drone is ``exit_margin_m`` outside the zone (or
``alt_margin_m`` outside its altitude band); spoofing episodes close after ``spoof_hold_s``
without new evidence; every episode of a track closes when the track ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dronewatch.model import Track
from dronewatch.track.geo import bearing_deg, compass, fast_distance_m, format_distance

ZONE_ENTRY = "zone_entry"
ZONE_APPROACH = "zone_approach"
ALTITUDE = "altitude"
PILOT_IN_ZONE = "pilot_in_zone"
UNKNOWN_DRONE = "unknown_drone"
DRONE_LOST = "drone_lost"
SPOOF_MOTION = "spoof_motion"
SPOOF_CLONE = "spoof_clone"
SPOOF_PILOT_DISTANCE = "spoof_pilot_distance"
SPOOF_CLOCK = "spoof_clock"
SPOOF_RSSI = "spoof_rssi"

ALL_RULES = (
    ZONE_ENTRY, ZONE_APPROACH, ALTITUDE, PILOT_IN_ZONE, UNKNOWN_DRONE, DRONE_LOST,
    SPOOF_MOTION, SPOOF_CLONE, SPOOF_PILOT_DISTANCE, SPOOF_CLOCK, SPOOF_RSSI,
)
SPOOF_RULES = frozenset({SPOOF_MOTION, SPOOF_CLONE, SPOOF_PILOT_DISTANCE, SPOOF_CLOCK, SPOOF_RSSI})


@dataclass(slots=True)
class RulesConfig:
    """Tunables of the rules. Distances in metres, times in seconds, speeds in m/s."""

    enabled: frozenset[str] = frozenset(ALL_RULES)
    # altitude
    altitude_limit_m: float = 120.0
    altitude_critical_m: float = 180.0
    # zones
    approach_horizon_s: float = 30.0
    approach_critical_s: float = 10.0
    approach_min_speed_ms: float = 1.0
    exit_margin_m: float = 20.0
    alt_margin_m: float = 5.0
    close_hold_s: float = 10.0
    zone_cache_m: float = 1000.0  # per-track nearby-zone cache margin (performance only)
    # drone lost
    lost_after_s: float = 10.0
    lost_near_m: float = 500.0
    # unknown drone
    unknown_grace_s: float = 5.0  # wait this long for an identity before flagging
    # spoofing
    max_speed_ms: float = 100.0  # no consumer drone is faster (racing records aside)
    jump_min_m: float = 300.0
    retrust_after_s: float = 10.0  # an unreachable new place is believed after this long
    clone_min_m: float = 1000.0
    # an offset flagged on its own: only when the capture clock is trusted (sensors with NTP
    # or GPS time); off by default since raw IQ files carry no time and sniffers without a
    # real-time clock stamp 1970
    clock_absolute_tolerance_s: float | None = None
    sensor_positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    spoof_hold_s: float = 60.0
    # rules of the registry (dronewatch.alerts.rulebook): all run unless named in disabled;
    # their settings by rule name (default: the rule's own Settings())
    disabled: frozenset[str] = frozenset()
    rule_settings: dict[str, Any] = field(default_factory=dict)
    # restart: an episode open when the server stopped continues if its drone meets the rule
    # again within this long, else it closes
    resume_window_s: float = 120.0


def identity(track: Track) -> str:
    """How alerts name a drone: UAS ID, else serial, else operator ID, else MAC, else id."""
    if track.uas_id:
        return track.uas_id
    if track.serial:
        return track.serial
    if track.operator_id:
        return f"of operator {track.operator_id}"
    if track.sources:
        return f"MAC {min(track.sources)}"
    return f"track {track.track_id}"


def pilot_phrase(track: Track) -> str:
    """'; pilot 1.2 km SW' (where the pilot is, seen from the drone), or ''."""
    if (
        track.operator_lat is None
        or track.operator_lon is None
        or track.lat is None
        or track.lon is None
    ):
        return ""
    d = fast_distance_m(track.lat, track.lon, track.operator_lat, track.operator_lon)
    if d < 10.0:
        return "; pilot right below"
    b = bearing_deg(track.lat, track.lon, track.operator_lat, track.operator_lon)
    return f"; pilot {format_distance(d)} {compass(b)}"


def alt_phrase(track: Track) -> str:
    if track.height is not None:
        return f" at {track.height:.0f} m"
    if track.alt is not None:
        return f" at {track.alt:.0f} m altitude"
    return ""


def free_space_rssi_dbm(distance_m: float, eirp_dbm: float, gain_dbi: float, freq_hz: float) -> float:
    """Received power in free space (the strongest a signal can be at that distance)."""
    d = max(distance_m, 1.0)
    fspl = 20.0 * math.log10(d) + 20.0 * math.log10(freq_hz) - 147.55
    return eirp_dbm + gain_dbi - fspl
