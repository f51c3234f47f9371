"""The alert options ``serve`` and ``analyze`` share, given to the command as one
``alert_options`` argument (:class:`dronewatch.alerts.options.AlertOptions`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from dronewatch.alerts.airports import (
    AIRPORT_KINDS,
    DEFAULT_KIND,
    DEFAULT_RADIUS_M,
    RADIUS_PRESETS,
    parse_radius,
)
from dronewatch.alerts.options import DEFAULT_AIRPORT_WITHIN_KM, AlertOptions

F = TypeVar("F", bound=Callable[..., Any])

_NAMES = (
    "airports",
    "airport_radius",
    "airport_countries",
    "airport_kind",
    "airport_within",
    "sensor_positions",
    "altitude_limit",
    "max_clock_offset",
    "unknown_drone",
)


def parse_sensor_position(spec: str) -> tuple[str, tuple[float, float]]:
    """``"ID=LAT,LON"`` -> (ID, (lat, lon)); ``ValueError`` if malformed."""
    try:
        sid, latlon = spec.split("=", 1)
        lat_s, lon_s = latlon.split(",", 1)
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise ValueError(f"expected ID=LAT,LON, got {spec!r}") from None
    if not sid.strip() or not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"expected ID=LAT,LON with WGS84 degrees, got {spec!r}")
    return sid.strip(), (lat, lon)


def _build(kwargs: dict[str, Any]) -> AlertOptions:
    values = {name: kwargs.pop(name) for name in _NAMES}
    try:
        radius = parse_radius(values["airport_radius"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--airport-radius") from None
    positions: dict[str, tuple[float, float]] = {}
    for spec in values["sensor_positions"]:
        try:
            sid, latlon = parse_sensor_position(spec)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--sensor-position") from None
        positions[sid] = latlon
    within = values["airport_within"]
    return AlertOptions(
        airports=values["airports"],
        airport_radius_m=radius,
        airport_countries=tuple(c.upper() for c in values["airport_countries"]),
        airport_kind=values["airport_kind"],
        airport_within_km=within if within and within > 0 else None,
        altitude_limit_m=values["altitude_limit"],
        sensor_positions=positions,
        max_clock_offset_s=values["max_clock_offset"],
        unknown_drone=values["unknown_drone"],
    )


def alert_options(fn: F) -> F:
    """The shared alert options; the command receives ``alert_options: AlertOptions``."""

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, alert_options=_build(kwargs), **kwargs)

    options = [
        click.option("--airports", is_flag=True, help="Add a protection circle around airports."),
        click.option(
            "--airport-radius",
            default=str(DEFAULT_RADIUS_M),
            show_default=True,
            help=f"Airport radius in metres, or a preset: {', '.join(RADIUS_PRESETS)}.",
        ),
        click.option(
            "--airport-country",
            "airport_countries",
            multiple=True,
            metavar="CC",
            help="Only airports of this ISO country code (repeatable).",
        ),
        click.option(
            "--airport-kind",
            type=click.Choice(AIRPORT_KINDS),
            default=DEFAULT_KIND,
            show_default=True,
            help="major: large and medium airports; iata: aerodromes with an IATA code; "
            "all: every aerodrome (about 28,000).",
        ),
        click.option(
            "--airport-within",
            type=click.FloatRange(0.0),
            default=DEFAULT_AIRPORT_WITHIN_KM,
            show_default=True,
            metavar="KM",
            help="Only airports this far from a known position (sensors, --position, the "
            "map's centre); 0: wherever they are.",
        ),
        click.option(
            "--sensor-position",
            "sensor_positions",
            multiple=True,
            metavar="ID=LAT,LON",
            help="Where a sensor stands (enables the RSSI-vs-distance spoofing check); repeatable.",
        ),
        click.option(
            "--altitude-limit",
            type=float,
            default=120.0,
            show_default=True,
            metavar="METRES",
            help="Height above take-off over which the altitude rule fires.",
        ),
        click.option(
            "--max-clock-offset",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Flag drones whose own clock is this far off the capture time (only if "
            "the capture clock is right; default: flag only jumps of the offset).",
        ),
        click.option(
            "--unknown-drone/--no-unknown-drone",
            default=None,
            help="Raise unknown_drone for drones not on the whitelist [default: only when "
            "the whitelist lists at least one ID].",
        ),
    ]
    wrapped: Any = command
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped  # type: ignore[no-any-return]
