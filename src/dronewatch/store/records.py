"""Model objects <-> plain dicts: the rows the store writes and the JSON the API serves.

One place converts ``Track``, ``Alert`` and ``Observation`` so that the database, the HTTP API
and the live stream agree on every field name (the ``dronewatch.model`` names).
"""

from __future__ import annotations

import dataclasses
import json
import math
from operator import attrgetter
from typing import Any

from dronewatch.model import Alert, Observation, Track, TrackPoint, to_jsonable
from dronewatch.store import models

TRACK_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Track) if f.name != "positions"
)
ALERT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Alert))
OBSERVATION_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Observation))
_SET_FIELDS = frozenset({"transports", "sensors", "sources"})

#: Columns of an ``observations`` row tuple (``observation_row``), in table order.
OBSERVATION_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in models.observations.columns if c.name != "id"
)
#: Columns of a ``track_positions`` row tuple.
POSITION_COLUMNS: tuple[str, ...] = (
    "track_id",
    "time",
    "lat",
    "lon",
    "alt",
    "operator_lat",
    "operator_lon",
)
_OBS_REST = OBSERVATION_COLUMNS[3:]
_obs_rest = attrgetter(*_OBS_REST)
assert OBSERVATION_COLUMNS[:3] == ("time", "track_id", "transport")
assert set(_OBS_REST) <= set(OBSERVATION_FIELDS)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) replaced by ``None``, recursively:
    JSON has no NaN, and PostgreSQL's json type refuses it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Compact JSON; non-finite floats become ``null`` (never invalid JSON)."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(finite(value), separators=(",", ":"), allow_nan=False)


def track_record(track: Track) -> dict[str, Any]:
    """The track's state as a row / JSON object (``positions`` left out; sets sorted)."""
    out: dict[str, Any] = {}
    for name in TRACK_FIELDS:
        value = getattr(track, name)
        if name in _SET_FIELDS:
            value = sorted(value)
        elif name == "rssi_by_sensor":
            value = dict(value)
        out[name] = value
    return out


def point_list(p: TrackPoint) -> list[float | None]:
    """A track point as the API's ``[t, lat, lon, alt]``."""
    return [p.time, p.lat, p.lon, p.alt]


def alert_record(alert: Alert) -> dict[str, Any]:
    """The alert event as a row / JSON object (enums by value, details JSON-able)."""
    out: dict[str, Any] = {name: getattr(alert, name) for name in ALERT_FIELDS}
    out["severity"] = alert.severity.value
    out["status"] = alert.status.value
    out["details"] = to_jsonable(dict(alert.details))
    return out


def alert_json(rec: dict[str, Any]) -> dict[str, Any]:
    """An alert event record as the API's Alert (acknowledgement as of the event)."""
    out = dict(rec)
    out.setdefault("first_time", rec["time"])
    out.update(acknowledged=False, ack_by=None, ack_time=None, comments=[])
    return out


def observation_row(obs: Observation, track_id: str | None) -> tuple[Any, ...]:
    """The observation as an ``observations`` row tuple (``OBSERVATION_COLUMNS``), with the
    track it joined. Tuples, not dicts: this runs for every message at full ingest rate."""
    # (``_value_``: the member's value without the ``value`` property's Python call)
    return (obs.time, track_id, obs.transport._value_, *_obs_rest(obs))
