"""Decoded messages -> :class:`~dronewatch.model.Observation`, whatever the wire format.

The mapping reads messages by their ``type`` and their JSON-named fields only (the names are
fixed by the protocol issues), so the tracker never imports a decoder. A field a message does
not have, or that the sender marked unknown (``None``), stays ``None`` in the observation.

Formats and what each contributes:

================  =====================================================================
``basic_id``      ``uas_id``, ``id_type``, ``ua_type`` (ID type serial number also sets
                  ``serial``, which links the drone with its DJI DroneID)
``location``      position, altitudes, speeds; ``timestamp`` (seconds after the full hour)
                  becomes ``sender_time`` against the capture time's hour
``system``        operator position and altitude; ``system_timestamp`` -> ``sender_time``
``operator_id``   ``operator_id``
``self_id``       nothing positional; kept so the transmitter stays alive
``dji_telemetry`` serial, position, home point, pilot (app) position, velocity vector
``dji_serial``    serial (OcuSync type 0x11 record)
``dji_flight_info`` serial, product
``fr_beacon``     French ID, position, home point, speed, direction
================  =====================================================================
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any

from dronewatch.model import Decoded, Message, Observation

# Seconds between the Unix epoch and 2019-01-01T00:00:00Z, the epoch of the ASTM F3411
# System message timestamp (used when a decoder hands the raw value through).
ASTM_EPOCH_OFFSET = 1546300800.0

_SERIAL_ID_TYPES = frozenset({"serial_number", "serial", "1"})


def _get(msg: Message, name: str) -> Any:
    return getattr(msg, name, None)


def _text(value: Any) -> str | None:
    """A plain string for an enum/str/int field, ``None`` for missing or empty."""
    if value is None:
        return None
    if type(value) is str:  # the common case first (the same result as below)
        return value.strip().strip("\x00").strip() or None
    if isinstance(value, enum.StrEnum):
        value = value.value
    elif isinstance(value, enum.Enum):
        value = value.name.lower()
    elif isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _num(value: Any) -> float | None:
    """A finite float or ``None``."""
    if type(value) is float:  # the common case first (the same result as below)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _latlon(lat: Any, lon: Any) -> tuple[float | None, float | None]:
    """A plausible position pair, else ``(None, None)``.

    Positions within about 1 km of (0, 0) are transmitters' placeholders for "no fix" (seen in
    real test transmitters, e.g. an operator at 0.001, -0.001), not places in the Gulf of
    Guinea where a drone could be.
    """
    la, lo = _num(lat), _num(lon)
    if la is None or lo is None or not (-90.0 <= la <= 90.0) or not (-180.0 <= lo <= 180.0):
        return None, None
    if abs(la) < 0.01 and abs(lo) < 0.01:
        return None, None  # "null island": an unset position, not a place
    return la, lo


def sender_time_from_hour_offset(capture_time: float, seconds_after_hour: float) -> float:
    """The UTC epoch time of a Remote ID ``timestamp`` (seconds after the full hour).

    The hour is the capture time's; a value more than half an hour from the capture time is
    taken to belong to the neighbouring hour (a message sent at 10:59:59.9 and received at
    11:00:00.1 is from the previous hour).
    """
    hour = math.floor(capture_time / 3600.0) * 3600.0
    t = hour + seconds_after_hour
    if t - capture_time > 1800.0:
        t -= 3600.0
    elif capture_time - t > 1800.0:
        t += 3600.0
    return t


def _epoch_seconds(value: Any) -> float | None:
    """An absolute time as UTC epoch seconds, accepting ms and the ASTM 2019 epoch."""
    t = _num(value)
    if t is None or t <= 0:
        return None
    if t > 1e11:  # milliseconds (e.g. DJI GPS time as sent)
        t /= 1000.0
    elif t < 1e9:  # seconds since 2019-01-01 (ASTM System message, raw)
        t += ASTM_EPOCH_OFFSET
    return t


# --- per message type: fill the observation from the message ---------------------------


def _basic_id(msg: Message, obs: Observation) -> None:
    obs.uas_id = _text(_get(msg, "uas_id"))
    obs.id_type = _text(_get(msg, "id_type"))
    obs.ua_type = _text(_get(msg, "ua_type"))
    # An ID with ID type "none" is kept: real transmitters send meaningful IDs so (the
    # opendroneid sample's MFG1A0123456789), and decoders already give None for empty IDs.
    if (
        obs.uas_id is not None
        and obs.id_type is not None
        and obs.id_type.lower() in _SERIAL_ID_TYPES
    ):
        obs.serial = obs.uas_id


def _location(msg: Message, obs: Observation) -> None:
    obs.lat, obs.lon = _latlon(_get(msg, "lat"), _get(msg, "lon"))
    obs.alt_geo = _num(_get(msg, "alt_geo"))
    obs.alt_baro = _num(_get(msg, "alt_baro"))
    obs.height = _num(_get(msg, "height"))
    obs.speed = _num(_get(msg, "speed"))
    obs.vspeed = _num(_get(msg, "vspeed"))
    d = _num(_get(msg, "direction"))
    obs.direction = d % 360.0 if d is not None else None
    ts = _num(_get(msg, "timestamp"))
    if ts is not None and 0.0 <= ts < 3600.0:
        obs.sender_time = sender_time_from_hour_offset(obs.time, ts)


def _system(msg: Message, obs: Observation) -> None:
    obs.operator_lat, obs.operator_lon = _latlon(_get(msg, "operator_lat"), _get(msg, "operator_lon"))
    obs.operator_alt = _num(_get(msg, "operator_alt"))
    if _text(_get(msg, "operator_location_type")) == "takeoff":
        # the operator position given is the take-off point: that is the home point too
        obs.home_lat, obs.home_lon = obs.operator_lat, obs.operator_lon
    t = _epoch_seconds(_get(msg, "system_timestamp"))
    # 0 on the wire (2019-01-01T00:00:00Z exactly) is a transmitter without a clock
    obs.sender_time = t if t is not None and t > ASTM_EPOCH_OFFSET else None


def _operator_id(msg: Message, obs: Observation) -> None:
    obs.operator_id = _text(_get(msg, "operator_id"))


def _self_id(msg: Message, obs: Observation) -> None:
    return None


def _dji_common(msg: Message, obs: Observation) -> None:
    obs.serial = _text(_get(msg, "serial"))
    product = _get(msg, "product")
    obs.product = _text(product)


def _dji_telemetry(msg: Message, obs: Observation) -> None:
    _dji_common(msg, obs)
    obs.lat, obs.lon = _latlon(_get(msg, "lat"), _get(msg, "lon"))
    obs.alt_baro = _num(_get(msg, "alt"))
    obs.height = _num(_get(msg, "height"))
    vn, ve = _num(_get(msg, "speed_north")), _num(_get(msg, "speed_east"))
    if vn is not None and ve is not None:
        obs.speed = math.hypot(vn, ve)
        if obs.speed > 0.05:
            obs.direction = math.degrees(math.atan2(ve, vn)) % 360.0
    else:
        obs.speed = _num(_get(msg, "speed"))
    if obs.direction is None:
        d = _num(_get(msg, "direction"))
        obs.direction = d % 360.0 if d is not None else None
    vu = _num(_get(msg, "speed_up"))
    obs.vspeed = vu if vu is not None else _num(_get(msg, "vspeed"))
    obs.home_lat, obs.home_lon = _latlon(_get(msg, "home_lat"), _get(msg, "home_lon"))
    obs.operator_lat, obs.operator_lon = _latlon(_get(msg, "operator_lat"), _get(msg, "operator_lon"))
    if obs.serial is None:
        # The app UUID identifies the session only when the serial is missing: one phone may
        # fly several drones, so it never links two serials.
        obs.session_id = _text(_get(msg, "uuid"))
    obs.sender_time = _epoch_seconds(_get(msg, "gps_time"))


def _fr_beacon(msg: Message, obs: Observation) -> None:
    obs.uas_id = _text(_get(msg, "uas_id"))
    obs.serial = _text(_get(msg, "serial"))
    obs.lat, obs.lon = _latlon(_get(msg, "lat"), _get(msg, "lon"))
    obs.alt_geo = _num(_get(msg, "alt"))
    obs.height = _num(_get(msg, "height"))
    obs.home_lat, obs.home_lon = _latlon(_get(msg, "home_lat"), _get(msg, "home_lon"))
    obs.speed = _num(_get(msg, "speed"))
    d = _num(_get(msg, "direction"))
    obs.direction = d % 360.0 if d is not None else None


_MAPPERS: dict[str, Callable[[Message, Observation], None]] = {
    "basic_id": _basic_id,
    "location": _location,
    "system": _system,
    "operator_id": _operator_id,
    "self_id": _self_id,
    "dji_telemetry": _dji_telemetry,
    "dji_antsdr": _dji_telemetry,  # an AntSDR's report: the same fields, decoded by it
    "dji_serial": _dji_common,
    "dji_flight_info": _dji_common,
    "fr_beacon": _fr_beacon,
}

#: Message types :func:`observe` maps (others, e.g. ``auth``, give ``None``).
OBSERVED_TYPES = frozenset(_MAPPERS)


def observe(decoded: Decoded) -> Observation | None:
    """The observation one decoded message makes, or ``None`` for a message about no drone.

    Message packs are expected to arrive already unpacked (one ``Decoded`` per message); a
    message whose fields cannot be read gives ``None`` rather than raising.
    """
    msg = decoded.message
    mapper = _MAPPERS.get(msg.type)
    if mapper is None:
        return None
    f = decoded.frame
    obs = Observation(
        time=f.time,
        transport=f.transport,
        message_type=msg.type,
        sensor_id=f.sensor_id,
        source=f.source.lower() if f.source else None,
        rssi_dbm=_num(f.rssi_dbm),
    )
    try:
        mapper(msg, obs)
    except (TypeError, ValueError, AttributeError):
        return None
    return obs
