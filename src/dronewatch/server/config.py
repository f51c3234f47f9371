"""The configuration file: TOML, read with pydantic-settings; environment variables override.

``dronewatch serve --config FILE`` takes its options from FILE; an option given on the command
line (or through its own environment variable, such as ``DRONEWATCH_TOKEN_FILE``) wins over
the file, and ``DRONEWATCH_<SECTION>__<KEY>`` (e.g. ``DRONEWATCH_SERVER__PORT=9000``) wins
over the file's value. ``dronewatch config check FILE`` validates a file and prints the
effective configuration, secrets masked.

Secrets are never written in the file: it names files that hold them (``token_file``,
``db_file``, ``mqtt_password_file``, the sinks' ``*_secret_file``), each checked to exist
and be readable, and none of them is ever logged or printed.

Every key, its section and the command-line option it stands for: :data:`FLAGS` (and the
README's "Configuration file" section). A mistake is reported with its key and line:
``dronewatch.toml, line 7: alerts.altitude_limit_m: Input should be a valid number``.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from dronewatch.alerts.airports import AIRPORT_KINDS, DEFAULT_KIND, DEFAULT_RADIUS_M, parse_radius
from dronewatch.alerts.options import DEFAULT_AIRPORT_WITHIN_KM, AlertOptions
from dronewatch.model import Severity

ENV_PREFIX = "DRONEWATCH_"
MASK = "***"


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file, line and key."""


# the directory relative paths of the file being read are taken from (its own)
_BASE: ContextVar[Path | None] = ContextVar("dronewatch_config_base", default=None)


def _resolve(p: Path) -> Path:
    p = p.expanduser()
    base = _BASE.get()
    return base / p if base is not None and not p.is_absolute() else p


def _existing_file(p: Path) -> Path:
    p = _resolve(p)
    if not p.exists():
        raise ValueError(f"no such file: {p}")
    if not p.is_file():
        raise ValueError(f"not a file: {p}")
    if not os.access(p, os.R_OK):
        raise ValueError(f"cannot read {p} (permissions)")
    return p


def _existing_path(p: Path) -> Path:
    p = _resolve(p)
    if not p.exists():
        raise ValueError(f"no such file or directory: {p}")
    return p


File = Annotated[Path, AfterValidator(_existing_file)]
FileOrDir = Annotated[Path, AfterValidator(_existing_path)]
Level = Literal["debug", "info", "warning", "error", "critical"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    db: str | None = None  # a file, sqlite:///FILE or postgresql://... (no password here)
    db_file: File | None = None  # a file holding the database URL (with its password)
    token_file: File | None = None  # ROLE:TOKEN lines
    tls_cert: File | None = None
    tls_key: File | None = None
    tiles: str | None = None
    tiles_attribution: str | None = None
    basemap: File | None = None  # PMTiles or MBTiles: the offline basemap
    basemap_attribution: str | None = None
    retention_days: float | None = Field(None, gt=0)

    @field_validator("db")
    @classmethod
    def _no_password(cls, v: str | None) -> str | None:
        if v is not None and _URL_PASSWORD.search(v):
            raise ValueError("a password in the database URL: put the URL in db_file instead")
        if v is not None and "://" not in v and not v.startswith("sqlite:"):
            return str(_resolve(Path(v)))  # a SQLite file, beside the configuration file
        return v


class LogSection(_Section):
    level: Level = "info"
    json_lines: bool = Field(False, alias="json")


class SourcesSection(_Section):
    replay: list[File] = []
    speed: float = Field(1.0, ge=0)
    live: list[str] = []  # tcp://, stream:, wifi:, bluetooth:, mqtt:// specs (--source)
    wifi: list[str] = []
    bluetooth: list[str] = []
    channels: list[int] | str | None = None  # [6, 1, 11, 149] or "6,1,11,149"
    dwell: float | None = Field(None, ge=0.05, le=60)
    hop: bool = True
    monitor: bool = False
    sensor: str = "local"
    position: list[float] | None = None  # [lat, lon] or [lat, lon, alt]
    gps: str | None = None
    mqtt: str | None = None
    mqtt_password_file: File | None = None
    mqtt_prefix: str = "dronewatch"
    mqtt_client_id: str | None = None
    mqtt_tls_ca: File | None = None
    mqtt_tls_cert: File | None = None
    mqtt_tls_key: File | None = None
    sensor_keys: FileOrDir | None = None
    max_frame_age: float = Field(7 * 86400.0, gt=0)
    max_frame_ahead: float = Field(60.0, ge=0)

    @field_validator("position")
    @classmethod
    def _position(cls, v: list[float] | None) -> list[float] | None:
        if v is None:
            return v
        from dronewatch.sources.position import parse_position

        parse_position(",".join(str(x) for x in v))  # ValueError says what is wrong
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[int] | str | None) -> list[int] | str | None:
        if v is not None:
            from dronewatch.sources.nl80211 import parse_channels

            parse_channels(v if isinstance(v, str) else ",".join(map(str, v)))
        return v

    @field_validator("mqtt")
    @classmethod
    def _mqtt_no_password(cls, v: str | None) -> str | None:
        if v is not None and _URL_PASSWORD.search(v):
            raise ValueError("a password in the broker URL: use mqtt_password_file")
        return v


