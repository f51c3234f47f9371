"""The scenario model and its loader (TOML or YAML).

A scenario is a place (``origin``: an airport from the ``airportsdata`` package or a
latitude/longitude), one or more sensors, a radio model and a list of drones. Each drone has a
broadcast ``kind`` (its transport), an identity, a pilot and a flight plan. Waypoints are
either absolute (``lat``/``lon``) or relative to the origin (``east``/``north`` in metres).

Example (TOML)::

    name = "example"
    duration_s = 300
    [origin]
    airport = "EDDF"
    [[sensors]]
    id = "north-fence"
    east = 0
    north = 1500
    [[drones]]
    name = "inspector"
    kind = "wifi-beacon"
    uas_id = "1596F3D1234567890ABC"
    speed_mps = 8
    height_m = 60
    pilot = { east = -200, north = 800 }
    waypoints = [{ east = 0, north = 900 }, { east = 300, north = 900, loiter_s = 20 }]
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCENARIO_DIR = Path(__file__).parent / "scenarios"

DroneKind = Literal[
    "wifi-beacon",
    "wifi-nan",
    "ble-legacy",
    "ble-long-range",
    "dji-wifi",
    "fr-beacon",
    "dji-ocusync",
]


class ScenarioError(ValueError):
    """A scenario file that cannot be read or does not make sense."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Place(_Model):
    """A point: absolute (``lat``/``lon``) or relative to the origin (``east``/``north``, m)."""

    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    east: float | None = None
    north: float | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Place:
        absolute = self.lat is not None or self.lon is not None
        relative = self.east is not None or self.north is not None
        if absolute == relative:
            raise ValueError("give either lat and lon, or east and north (metres from origin)")
        if absolute and (self.lat is None or self.lon is None):
            raise ValueError("give both lat and lon")
        return self


class Waypoint(Place):
    height_m: float | None = None  # above take-off; None = the drone's cruise height
    loiter_s: float = Field(default=0.0, ge=0)
    speed_mps: float | None = Field(default=None, gt=0)  # on the leg towards this waypoint


class Pilot(Place):
    """Where the pilot stands; ``walk`` makes them walk the given points (and back)."""

    alt_m: float | None = None  # above mean sea level; default: the ground
    walk: list[Place] = Field(default_factory=list)
    walk_speed_mps: float = Field(default=1.4, gt=0)


class Spoof(_Model):
    """Lies a spoofer tells.

    ``teleport_every_s``: every so often the broadcast position jumps ``teleport_distance_m``
    away for ``teleport_duration_s``. ``pilot_offset_m``: the broadcast pilot position is
    this far from the real pilot (e.g. 20 km). ``clone_of``: the drone sends the identity
    (UAS ID, serial, operator ID) of another drone of the scenario.
    """

    teleport_every_s: float | None = Field(default=None, gt=0)
    teleport_distance_m: float = 5000.0
    teleport_duration_s: float = Field(default=3.0, gt=0)
    teleport_bearing_deg: float | None = None
    pilot_offset_m: float | None = None
    pilot_bearing_deg: float = 45.0
    clone_of: str | None = None


class Offset(_Model):
    """A horizontal shift in metres."""

    east: float = 0.0
    north: float = 0.0


class Drone(_Model):
    name: str
    kind: DroneKind
    uas_id: str | None = None  # Remote ID UAS ID / French ID FR (30 chars)
    id_type: Literal["serial", "caa", "utm", "session"] = "serial"
    serial: str | None = None  # DJI serial, French ANSI serial
    operator_id: str | None = None
    description: str | None = None  # Remote ID Self-ID text
    ua_type: str = "helicopter_or_multirotor"
    product_type: int = Field(default=58, ge=0, le=255)  # DJI product code
    uuid: str | None = None  # DJI app UUID
    mac: str | None = None  # transmitter address; default derived from the name and seed
    mac_randomize_s: float | None = Field(default=None, gt=0)
    channel: int | None = None
    tx_power_dbm: float | None = None
    interval_s: float | None = Field(default=None, gt=0)  # main broadcast interval
    start_s: float = Field(default=0.0, ge=0)
    speed_mps: float = Field(default=10.0, gt=0)
    height_m: float = 60.0  # cruise height above take-off
    climb_mps: float = Field(default=3.0, gt=0)
    descent_mps: float = Field(default=2.0, gt=0)
    home: Place | None = None  # take-off point; default: the pilot
    pilot: Pilot
    waypoints: list[Waypoint] = Field(default_factory=list)
    repeat: bool = False  # fly the waypoint circuit again until the scenario ends
    return_home: bool = True
    land: bool = True
    ground_s: float = Field(default=5.0, ge=0)  # broadcasting on the ground before/after
    spoof: Spoof | None = None
    # a location spoofer: every broadcast position is shifted by this much (metres), while the
    # signal comes from where the drone really flies
    spoof_offset: Offset | None = None

    @model_validator(mode="after")
    def _fits_the_wire(self) -> Drone:
        """Identifiers must fit the format the drone sends (no silent truncation)."""
        rid = self.kind in ("wifi-beacon", "wifi-nan", "ble-legacy", "ble-long-range")
        limits: list[tuple[str, str | None, int]] = [("operator_id", self.operator_id, 20)]
        if rid:
            limits += [("uas_id", self.uas_id, 20), ("description", self.description, 23)]
        elif self.kind == "fr-beacon":
            limits += [("uas_id", self.uas_id, 30), ("serial", self.serial, 255)]
        else:
            limits += [("serial", self.serial, 16), ("uuid", self.uuid, 19)]
        for key, value, size in limits:
            if value is not None and (len(value) > size or not value.isascii()):
                raise ValueError(f"{key} {value!r}: at most {size} ASCII characters for {self.kind}")
        if rid:
            from dronewatch.protocols.astm.enums import UaType

            if self.ua_type.upper() not in UaType.__members__:
                raise ValueError(f"unknown ua_type {self.ua_type!r}")
        return self


