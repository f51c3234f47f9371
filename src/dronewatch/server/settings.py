"""Server settings: database, tokens and roles, pipeline sources and options."""

from __future__ import annotations

import enum
import logging
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dronewatch.alerts.options import AlertOptions
from dronewatch.alerts.zones import Zone
from dronewatch.sinks.settings import SinkSettings

log = logging.getLogger(__name__)

#: Shortest token accepted: a guessable token is no authentication.
MIN_TOKEN_CHARS = 16
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: fits a Bearer header
MAKE_A_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"


class Role(enum.IntEnum):
    """Who may do what: viewer < operator < admin."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: use viewer, operator or admin") from None


@dataclass(slots=True, frozen=True)
class Principal:
    """The holder of a token."""

    name: str
    role: Role


def check_token(token: str, where: str) -> str:
    """``token`` if it is acceptable (at least ``MIN_TOKEN_CHARS`` printable ASCII characters
    without spaces), else ``ValueError`` saying why (never showing the token)."""
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"{where}: a token must be at least {MIN_TOKEN_CHARS} characters long "
            f"(this one has {len(token)}); make a random one with: {MAKE_A_TOKEN}"
        )
    if not _TOKEN_CHARS.fullmatch(token):
        raise ValueError(f"{where}: a token may hold only printable ASCII characters, no spaces")
    return token


def parse_tokens(spec: str) -> dict[str, Principal]:
    """``"viewer:tok1,operator:tok2"`` -> {token: Principal}. ``ValueError`` if malformed."""
    out: dict[str, Principal] = {}
    for i, part in enumerate(p.strip() for p in spec.split(",")):
        if not part:
            continue
        role_text, sep, token = part.partition(":")
        if not sep or not token.strip():
            raise ValueError(f"DRONEWATCH_TOKENS entry {i + 1} is not ROLE:TOKEN")
        role = Role.parse(role_text)
        out[check_token(token.strip(), f"DRONEWATCH_TOKENS entry {i + 1}")] = Principal(
            f"{role.label}-{i + 1}", role
        )
    return out


def read_token_file(path: Path) -> dict[str, Principal]:
    """Tokens from a file, one a line: ``ROLE:TOKEN`` (viewer, operator, admin) or a bare
    ``TOKEN`` (admin); blank lines and ``#`` comments are skipped. Warns if other users may
    read the file."""
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the token file {path}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("token file %s is readable by other users: chmod 600 %s", path, path)
    out: dict[str, Principal] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        role_text, sep, rest = line.partition(":")
        if sep and role_text.strip().upper() in Role.__members__:
            role, token = Role.parse(role_text), rest.strip()
        else:
            role, token = Role.ADMIN, line
        out[check_token(token, f"{path}, line {n}")] = Principal(
            f"{role.label}@{path.name}:{n}", role
        )
    if not out:
        raise ValueError(f"the token file {path} holds no token")
    return out


def generate_token() -> str:
    """A random token (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


@dataclass(slots=True)
class Settings:
    """Everything ``create_app`` needs. ``tokens`` maps a bearer token to its holder."""

    db: str | None = None  # file path, sqlite:///..., postgresql://...; None = default data dir
    tokens: dict[str, Principal] = field(default_factory=dict)
    replay: list[Path] = field(default_factory=list)
    speed: float = 1.0  # replay speed factor; 0 = as fast as possible
    loop_replay: bool = False
    scenario: str | None = None  # simulated scenario name (the demo), paced in real time
    scenario_seed: int = 1
    live: list[str] = field(default_factory=list)  # live source specs (sources/live.py)
    sensor_id: str = "local"  # the name of this machine's own live sources' sensor
    live_extra: dict[str, Any] = field(default_factory=dict)  # LiveOptions.extra (channels...)
    position: tuple[float, float, float | None] | None = None  # this sensor's, --position
    gps: str | None = None  # gpsd://HOST:PORT: this sensor's position from a GPS
    mqtt: str | None = None  # broker URL: live frames from sensors (``dronewatch sensor``)
    mqtt_topic_prefix: str = "dronewatch"
    mqtt_client_id: str | None = None  # the server's session at the broker (default: derived)
    mqtt_session_expiry_s: int = 7 * 86400  # how long the broker keeps it while we are down
    mqtt_tls_ca: Path | None = None
    mqtt_tls_cert: Path | None = None
    mqtt_tls_key: Path | None = None
    sensor_keys: Path | None = None  # SENSOR HEXKEY lines or a dir of SENSOR.key: signed only
    frame_max_age_s: float = 7 * 86400.0  # live frames older than this are refused
    frame_max_ahead_s: float = 60.0  # ... and those this far ahead of the server's clock
    sinks: SinkSettings = field(default_factory=SinkSettings)  # CoT, webhooks, syslog...
    zones_file: Path | None = None
    zones: list[Zone] = field(default_factory=list)  # more zones (the configuration file's)
    whitelist_file: Path | None = None
    whitelist_ids: list[str] = field(default_factory=list)  # more IDs to add to the whitelist
    alerts: AlertOptions = field(default_factory=AlertOptions)  # airports, rules, unknown_drone
    retention_days: float | None = None  # None or 0 = keep forever
    max_body_bytes: int = 1 << 20
    ws_queue_size: int = 1000
    track_rate_hz: float = 2.0  # live track updates per track at most
    tile_url: str | None = None
    tile_attribution: str | None = None  # credit of the --tiles server, shown on the map
    basemap: Path | None = None  # a PMTiles or MBTiles file served as the offline basemap
    basemap_attribution: str | None = None  # overrides the file's own attribution
    center: tuple[float, float] = (0.0, 0.0)
    zoom: int = 3
    run_pipeline: bool = True
    gc_freeze: bool = False  # see PipelineService._gc_maintenance; `serve` and `demo` turn it on
    generated_token: str | None = None  # the admin token made up by from_env, if it did

    def __post_init__(self) -> None:
        for token in self.tokens:
            check_token(token, "API token")

    @classmethod
    def from_env(
        cls, *, token: str | None = None, token_file: Path | None = None, **kwargs: object
    ) -> Settings:
        """Settings with tokens from ``DRONEWATCH_TOKENS`` (by role), ``token_file`` (see
        :func:`read_token_file`) and ``token`` / ``DRONEWATCH_TOKEN`` (admin). No admin
        token at all -> one is generated (``generated_token``). ``ValueError`` for a token
        that is too short or malformed."""
        settings = cls(**kwargs)  # type: ignore[arg-type]
        settings.tokens.update(parse_tokens(os.environ.get("DRONEWATCH_TOKENS", "")))
        if token_file is not None:
            settings.tokens.update(read_token_file(token_file))
        admin = token or os.environ.get("DRONEWATCH_TOKEN")
        if admin:
            settings.tokens[check_token(admin, "admin token")] = Principal("admin", Role.ADMIN)
        if not any(p.role is Role.ADMIN for p in settings.tokens.values()):
            settings.generated_token = generate_token()
            settings.tokens[settings.generated_token] = Principal("admin", Role.ADMIN)
        return settings

    def admin_token(self) -> str:
        for tok, p in self.tokens.items():
            if p.role is Role.ADMIN:
                return tok
        raise LookupError("no admin token configured")
