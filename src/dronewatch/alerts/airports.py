"""Built-in airport layer: a circle around every aerodrome of the ``airportsdata`` package.

Protection radius (``radius_m``), documented defaults:

* ``DEFAULT_RADIUS_M`` = 4630 m (2.5 NM): about the UK aerodrome Flight Restriction Zone
  (2 NM around the runways' midpoint, extended along the runway ends) with a margin; a
  reasonable generic "near an aerodrome" alert radius.
* ``RADIUS_PRESETS``: ``uk-frz`` 3704 m (2 NM), ``us-5sm`` 8047 m (the US 5 statute mile
  airport notification radius), ``eu-5km`` 5000 m.

Which aerodromes (``kind``): ``"major"`` (the default) keeps the large and medium airports of
OurAirports (about 5,200 worldwide, the runways the map draws; the data ships in the package),
not every strip; ``"iata"`` keeps the ``airportsdata`` aerodromes with an IATA code (those
with scheduled traffic), ``"all"`` every ICAO-listed aerodrome (about 28,000).
``countries`` filters by ISO 3166-1 alpha-2; ``near`` and ``within_m`` keep those within that
distance of one of the given points (a site's area: its sensors, the map's centre).
The layer is built only on request (``--airports``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any

from dronewatch.alerts.zones import Zone, ZoneSet
from dronewatch.model import Severity
from dronewatch.track.geo import haversine_m

DEFAULT_RADIUS_M = 4630.0
RADIUS_PRESETS: dict[str, float] = {
    "uk-frz": 3704.0,
    "us-5sm": 8046.72,
    "eu-5km": 5000.0,
}
AIRPORT_KINDS = ("major", "iata", "all")
DEFAULT_KIND = "major"
# the map's airport layer: large and medium airports of OurAirports (scripts/extract_runways.py)
_MAJOR = ("web", "static/vendor/ourairports/runways.json")


def parse_radius(text: str | float) -> float:
    """Metres from a number or a preset name (``RADIUS_PRESETS``); ``ValueError`` if neither."""
    if isinstance(text, int | float):
        return float(text)
    radius = RADIUS_PRESETS.get(text.strip())
    if radius is not None:
        return radius
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"airport radius: not a number of metres or a preset ({', '.join(RADIUS_PRESETS)}): "
            f"{text!r}"
        ) from None


def _aerodromes(kind: str) -> Iterator[tuple[str, str, str, float, float, str]]:
    """(ICAO/ident, IATA, name, lat, lon, country) of every aerodrome of ``kind``."""
    import airportsdata  # heavy: imported on demand

    icao: dict[str, Any] = airportsdata.load("ICAO")
    if kind == "major":
        data = json.loads(
            resources.files("dronewatch")
            .joinpath(*_MAJOR[0].split("/"), _MAJOR[1])
            .read_text(encoding="utf-8")
        )
        by_iata: dict[str, Any] | None = None
        for row in data["airports"]:
            ident, iata, name, lat, lon = row[0], row[1], row[2], row[3], row[4]
            ap = icao.get(ident)
            if ap is None and iata:
                if by_iata is None:
                    by_iata = airportsdata.load("IATA")
                ap = by_iata.get(iata)
            if ap is not None:  # airportsdata's names, as for the other kinds
                name, country = str(ap.get("name") or name), str(ap.get("country", ""))
            else:
                country = ""
            yield ident, iata, name, float(lat), float(lon), country
        return
    for code, ap in sorted(icao.items()):
        if kind == "iata" and not ap.get("iata"):
            continue
        yield (
            code,
            str(ap.get("iata", "")),
            str(ap.get("name", "")),
            float(ap["lat"]),
            float(ap["lon"]),
            str(ap.get("country", "")),
        )


def airport_zones(
    radius_m: float = DEFAULT_RADIUS_M,
    countries: Iterable[str] | None = None,
    *,
    kind: str = DEFAULT_KIND,
    codes: Iterable[str] | None = None,
    near: Iterable[tuple[float, float]] = (),
    within_m: float | None = None,
    severity: Severity = Severity.WARNING,
    max_alt_m: float | None = None,
) -> ZoneSet:
    """A circle zone of ``radius_m`` around each selected aerodrome, named ``"ICAO name"``.
    With ``within_m``, only aerodromes within that distance of a point of ``near``."""
    if radius_m <= 0:
        raise ValueError(f"airport radius must be positive, got {radius_m}")
    if kind not in AIRPORT_KINDS:
        raise ValueError(f"airport kind must be one of {', '.join(AIRPORT_KINDS)}, got {kind!r}")
    wanted = {c.strip().upper() for c in countries} if countries is not None else None
    code_set = {c.strip().upper() for c in codes} if codes is not None else None
    points = list(near)
    zones: list[Zone] = []
    for icao, iata, name, lat, lon, country in _aerodromes(kind):
        if wanted is not None and country.upper() not in wanted:
            continue
        if code_set is not None and icao not in code_set and iata not in code_set:
            continue
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            continue
        if within_m is not None and not any(
            haversine_m(lat, lon, p_lat, p_lon) <= within_m for p_lat, p_lon in points
        ):
            continue
        zones.append(
            Zone.make_circle(
                f"airport:{icao}",
                f"{icao} {name}".strip(),
                lat,
                lon,
                radius_m,
                severity=severity,
                max_alt_m=max_alt_m,
                properties={"kind": "airport"},
            )
        )
    return ZoneSet(zones)