class Sensor(Place):
    id: str = "local"
    alt_m: float = 2.0  # above ground


class Radio(_Model):
    """Log-distance path loss, spatially correlated shadowing, fast fading (:mod:`.radio`).

    ``rssi = tx_power + offset - (ref_loss + 10 * exponent * log10(d / 1 m)) + S(x) + F``:
    ``offset`` ~ N(0, ``tx_spread_db``) once per drone (unknown to receivers), ``S`` a
    shadowing field per sensor (std ``shadowing_db``, correlation ``exp(-r /
    decorrelation_m)`` over the transmitter's position), ``F`` ~ N(0, ``fading_db``) per frame;
    ``d`` is 3-D (drone height, sensor ``alt_m``). Packets under ``sensitivity_dbm`` are not
    received, others are lost with ``loss``.
    """

    tx_power_dbm: float = 18.0
    ref_loss_db: float = 40.0  # free space at 1 m, 2.4 GHz
    exponent: float = Field(default=2.2, gt=0)
    shadowing_db: float = Field(default=4.0, ge=0)
    decorrelation_m: float = Field(default=50.0, gt=0)
    fading_db: float = Field(default=2.0, ge=0)
    tx_spread_db: float = Field(default=0.0, ge=0)
    sensitivity_dbm: float = -95.0
    loss: float = Field(default=0.0, ge=0, lt=1)


class Origin(_Model):
    airport: str | None = None  # ICAO code from airportsdata
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    ground_alt_m: float | None = None  # default: the airport's elevation, else 0

    @model_validator(mode="after")
    def _one_form(self) -> Origin:
        if self.airport is None and (self.lat is None or self.lon is None):
            raise ValueError("origin needs an airport code or lat and lon")
        return self


class Scenario(_Model):
    name: str
    description: str = ""
    start_time: dt.datetime = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
    duration_s: float = Field(default=600.0, gt=0)
    origin: Origin
    zones: str | None = None  # GeoJSON file, relative to the scenario file
    sensors: list[Sensor] = Field(default_factory=lambda: [Sensor(east=0.0, north=0.0)])
    radio: Radio = Radio()
    drones: list[Drone] = Field(default_factory=list)
    path: str | None = None  # where the scenario was loaded from (set by the loader)

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        names = [d.name for d in self.drones]
        if len(names) != len(set(names)):
            raise ValueError("drone names must be unique")
        ids = [s.id for s in self.sensors]
        if not ids or len(ids) != len(set(ids)):
            raise ValueError("sensor ids must be unique, and there must be at least one sensor")
        for d in self.drones:
            if d.spoof and d.spoof.clone_of and d.spoof.clone_of not in names:
                raise ValueError(f"{d.name}: clone_of {d.spoof.clone_of!r} is not a drone")
        return self

    @property
    def start_epoch(self) -> float:
        t = self.start_time
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        return t.timestamp()

    def zones_path(self) -> Path | None:
        if self.zones is None:
            return None
        base = Path(self.path).parent if self.path else SCENARIO_DIR
        return base / self.zones


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with dronewatch."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def parse_scenario(data: dict[str, Any], path: str | None = None) -> Scenario:
    """A validated scenario from already parsed TOML/YAML data."""
    if path is not None:
        data = {**data, "path": path}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        raise ScenarioError(f"{where}invalid scenario:\n{exc}") from exc


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A scenario by built-in name (``sim/scenarios/NAME.toml``) or by file path."""
    path = Path(name_or_path)
    if not path.exists():
        candidate = SCENARIO_DIR / f"{name_or_path}.toml"
        if candidate.exists():
            path = candidate
        else:
            known = ", ".join(builtin_scenarios())
            raise ScenarioError(f"no scenario file or built-in scenario {name_or_path!r} ({known})")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in {".yaml", ".yml"}:
            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a table/mapping at the top level")
    return parse_scenario(data, str(path))
