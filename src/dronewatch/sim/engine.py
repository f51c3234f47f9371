"""The simulation engine: scenario -> time-ordered frames, and the ground truth.

Every drone is turned into a :class:`~.runtime.DroneRuntime` (identity, track, pilot track, radio
streams). Time advances in windows; in each window every drone's emission times are
computed, its state is sampled at once with numpy, the radio model decides which sensors hear
each packet, and the payloads are made with the protocol encoders (the same ones the
decoders are tested against). Frames of all drones in the window are sorted by time.

Deterministic for a seed: every random draw comes from a per-drone generator seeded from
``(seed, drone index)``, consumed in window order.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from dronewatch.model import Frame, SensorSite, Transport
from dronewatch.protocols import ble, wifi
from dronewatch.protocols.link import DEFAULT_FRAME_KIND
from dronewatch.sim import emitters as _emitters  # noqa: F401  (registers the built-in emitters)
from dronewatch.sim.flight import FloatArray, LocalFrame, flight_track, pilot_track
from dronewatch.sim.radio import ShadowField, path_loss_db, shadow_fields
from dronewatch.sim.runtime import EMITTERS, Batch, Claimed, DroneRuntime, Emitter, register_emitter
from dronewatch.sim.scenario import Drone, Scenario, ScenarioError

__all__ = ["EMITTERS", "Batch", "Claimed", "DroneRuntime", "Emitter", "iter_frames", "prepare",
           "register_emitter"]

WINDOW_S = 30.0
STATIC_EVERY = 3  # in packs: the static messages ride in every pack; single adverts rotate

TRANSPORT_OF_KIND: dict[str, Transport] = {
    "wifi-beacon": Transport.WIFI_BEACON,
    "wifi-nan": Transport.WIFI_NAN,
    "ble-legacy": Transport.BLE_LEGACY,
    "ble-long-range": Transport.BLE_LONG_RANGE,
    "dji-wifi": Transport.DJI_WIFI,
    "fr-beacon": Transport.FR_BEACON,
    "dji-ocusync": Transport.DJI_OCUSYNC,
}

# Main broadcast interval per kind (seconds), as real transmitters send them.
DEFAULT_INTERVAL: dict[str, float] = {
    "wifi-beacon": 0.5,  # message pack per beacon (ASTM: 100 ms .. 1 s)
    "wifi-nan": 0.5,
    "ble-legacy": 1.0 / 3.0,  # single messages, location every other advert (1.5 Hz)
    "ble-long-range": 1.0,  # message pack (location 1 Hz)
    "dji-wifi": 0.2,  # DJI beacons ~5 Hz
    "fr-beacon": 1.0,  # the decree: at most 3 s apart
    "dji-ocusync": 0.64,  # one DroneID burst about every 640 ms
}
SECONDARY_INTERVAL_S = 2.0  # DJI flight information record (0x11) / OcuSync serial record


# ---------------------------------------------------------------------------------------------
# Per-drone state


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()


def _default_ids(d: Drone, seed: int) -> tuple[str, str]:
    h = _digest("id", d.name).hex().upper()
    digits = "".join(c for c in str(int(h, 16)))
    if d.kind in ("dji-wifi", "dji-ocusync"):
        serial = "1WN" + h[:3] + digits[:8]  # 14 characters, like a Mavic Air 2's
    else:
        serial = "1596" + "F" + h[:15]  # CTA-2063: MFR code, length char (F = 15), serial
    uas_id = ("DWS" + "001" + digits + "0" * 24)[:30] if d.kind == "fr-beacon" else serial
    return uas_id, serial


def mhz_of(transport: Transport, channel: int) -> float:
    if transport in (Transport.BLE_LEGACY, Transport.BLE_LONG_RANGE):
        return float(ble.channel_mhz(channel))
    if transport is Transport.DJI_OCUSYNC:
        return 2414.5
    return float(wifi.mhz_from_channel(channel))


def prepare(scenario: Scenario, seed: int = 0) -> tuple[LocalFrame, list[DroneRuntime]]:
    """The local frame and a runtime per drone."""

    lat0, lon0, ground = resolve_origin(scenario)
    frame = LocalFrame.at(lat0, lon0)
    duration = scenario.duration_s
    ids: dict[str, tuple[str, str, str | None, str | None, int]] = {}
    for d in scenario.drones:
        uas_id, serial = _default_ids(d, seed)
        ids[d.name] = (d.uas_id or uas_id, d.serial or serial, d.operator_id, d.uuid,
                       d.product_type)
    runtimes: list[DroneRuntime] = []
    for i, d in enumerate(scenario.drones):
        if d.kind not in EMITTERS:
            raise ScenarioError(f"{d.name}: no emitter for kind {d.kind!r}")
        uas_id, serial, operator_id, uuid, product = ids[d.name]
        if d.spoof and d.spoof.clone_of:
            uas_id, serial, operator_id, uuid, product = ids[d.spoof.clone_of]
            # the clone keeps its own declared values where it has them
            uas_id = d.uas_id or uas_id
            serial = d.serial or serial
        track, tx_end = flight_track(d, frame, duration)
        ptrack = pilot_track(d.pilot, frame, duration)
        home = d.home if d.home is not None else d.pilot
        he, hn = frame.place(home)
        hlat, hlon = frame.to_latlon(np.array([he]), np.array([hn]))
        rng = np.random.default_rng([seed, i])
        interval = d.interval_s or DEFAULT_INTERVAL[d.kind]
        streams = [interval]
        if d.kind in ("dji-wifi", "dji-ocusync"):
            streams.append(SECONDARY_INTERVAL_S)
        phases = [float(rng.uniform(0, s)) for s in streams]
        teleport = None
        pilot_offset = None
        if d.spoof and d.spoof.teleport_every_s:
            b = d.spoof.teleport_bearing_deg
            bearing = math.radians(b if b is not None else float(rng.uniform(0, 360)))
            r = d.spoof.teleport_distance_m
            teleport = (r * math.sin(bearing), r * math.cos(bearing))
        if d.spoof and d.spoof.pilot_offset_m:
            bearing = math.radians(d.spoof.pilot_bearing_deg)
            r = d.spoof.pilot_offset_m
            pilot_offset = (r * math.sin(bearing), r * math.cos(bearing))
        transport = TRANSPORT_OF_KIND[d.kind]
        tx_power = d.tx_power_dbm if d.tx_power_dbm is not None else scenario.radio.tx_power_dbm
        spread = scenario.radio.tx_spread_db
        if spread > 0:  # this transmitter's power offset, unknown to receivers
            tx_power += float(np.random.default_rng([seed, 0x7F0, i]).normal(0.0, spread))
        channel = d.channel if d.channel is not None else 6
        runtimes.append(
            DroneRuntime(
                index=i, drone=d, kind=d.kind, transport=transport, uas_id=uas_id,
                serial=serial, operator_id=operator_id, uuid=uuid, product_type=product,
                track=track, pilot=ptrack, tx_end=tx_end, home_lat=float(hlat[0]),
                home_lon=float(hlon[0]), ground_alt=ground,
                pilot_alt=d.pilot.alt_m if d.pilot.alt_m is not None else ground + 1.5,
                mac_seed=_digest("mac", seed, d.name), streams=streams, phases=phases,
                rng=rng,
                tx_power_dbm=tx_power,
                channel=channel, teleport=teleport, pilot_offset=pilot_offset,
            )
        )
    return frame, runtimes


def resolve_origin(scenario: Scenario) -> tuple[float, float, float]:
    """``(lat, lon, ground altitude m)`` of the scenario origin."""
    o = scenario.origin
    lat, lon, ground = o.lat, o.lon, o.ground_alt_m
    if o.airport is not None:
        ap = airport(o.airport)
        lat = ap["lat"] if lat is None else lat
        lon = ap["lon"] if lon is None else lon
        if ground is None:
            ground = float(ap["elevation"]) * 0.3048
    assert lat is not None and lon is not None  # the model validator guarantees it
    return float(lat), float(lon), float(ground or 0.0)


def sensor_sites(scenario: Scenario) -> dict[str, SensorSite]:
    """Every sensor's site (WGS84, antenna height above ground), by id."""
    lat0, lon0, _ground = resolve_origin(scenario)
    frame = LocalFrame.at(lat0, lon0)
    out: dict[str, SensorSite] = {}
    for s in scenario.sensors:
        e, n = frame.place(s)
        lat, lon = frame.to_latlon(np.array([e]), np.array([n]))
        out[s.id] = SensorSite(float(lat[0]), float(lon[0]), s.alt_m)
    return out