class CircleZone(_Section):
    id: str = Field(min_length=1, max_length=100)
    name: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=1_000_000)
    severity: Severity = Severity.WARNING
    min_alt_m: float | None = None
    max_alt_m: float | None = None


class SensorSection(_Section):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class AlertsSection(_Section):
    zones: list[File] = []  # GeoJSON files
    circle: list[CircleZone] = []  # [[alerts.circle]] zones written in the file
    whitelist_file: File | None = None
    whitelist: list[str] = []  # authorised IDs
    airports: bool = False
    airport_radius: str | float = DEFAULT_RADIUS_M  # metres or a preset (uk-frz, us-5sm...)
    airport_countries: list[str] = []
    airport_kind: Literal["major", "iata", "all"] = DEFAULT_KIND  # type: ignore[assignment]
    airport_within_km: float = Field(DEFAULT_AIRPORT_WITHIN_KM, ge=0)
    altitude_limit_m: float = Field(120.0, gt=0)
    max_clock_offset_s: float | None = Field(None, gt=0)
    unknown_drone: bool | None = None  # default: only when the whitelist lists an ID

    @field_validator("airport_radius")
    @classmethod
    def _radius(cls, v: str | float) -> str | float:
        r = parse_radius(v)
        if not math.isfinite(r) or r <= 0:
            raise ValueError(f"airport radius must be a positive number of metres, got {v!r}")
        return v

    @field_validator("whitelist")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        for i in v:
            if not i.strip() or any(c.isspace() for c in i.strip()):
                raise ValueError(f"an ID without spaces expected, got {i!r}")
        return v


assert set(AIRPORT_KINDS) == {"major", "iata", "all"}


