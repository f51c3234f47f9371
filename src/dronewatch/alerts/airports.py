"""Built-in airport layer: a circle around every aerodrome of the ``airportsdata`` package.

Protection radius (``radius_m``), documented defaults:

* ``DEFAULT_RADIUS_M`` = 4630 m (2.5 NM): about the UK aerodrome Flight Restriction Zone
  (2 NM around the runways' midpoint, extended along the runway ends) with a margin; a
  reasonable generic "near an aerodrome" alert radius.
* ``RADIUS_PRESETS``: ``uk-frz`` 3704 m (2 NM), ``us-5sm`` 8047 m (the US 5 statute mile
  airport notification radius), ``eu-5km`` 5000 m.

``airportsdata`` has no aerodrome type; ``kind="iata"`` keeps only aerodromes with an IATA code
(those with scheduled traffic, a good proxy for "airports with runways that matter"), ``"all"``
keeps every ICAO-listed aerodrome (about 28,000). ``countries`` filters by ISO 3166-1 alpha-2.
The layer is built only on request (``dronewatch analyze --airports``): it is large.
"""

from __future__ import annotations

from collections.abc import Iterable

from dronewatch.alerts.zones import Zone, ZoneSet
from dronewatch.model import Severity

DEFAULT_RADIUS_M = 4630.0
RADIUS_PRESETS: dict[str, float] = {
    "uk-frz": 3704.0,
    "us-5sm": 8046.72,
    "eu-5km": 5000.0,
}


def airport_zones(
    radius_m: float = DEFAULT_RADIUS_M,
    countries: Iterable[str] | None = None,
    *,
    kind: str = "all",
    codes: Iterable[str] | None = None,
    severity: Severity = Severity.WARNING,
    max_alt_m: float | None = None,
) -> ZoneSet:
    """A circle zone of ``radius_m`` around each selected aerodrome, named ``"ICAO name"``."""
    import airportsdata  # heavy: imported on demand

    if radius_m <= 0:
        raise ValueError(f"airport radius must be positive, got {radius_m}")
    if kind not in ("all", "iata"):
        raise ValueError(f"airport kind must be 'all' or 'iata', got {kind!r}")
    wanted = {c.strip().upper() for c in countries} if countries is not None else None
    code_set = {c.strip().upper() for c in codes} if codes is not None else None
    zones: list[Zone] = []
    for icao, ap in sorted(airportsdata.load("ICAO").items()):
        if wanted is not None and str(ap.get("country", "")).upper() not in wanted:
            continue
        if kind == "iata" and not ap.get("iata"):
            continue
        if code_set is not None and icao not in code_set and str(ap.get("iata", "")) not in code_set:
            continue
        lat, lon = float(ap["lat"]), float(ap["lon"])
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            continue
        zones.append(
            Zone.make_circle(
                f"airport:{icao}",
                f"{icao} {ap.get('name', '')}".strip(),
                lat,
                lon,
                radius_m,
                severity=severity,
                max_alt_m=max_alt_m,
                properties={"kind": "airport"},
            )
        )
    return ZoneSet(zones)