_AIRPORTS: dict[str, dict[str, Any]] | None = None


def airport(icao: str) -> dict[str, Any]:
    """An airport record from the ``airportsdata`` package (ICAO code)."""
    global _AIRPORTS
    if _AIRPORTS is None:
        import airportsdata

        _AIRPORTS = {k: dict(v) for k, v in airportsdata.load("ICAO").items()}
    ap = _AIRPORTS.get(icao.upper())
    if ap is None:
        raise ScenarioError(f"unknown airport ICAO code {icao!r}")
    return ap


def mac_at(rt: DroneRuntime, t: float) -> str:
    """The transmitter address at scenario time ``t`` (changes if randomised)."""
    d = rt.drone
    if d.mac and not d.mac_randomize_s:
        return d.mac.lower()
    epoch = int(t // d.mac_randomize_s) if d.mac_randomize_s else 0
    key = ("mac", epoch)
    cached = rt.cache.get("mac")
    if cached is not None and cached[0] == key:
        return str(cached[1])
    raw = bytearray(_digest(rt.mac_seed.hex(), epoch)[:6])
    if rt.kind in ("dji-wifi", "dji-ocusync") and not d.mac_randomize_s:
        raw[:3] = bytes.fromhex("60601f")
    elif rt.transport in (Transport.BLE_LEGACY, Transport.BLE_LONG_RANGE):
        raw[0] |= 0xC0  # random static / resolvable-looking
    else:
        raw[0] = (raw[0] | 0x02) & 0xFE  # locally administered, unicast
    mac = ":".join(f"{b:02x}" for b in raw)
    rt.cache["mac"] = (key, mac)
    return mac


# ---------------------------------------------------------------------------------------------
# Windows


def _emission_times(rt: DroneRuntime, w0: float, w1: float) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    lo = max(w0, rt.drone.start_s)
    hi = min(w1, rt.tx_end)
    times: list[FloatArray] = []
    tags: list[npt.NDArray[np.int64]] = []
    if hi <= lo:
        return np.empty(0), np.empty(0, dtype=np.int64)
    for tag, (interval, phase) in enumerate(zip(rt.streams, rt.phases, strict=True)):
        k0 = math.ceil((lo - phase - rt.drone.start_s) / interval)
        k1 = math.ceil((hi - phase - rt.drone.start_s) / interval)
        if k1 <= k0:
            continue
        t: FloatArray = rt.drone.start_s + phase + np.arange(k0, k1, dtype=np.float64) * interval
        times.append(t)
        tags.append(np.full(len(t), tag, dtype=np.int64))
    if not times:
        return np.empty(0), np.empty(0, dtype=np.int64)
    t_all = np.concatenate(times)
    # timing jitter of the transmitter (a few ms), never crossing the window edge
    t_all = np.minimum(t_all + rt.rng.uniform(0.0, 0.004, len(t_all)), hi - 1e-6)
    tag_all = np.concatenate(tags)
    order = np.argsort(t_all, kind="stable")
    return t_all[order], tag_all[order]


def claimed_state(rt: DroneRuntime, frame: LocalFrame, t: FloatArray) -> Claimed:
    s = rt.track.sample(t)
    e, n = s.east, s.north
    if rt.teleport is not None and rt.drone.spoof is not None:
        sp = rt.drone.spoof
        assert sp.teleport_every_s is not None
        since = t - rt.drone.start_s
        jumped = (since >= sp.teleport_every_s) & (since % sp.teleport_every_s < sp.teleport_duration_s)
        e = e + np.where(jumped, rt.teleport[0], 0.0)
        n = n + np.where(jumped, rt.teleport[1], 0.0)
    shift = rt.drone.spoof_offset
    if shift is not None:  # a location spoofer: the broadcast is shifted, the signal is not
        e = e + shift.east
        n = n + shift.north
    p = rt.pilot.sample(t)
    pe, pn = p.east, p.north
    if rt.pilot_offset is not None:
        pe = pe + rt.pilot_offset[0]
        pn = pn + rt.pilot_offset[1]
    lat, lon = frame.to_latlon(e, n)
    plat, plon = frame.to_latlon(pe, pn)
    return Claimed(
        east=e, north=n, lat=lat, lon=lon, height=s.height, alt=s.height + rt.ground_alt,
        v_east=s.v_east, v_north=s.v_north, v_up=s.v_up, heading=s.heading,
        pilot_east=pe, pilot_north=pn, pilot_lat=plat, pilot_lon=plon,
        true_east=s.east, true_north=s.north,
    )


def iter_frames(
    scenario: Scenario,
    *,
    seed: int = 0,
    duration: float | None = None,
    sensors: list[str] | None = None,
) -> Iterator[Frame]:
    """Every frame every sensor receives, in time order (ties: drone order).

    ``duration`` cuts the scenario short; ``sensors`` limits the sensors (ids).
    """
    frame, runtimes = prepare(scenario, seed)
    end = scenario.duration_s if duration is None else min(duration, scenario.duration_s)
    sens = [s for s in scenario.sensors if sensors is None or s.id in sensors]
    if sensors is not None and len(sens) != len(set(sensors)):
        raise ScenarioError(f"unknown sensor in {sensors}")
    radio = scenario.radio
    # shadowing fields by the sensor's index in the scenario (the same whichever are chosen)
    fields = shadow_fields(radio.shadowing_db, radio.decorrelation_m, seed, len(scenario.sensors))
    index = {s.id: i for i, s in enumerate(scenario.sensors)}
    sens_pos = [(s.id, *frame.place(s), s.alt_m, fields[index[s.id]]) for s in sens]
    t0 = scenario.start_epoch
    w0 = 0.0
    while w0 < end:
        w1 = min(w0 + WINDOW_S, end)
        out: list[Frame] = []
        for rt in runtimes:
            out.extend(_window_frames(rt, frame, w0, w1, t0, sens_pos, radio))
        out.sort(key=_frame_time)
        yield from out
        w0 = w1


def _frame_time(f: Frame) -> float:
    return f.time


def _window_frames(
    rt: DroneRuntime,
    frame: LocalFrame,
    w0: float,
    w1: float,
    t0: float,
    sensors: list[tuple[str, float, float, float, ShadowField]],
    radio: Any,
) -> list[Frame]:
    t, tags = _emission_times(rt, w0, w1)
    if len(t) == 0:
        return []
    c = claimed_state(rt, frame, t)
    speed = np.hypot(c.v_east, c.v_north)
    batch = Batch(
        time=(t + t0).tolist(), tag=tags.tolist(), lat=c.lat.tolist(), lon=c.lon.tolist(),
        height=c.height.tolist(), alt=c.alt.tolist(), v_east=c.v_east.tolist(),
        v_north=c.v_north.tolist(), v_up=c.v_up.tolist(), speed=speed.tolist(),
        direction=c.heading.tolist(), airborne=(c.height > 0.5).tolist(),
        pilot_lat=c.pilot_lat.tolist(), pilot_lon=c.pilot_lon.tolist(),
        arrays=c, epoch=t + t0, tags=tags,
    )
    built = EMITTERS[rt.kind](rt, batch)
    if not built:
        return []
    rows = np.fromiter((b[0] for b in built), dtype=np.int64, count=len(built))
    # radio: the transmitter is where it really is (a teleport is a lie in the payload)
    te, tn, th = c.true_east[rows], c.true_north[rows], c.height[rows]
    frames: list[Frame] = []
    n = len(built)
    for sid, se, sn, salt, shadow in sensors:
        d = np.sqrt((te - se) ** 2 + (tn - sn) ** 2 + (th - salt) ** 2)
        loss = path_loss_db(d, radio.ref_loss_db, radio.exponent)
        rssi = rt.tx_power_dbm - loss + shadow(te, tn) + rt.rng.normal(0.0, radio.fading_db, n)
        ok = rssi >= radio.sensitivity_dbm
        if radio.loss > 0:
            ok &= rt.rng.uniform(0.0, 1.0, n) >= radio.loss
        rssi_l = np.round(rssi).tolist()
        times = batch.time
        randomized = rt.drone.mac_randomize_s is not None
        mac = mac_at(rt, w0)
        freq: dict[tuple[Transport, int], float] = {}
        for j in np.flatnonzero(ok).tolist():
            row, transport, payload, counter, channel = built[j]
            hz = freq.get((transport, channel))
            if hz is None:
                hz = freq[(transport, channel)] = mhz_of(transport, channel) * 1e6
            frames.append(
                Frame(
                    payload=payload, time=times[row], transport=transport,
                    source=mac_at(rt, times[row] - t0) if randomized else mac,
                    rssi_dbm=rssi_l[j], channel=channel, frequency_hz=hz, sensor_id=sid,
                    counter=counter, frame_kind=DEFAULT_FRAME_KIND[transport],
                )
            )
    return frames
