"""The alert options ``serve`` and ``analyze`` share (and the configuration file's
``[alerts]`` table): the airport layer, the altitude limit, sensor positions, the clock check
and whether drones missing from the whitelist raise ``unknown_drone``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dronewatch.alerts.airports import DEFAULT_KIND, DEFAULT_RADIUS_M, airport_zones
from dronewatch.alerts.rules import RulesConfig
from dronewatch.alerts.whitelist import Whitelist
from dronewatch.alerts.zones import ZoneSet

#: Airports kept around a site's known positions (sensors, the map's centre), by default.
DEFAULT_AIRPORT_WITHIN_KM = 100.0


@dataclass(slots=True)
class AlertOptions:
    """What the alert rules are told besides zones and the whitelist."""

    airports: bool = False  # a protection circle around aerodromes
    airport_radius_m: float = DEFAULT_RADIUS_M
    airport_countries: tuple[str, ...] = ()  # ISO 3166-1 alpha-2; () = any
    airport_kind: str = DEFAULT_KIND  # major (large and medium), iata, all
    # only airports this far from a known position (None: wherever they are); without any
    # known position, every airport of the kind and countries
    airport_within_km: float | None = DEFAULT_AIRPORT_WITHIN_KM
    altitude_limit_m: float = 120.0
    sensor_positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    max_clock_offset_s: float | None = None
    # unknown_drone: None = when the whitelist lists at least one ID (an empty whitelist
    # would make every drone "unknown"); True = always (every drone not listed, even with an
    # empty list); False = never
    unknown_drone: bool | None = None

    def rules_config(self) -> RulesConfig:
        return RulesConfig(
            altitude_limit_m=self.altitude_limit_m,
            altitude_critical_m=max(self.altitude_limit_m + 60.0, 180.0),
            sensor_positions=dict(self.sensor_positions),
            clock_absolute_tolerance_s=self.max_clock_offset_s,
        )

    def airport_layer(self, known: Iterable[tuple[float, float]] = ()) -> ZoneSet | None:
        """The airport zones (``None`` without ``airports``): of ``airport_kind`` and
        ``airport_countries``, within ``airport_within_km`` of the sensor positions and
        ``known`` points when there are any."""
        if not self.airports:
            return None
        points = [*self.sensor_positions.values(), *known]
        within = self.airport_within_km if points else None
        return airport_zones(
            self.airport_radius_m,
            self.airport_countries or None,
            kind=self.airport_kind,
            near=points,
            within_m=within * 1000.0 if within is not None else None,
        )

    def rule_whitelist(self, whitelist: Whitelist | None) -> Whitelist | None:
        """The whitelist the ``unknown_drone`` rule checks against, or ``None`` (rule off)."""
        if self.unknown_drone is False:
            return None
        if self.unknown_drone is True:
            return whitelist if whitelist is not None else Whitelist()
        return whitelist if whitelist is not None and len(whitelist) else None
