"""Payload builders per drone kind, made with the protocol encoders.

Each builder turns a :class:`~dronewatch.sim.runtime.Batch` (one drone's state at its emission
times) into ``(row, transport, payload, counter, channel)`` tuples. What they send, and how
often (intervals in :data:`~dronewatch.sim.engine.DEFAULT_INTERVAL`):

* ``wifi-beacon`` / ``wifi-nan`` / ``ble-long-range``: an ASTM message pack per frame
  (Basic ID, Location, System, Self-ID and Operator ID when set); the pack counter counts.
* ``ble-legacy``: single 25-byte messages rotating Location / Basic ID / Location / System /
  Location / Operator ID / Location / Self-ID, with a counter per message type, on advertising
  channels 37, 38, 39 in turn.
* ``dji-wifi``: DroneID telemetry v2 at 5 Hz and flight information (0x11) every 2 s when the
  drone has a ``description`` (the flight purpose).
* ``fr-beacon``: one French beacon a second.
* ``dji-ocusync``: the 173-byte OcuSync payload (telemetry, and the serial record every 2 s);
  these frames have no link-layer packet (they become IQ), see ``write_capture``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dronewatch.model import Transport
from dronewatch.protocols import dji_wifi, fr_beacon
from dronewatch.protocols.astm import codec as astm
from dronewatch.protocols.astm.enums import (
    ClassificationType,
    IdType,
    OperatorLocationType,
    UaType,
)
from dronewatch.protocols.astm.messages import BasicId, OperatorId, SelfId, System
from dronewatch.protocols.dji_droneid import (
    STATE_FLYING_DEFAULT,
    STATE_IN_AIR,
    STATE_MOTOR_ON,
    DjiFlightInfo,
    DjiSerial,
    encode_telemetry_many,
    make_telemetry,
)
from dronewatch.sim.fast_location import encode_locations
from dronewatch.sim.runtime import Batch, DroneRuntime, register_emitter

Built = list[tuple[int, Transport, bytes, int | None, int]]

_ID_TYPES = {
    "serial": IdType.SERIAL_NUMBER,
    "caa": IdType.CAA_REGISTRATION_ID,
    "utm": IdType.UTM_ASSIGNED_UUID,
    "session": IdType.SPECIFIC_SESSION_ID,
}

# ---------------------------------------------------------------------------------------------
# ASTM Remote ID


def _rid_static(rt: DroneRuntime) -> dict[str, bytes]:
    """Basic ID, Self-ID and Operator ID: encoded once per drone."""
    cached: dict[str, bytes] | None = rt.cache.get("rid")
    if cached is not None:
        return cached
    d = rt.drone
    out = {
        "basic": astm.encode(
            BasicId(id_type=_ID_TYPES[d.id_type], ua_type=UaType[d.ua_type.upper()],
                    uas_id=rt.uas_id[:20])
        )
    }
    if d.description:
        out["self_id"] = astm.encode(SelfId(description=d.description[:23]))
    if rt.operator_id:
        out["operator"] = astm.encode(OperatorId(operator_id=rt.operator_id[:20]))
    rt.cache["rid"] = out
    return out


def _locations(b: Batch) -> list[bytes]:
    """The Location message of every row of the batch (numpy; same bytes as
    ``astm.encode(Location(...))`` with :data:`~dronewatch.sim.fast_location.ACCURACY`)."""
    c = b.arrays
    return encode_locations(
        airborne=c.height > 0.5,
        direction=c.heading,
        speed=np.hypot(c.v_east, c.v_north),
        vspeed=c.v_up,
        lat=c.lat,
        lon=c.lon,
        alt_baro=c.alt,
        alt_geo=c.alt,
        height=c.height,
        timestamp=np.floor((b.epoch % 3600.0) * 10.0) / 10.0,
    )


def _system(rt: DroneRuntime, b: Batch, i: int) -> bytes:
    """The System message (cached while the pilot and the whole second do not change)."""
    key = (b.pilot_lat[i], b.pilot_lon[i], math.floor(b.time[i]))
    cached = rt.cache.get("system")
    if cached is not None and cached[0] == key:
        return bytes(cached[1])
    walking = bool(rt.drone.pilot.walk)
    raw = astm.encode(
        System(
            operator_location_type=(
                OperatorLocationType.LIVE_GNSS if walking else OperatorLocationType.TAKEOFF
            ),
            classification_type=ClassificationType.EUROPEAN_UNION,
            operator_lat=b.pilot_lat[i],
            operator_lon=b.pilot_lon[i],
            operator_alt=rt.pilot_alt,
            area_count=1,
            system_timestamp=float(math.floor(b.time[i])),
        )
    )
    rt.cache["system"] = (key, raw)
    return raw


def _packs(rt: DroneRuntime, b: Batch) -> Built:
    static = _rid_static(rt)
    out: Built = []
    transport, channel = rt.transport, rt.channel
    locations = _locations(b)
    for i in range(len(b.time)):
        parts = [static["basic"], locations[i], _system(rt, b, i)]
        if "self_id" in static:
            parts.append(static["self_id"])
        if "operator" in static:
            parts.append(static["operator"])
        counter = rt.count("pack") & 0xFF
        ch = channel
        if transport is Transport.BLE_LONG_RANGE:
            ch = (counter * 7) % 37  # AUX_ADV_IND on a data channel
        out.append((i, transport, astm.encode_pack(parts), counter, ch))
    return out


register_emitter("wifi-beacon")(_packs)
register_emitter("wifi-nan")(_packs)
register_emitter("ble-long-range")(_packs)


@register_emitter("ble-legacy")
def _ble_legacy(rt: DroneRuntime, b: Batch) -> Built:
    static = _rid_static(rt)
    cycle = ["location", "basic", "location", "system", "location", "operator", "location",
             "self_id"]
    cycle = [m for m in cycle if m in ("location", "system") or m in static]
    out: Built = []
    locations = _locations(b)
    for i in range(len(b.time)):
        k = rt.count("adv")
        which = cycle[k % len(cycle)]
        if which == "location":
            payload = locations[i]
        elif which == "system":
            payload = _system(rt, b, i)
        else:
            payload = static[which]
        counter = rt.count(("msg", which)) & 0xFF
        out.append((i, Transport.BLE_LEGACY, payload, counter, 37 + k % 3))
    return out


# ---------------------------------------------------------------------------------------------
# DJI


def _state(airborne: bool) -> int:
    return STATE_FLYING_DEFAULT if airborne else STATE_FLYING_DEFAULT & ~(STATE_IN_AIR | STATE_MOTOR_ON)


def _telemetry_kwargs(rt: DroneRuntime, b: Batch, i: int) -> dict[str, Any]:
    d = rt.drone
    return {
        "serial": rt.serial,
        "lat": b.lat[i],
        "lon": b.lon[i],
        "alt": b.alt[i],
        "height": b.height[i],
        "speed_north": b.v_north[i],
        "speed_east": b.v_east[i],
        "speed_up": b.v_up[i],
        "yaw": b.direction[i],
        "home_lat": rt.home_lat,
        "home_lon": rt.home_lon,
        "operator_lat": b.pilot_lat[i],
        "operator_lon": b.pilot_lon[i],
        "gps_time": b.time[i],
        "product_type": rt.product_type,
        "uuid": rt.uuid if rt.uuid is not None else (d.operator_id or ""),
        "sequence": rt.count("seq") & 0xFFFF,
        "state_info": _state(b.airborne[i]),
    }


def _telemetry_records(rt: DroneRuntime, b: Batch, rows: Any) -> list[bytes]:
    """Telemetry records for ``rows`` of the batch, encoded at once."""
    c = b.arrays
    n = len(rows)
    k0 = rt.counters.get("seq", 0)
    rt.counters["seq"] = k0 + n
    airborne = c.height[rows] > 0.5
    d = rt.drone
    return encode_telemetry_many(
        n, serial=rt.serial, lat=c.lat[rows], lon=c.lon[rows], alt=c.alt[rows],
        height=c.height[rows], speed_north=c.v_north[rows], speed_east=c.v_east[rows],
        speed_up=c.v_up[rows], yaw=c.heading[rows], home_lat=rt.home_lat,
        home_lon=rt.home_lon, operator_lat=c.pilot_lat[rows], operator_lon=c.pilot_lon[rows],
        gps_time=b.epoch[rows], product_type=rt.product_type,
        uuid=rt.uuid if rt.uuid is not None else (d.operator_id or ""),
        sequence=np.arange(k0, k0 + n), state_info=np.where(airborne, _state(True), _state(False)),
    )


@register_emitter("dji-wifi")
def _dji_wifi(rt: DroneRuntime, b: Batch) -> Built:
    out: Built = []
    header = bytes([88]) + dji_wifi.HEADER_TAIL
    d = rt.drone
    rows = np.flatnonzero(b.tags == 0)
    records = iter(_telemetry_records(rt, b, rows))
    for i in range(len(b.time)):
        if b.tag[i] == 0:
            payload = header + next(records)
        elif d.description:
            payload = dji_wifi.encode(
                DjiFlightInfo(serial=rt.serial, drone_id=(rt.operator_id or "")[:10] or None,
                              purpose=d.description)
            )
        else:
            continue
        out.append((i, Transport.DJI_WIFI, payload, None, rt.channel))
    return out


@register_emitter("dji-ocusync")
def _dji_ocusync(rt: DroneRuntime, b: Batch) -> Built:
    from dronewatch.protocols.dji_ocusync import encode_payload

    out: Built = []
    for i in range(len(b.time)):
        if b.tag[i] == 0:
            msg: Any = make_telemetry(**_telemetry_kwargs(rt, b, i))
        else:
            msg = DjiSerial(serial=rt.serial)
        out.append((i, Transport.DJI_OCUSYNC, encode_payload(msg), None, 0))
    return out


# ---------------------------------------------------------------------------------------------
# French beacon


@register_emitter("fr-beacon")
def _fr_beacon(rt: DroneRuntime, b: Batch) -> Built:
    out: Built = []
    for i in range(len(b.time)):
        msg = fr_beacon.FrBeacon(
            uas_id=rt.uas_id[:30],
            serial=rt.serial,
            lat=b.lat[i],
            lon=b.lon[i],
            alt=b.alt[i],
            height=b.height[i],
            home_lat=rt.home_lat,
            home_lon=rt.home_lon,
            speed=b.speed[i],
            direction=b.direction[i],
        )
        out.append((i, Transport.FR_BEACON, fr_beacon.encode(msg), None, rt.channel))
    return out

