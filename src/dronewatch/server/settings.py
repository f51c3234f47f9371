"""Server settings: database, tokens and roles, pipeline sources and options."""

from __future__ import annotations

import enum
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


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
        out[token.strip()] = Principal(f"{role.label}-{i + 1}", role)
    return out


def generate_token() -> str:
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
    mqtt: str | None = None  # broker URL: live frames from sensors (``dronewatch sensor``)
    mqtt_topic_prefix: str = "dronewatch"
    zones_file: Path | None = None
    airports: bool = False
    whitelist_file: Path | None = None
    retention_days: float | None = None  # None or 0 = keep forever
    max_body_bytes: int = 1 << 20
    ws_queue_size: int = 1000
    track_rate_hz: float = 2.0  # live track updates per track at most
    tile_url: str | None = None
    center: tuple[float, float] = (0.0, 0.0)
    zoom: int = 3
    run_pipeline: bool = True
    gc_freeze: bool = False  # see PipelineService._gc_maintenance; `serve` and `demo` turn it on

    @classmethod
    def from_env(cls, *, token: str | None = None, **kwargs: object) -> Settings:
        """Settings with tokens from ``token`` / ``DRONEWATCH_TOKEN`` (admin) and
        ``DRONEWATCH_TOKENS`` (by role). No token at all -> one admin token is generated."""
        settings = cls(**kwargs)  # type: ignore[arg-type]
        settings.tokens.update(parse_tokens(os.environ.get("DRONEWATCH_TOKENS", "")))
        admin = token or os.environ.get("DRONEWATCH_TOKEN")
        if admin:
            settings.tokens[admin] = Principal("admin", Role.ADMIN)
        if not any(p.role is Role.ADMIN for p in settings.tokens.values()):
            settings.tokens[generate_token()] = Principal("admin", Role.ADMIN)
        return settings

    def admin_token(self) -> str:
        for tok, p in self.tokens.items():
            if p.role is Role.ADMIN:
                return tok
        raise LookupError("no admin token configured")
