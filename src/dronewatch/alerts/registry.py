"""The rule registry: an alert rule is one module with its settings and its message.

A rule module (in :mod:`dronewatch.alerts.rulebook`) defines a :class:`Rule` subclass with a
``name``, a ``Settings`` dataclass (its tunables with documented defaults) and
:meth:`Rule.check`, decorated with :func:`register`; one import line in
``rulebook/__init__.py`` registers it. Nothing else changes: the alert engine runs every
registered rule on every track update and turns its findings into alert episodes (open,
escalate, close) like those of the built-in rules.

    @register
    class TooHigh(Rule):
        name = "too_high"

        @dataclass(slots=True, frozen=True)
        class Settings:
            limit_m: float = 500.0

        def check(self, st, obs, memory):
            h = st.track.height
            if h is not None and h > self.settings.limit_m:
                return Finding(Severity.WARNING, f"... at {h:.0f} m", {"height_m": h})
            return None

Settings come from ``RulesConfig.rule_settings[name]`` (else the defaults); a rule named in
``RulesConfig.disabled`` does not run. A rule with ``spoof = True`` is a spoofing rule: its
episodes close after ``spoof_hold_s`` without new evidence; others close ``close_hold_s`` after
``check`` last found something, with :meth:`Rule.close_message`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from dronewatch.model import Observation, Severity, Track

if TYPE_CHECKING:
    from dronewatch.alerts.rules import RulesConfig
    from dronewatch.track.tracker import TrackState


@dataclass(slots=True, frozen=True)
class Finding:
    """The rule's condition holds now: how bad, the sentence for people, machine details."""

    severity: Severity
    message: str
    details: dict[str, Any] = field(default_factory=dict)


class Rule:
    """Base of a registered rule (see the module doc)."""

    name: ClassVar[str] = ""
    spoof: ClassVar[bool] = False

    @dataclass(slots=True, frozen=True)
    class Settings:
        pass

    def __init__(self, settings: Any = None, config: RulesConfig | None = None) -> None:
        self.settings: Any = settings if settings is not None else self.Settings()
        self.config = config  # what every rule shares (sensor positions...)

    def check(self, st: TrackState, obs: Observation, memory: dict[str, Any]) -> Finding | None:
        """The finding after ``obs`` updated ``st``'s track, or ``None``. ``memory``: this
        rule's own state for this track (an empty dict at first)."""
        raise NotImplementedError

    def close_message(self, track: Track) -> str:
        return f"{self.name} for drone {track.track_id} ended"


RULES: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: add ``cls`` to the registry under its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no rule name")
    if cls.name in RULES and RULES[cls.name] is not cls:
        raise ValueError(f"rule {cls.name!r} registered twice")
    RULES[cls.name] = cls
    return cls


def active_rules(
    disabled: frozenset[str], settings: Mapping[str, Any], config: RulesConfig | None = None
) -> list[Rule]:
    """An instance of every registered rule not ``disabled``, with its settings (the rules
    are registered when :mod:`dronewatch.alerts.rulebook` is imported, as the engine does)."""
    return [cls(settings.get(name), config) for name, cls in sorted(RULES.items())
            if name not in disabled]