class Config(BaseSettings):
    """The whole file. Unknown keys are errors (a typo would otherwise be ignored)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        populate_by_name=True,
    )

    server: ServerSection = ServerSection()
    log: LogSection = LogSection()
    sources: SourcesSection = SourcesSection()
    alerts: AlertsSection = AlertsSection()
    sensors: dict[str, SensorSection] = {}  # [sensors.NAME] lat, lon: the RSSI check
    # [sinks]: TAK/CoT, webhooks, syslog, MQTT out, notifications (their SinkSettings)
    sinks: dict[str, Any] = {}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)  # the environment overrides the file

    # -- what the command line gets -------------------------------------------------------

    def flag_defaults(self) -> dict[str, Any]:
        """``serve``'s option values (click ``default_map``) for what the file sets."""
        out: dict[str, Any] = {}
        for flag, (section, key) in FLAGS.items():
            value = getattr(getattr(self, section), key)
            conv = _TO_FLAG.get(flag)
            if conv is not None:
                value = conv(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, list):
                value = [str(v) if isinstance(v, Path) else v for v in value]
            if value is not None:
                out[flag] = value
        positions = [f"{sid}={s.lat},{s.lon}" for sid, s in self.sensors.items()]
        if positions:
            out["sensor_positions"] = positions
        return out

    def alert_options(self) -> AlertOptions:
        a = self.alerts
        return AlertOptions(
            airports=a.airports,
            airport_radius_m=parse_radius(a.airport_radius),
            airport_countries=tuple(c.upper() for c in a.airport_countries),
            airport_kind=a.airport_kind,
            airport_within_km=a.airport_within_km or None,
            altitude_limit_m=a.altitude_limit_m,
            sensor_positions={sid: (s.lat, s.lon) for sid, s in self.sensors.items()},
            max_clock_offset_s=a.max_clock_offset_s,
            unknown_drone=a.unknown_drone,
        )

    def zones(self) -> list[Any]:
        """The zones of ``[[alerts.circle]]`` and of the ``alerts.zones`` files."""
        from dronewatch.alerts.zones import Zone, load_zones

        out: list[Any] = []
        for path in self.alerts.zones:
            out.extend(load_zones(path))
        for c in self.alerts.circle:
            out.append(
                Zone.make_circle(
                    c.id,
                    c.name or c.id,
                    c.lat,
                    c.lon,
                    c.radius_m,
                    severity=c.severity,
                    min_alt_m=c.min_alt_m,
                    max_alt_m=c.max_alt_m,
                )
            )
        return out

    def db_url(self) -> str | None:
        if self.server.db_file is not None:
            return read_secret(self.server.db_file, "server.db_file")
        return self.server.db

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets masked."""
        out: dict[str, Any] = _mask(self.model_dump(mode="json", by_alias=True))
        return out


# serve's option (click parameter name) -> (section, key) of the file. The options not here:
# --token (never in a file: token_file), --zones (alerts.zones, a list), --whitelist
# (alerts.whitelist_file), --sensor-position ([sensors.NAME]).
FLAGS: dict[str, tuple[str, str]] = {
    "host": ("server", "host"),
    "port": ("server", "port"),
    "db": ("server", "db"),
    "token_file": ("server", "token_file"),
    "tls_cert": ("server", "tls_cert"),
    "tls_key": ("server", "tls_key"),
    "tile_url": ("server", "tiles"),
    "tile_attribution": ("server", "tiles_attribution"),
    "basemap": ("server", "basemap"),
    "basemap_attribution": ("server", "basemap_attribution"),
    "retention_days": ("server", "retention_days"),
    "log_level": ("log", "level"),
    "log_json": ("log", "json_lines"),
    "replay": ("sources", "replay"),
    "speed": ("sources", "speed"),
    "live": ("sources", "live"),
    "wifi": ("sources", "wifi"),
    "bluetooth": ("sources", "bluetooth"),
    "channels": ("sources", "channels"),
    "dwell": ("sources", "dwell"),
    "no_hop": ("sources", "hop"),
    "monitor": ("sources", "monitor"),
    "sensor_id": ("sources", "sensor"),
    "position": ("sources", "position"),
    "gps": ("sources", "gps"),
    "mqtt_url": ("sources", "mqtt"),
    "mqtt_prefix": ("sources", "mqtt_prefix"),
    "mqtt_client_id": ("sources", "mqtt_client_id"),
    "mqtt_tls_ca": ("sources", "mqtt_tls_ca"),
    "mqtt_tls_cert": ("sources", "mqtt_tls_cert"),
    "mqtt_tls_key": ("sources", "mqtt_tls_key"),
    "sensor_keys": ("sources", "sensor_keys"),
    "max_frame_age": ("sources", "max_frame_age"),
    "max_frame_ahead": ("sources", "max_frame_ahead"),
    "whitelist_file": ("alerts", "whitelist_file"),
    "airports": ("alerts", "airports"),
    "airport_radius": ("alerts", "airport_radius"),
    "airport_countries": ("alerts", "airport_countries"),
    "airport_kind": ("alerts", "airport_kind"),
    "airport_within": ("alerts", "airport_within_km"),
    "altitude_limit": ("alerts", "altitude_limit_m"),
    "max_clock_offset": ("alerts", "max_clock_offset_s"),
    "unknown_drone": ("alerts", "unknown_drone"),
}
_TO_FLAG: dict[str, Any] = {
    "no_hop": lambda hop: not hop,
    "position": lambda p: ",".join(str(x) for x in p) if p else None,
    "airport_radius": str,
    "channels": lambda c: c if c is None or isinstance(c, str) else ",".join(map(str, c)),
}


def read_secret(path: Path, key: str) -> str:
    """The text of a secret file (stripped); ``ConfigError`` naming the key if unreadable."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{key}: cannot read the secret file {path}: {exc}") from exc
    if not text:
        raise ConfigError(f"{key}: the secret file {path} is empty")
    return text


# -- masking -------------------------------------------------------------------------------

_URL_PASSWORD = re.compile(r"(?<=://)([^/@:\s]*):([^/@\s]+)@")
_SECRET_KEY = re.compile(r"secret|password|token|passphrase|key$", re.I)


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str):
        if _SECRET_KEY.search(key) and not key.endswith(("_file", "_ca", "_cert", "_keys")):
            return MASK
        return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{MASK}@", value)
    return value


# -- loading, with the line of every key -----------------------------------------------------


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', text)
    return tuple(a or b or c for a, b, c in parts)


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """The line of every table and key of a TOML document: ``("alerts", "circle", 0,
    "lat") -> 12`` (array-of-tables entries are numbered from 0)."""
    out: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    counts: dict[tuple[str | int, ...], int] = {}
    in_string = False
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        toggles = bool(line.count('"""') % 2 or line.count("'''") % 2)
        if in_string:  # inside a multi-line string: no keys here
            in_string = not toggles
            continue
        in_string = toggles  # a key whose multi-line string starts on this line
        if not line or line.startswith("#"):
            continue
        if line.startswith("[["):
            path: tuple[str | int, ...] = _split_key(line[2 : line.find("]]")])
            counts[path] = counts.get(path, -1) + 1
            table = (*path, counts[path])
            out.setdefault(table, n)
            continue
        if line.startswith("["):
            table = _split_key(line[1 : line.find("]")])
            out.setdefault(table, n)
            continue
        m = re.match(
            r"""^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""",
            line,
        )
        if m:
            out.setdefault((*table, *_split_key(m.group(1))), n)
    return out


def _where(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    for end in range(len(loc), 0, -1):
        n = lines.get(loc[:end])
        if n is not None:
            return n
    return None


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _errors(
    exc: ValidationError, path: Path, lines: dict[tuple[str | int, ...], int]
) -> Iterator[str]:
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        n = _where(loc, lines)
        where = f"{path}, line {n}" if n is not None else f"{path} (or the environment)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        yield f"{where}: {_dotted(loc)}: {msg}"


def _line_of(message: str) -> int:
    m = re.search(r", line (\d+): ", message)
    return int(m.group(1)) if m else 1 << 30


def load_config(path: Path) -> Config:
    """Read and validate a configuration file (``ConfigError``: every mistake, with its
    line and key)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    lines = key_lines(text)
    # relative paths are relative to the file's directory
    base = path.resolve().parent
    token = _BASE.set(base)
    try:
        config = Config(**data)
    except ValidationError as exc:
        raise ConfigError("\n".join(sorted(_errors(exc, path, lines), key=_line_of))) from None
    finally:
        _BASE.reset(token)
    if config.sinks:
        sinks = _check_sinks(config.sinks, path, lines)
        config = config.model_copy(update={"sinks": sinks})
    return config


def sink_settings(config: Config) -> Any:
    """The ``[sinks]`` section as the sinks' ``SinkSettings`` (``None`` if empty)."""
    if not config.sinks:
        return None
    from pydantic import TypeAdapter

    from dronewatch.sinks.settings import SinkSettings

    return TypeAdapter(SinkSettings).validate_python(config.sinks)


def _check_sinks(
    section: dict[str, Any], path: Path, lines: dict[tuple[str | int, ...], int]
) -> dict[str, Any]:
    """``[sinks]`` against the sinks' ``SinkSettings``: known keys, valid values, secrets in
    files only, every file there (relative to the configuration file). The section with
    those files' paths made absolute."""

    def fail(key: tuple[str | int, ...], msg: str) -> ConfigError:
        n = _where(("sinks", *key), lines)
        return ConfigError(f"{path}, line {n}: {_dotted(('sinks', *key))}: {msg}")

    for key in section:
        if _SECRET_KEY.search(key) and not key.endswith("_file"):
            raise fail((key,), f"a secret is not written in the file: use {key}_file")
    import dataclasses

    from pydantic import TypeAdapter

    from dronewatch.sinks.settings import SinkSettings

    fields = {f.name: str(f.type) for f in dataclasses.fields(SinkSettings)}
    out = dict(section)
    token = _BASE.set(path.resolve().parent)
    try:
        for key, value in section.items():
            if key not in fields:
                raise fail((key,), "unknown key")
            if "Path" in fields[key] and isinstance(value, str):  # a file: it must be there
                try:
                    out[key] = str(_existing_file(Path(value)))
                except ValueError as exc:
                    raise fail((key,), str(exc)) from None
        TypeAdapter(SinkSettings).validate_python(out)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise fail(tuple(err["loc"]), err["msg"]) from None
    finally:
        _BASE.reset(token)
    return out


# -- printing --------------------------------------------------------------------------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    import json

    return json.dumps(str(v), ensure_ascii=False)


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else f'"{k}"'


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Plain data as TOML (unset values as comments), for ``config check``."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for k, v in data.items():
        if isinstance(v, dict) or (
            isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
        ):
            tables.append((k, v))
        elif v is None:
            lines.append(f"# {_toml_key(k)} = (not set)")
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    out = "\n".join(lines)
    for k, v in tables:
        name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
        if isinstance(v, list):
            for item in v:
                out += f"\n\n[[{name}]]\n" + to_toml(item, name).strip("\n")
        else:
            out += f"\n\n[{name}]\n" + to_toml(v, name).strip("\n")
    return out.strip("\n") + "\n"
