"""Flight paths: a local east/north/up frame around the origin and piecewise-linear tracks.

Positions are computed in metres in a local tangent plane (accurate to centimetres within a
few tens of kilometres) and turned into WGS84 degrees when sampled. Sampling is vectorised:
``Track.sample(times)`` takes a numpy array of times and returns arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dronewatch.sim.scenario import Drone, Pilot, Place

FloatArray = npt.NDArray[np.float64]

_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3


@dataclass(slots=True, frozen=True)
class LocalFrame:
    """East/north metres around ``(lat0, lon0)`` <-> WGS84 degrees."""

    lat0: float
    lon0: float
    m_per_deg_lat: float
    m_per_deg_lon: float

    @classmethod
    def at(cls, lat0: float, lon0: float) -> LocalFrame:
        phi = math.radians(lat0)
        s2 = math.sin(phi) ** 2
        m_lat = math.radians(1.0) * _WGS84_A * (1 - _WGS84_E2) / (1 - _WGS84_E2 * s2) ** 1.5
        m_lon = math.radians(1.0) * _WGS84_A * math.cos(phi) / math.sqrt(1 - _WGS84_E2 * s2)
        return cls(lat0, lon0, m_lat, m_lon)

    def to_en(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.m_per_deg_lon, (lat - self.lat0) * self.m_per_deg_lat

    def to_latlon(self, east: FloatArray, north: FloatArray) -> tuple[FloatArray, FloatArray]:
        return self.lat0 + north / self.m_per_deg_lat, self.lon0 + east / self.m_per_deg_lon

    def place(self, p: Place) -> tuple[float, float]:
        """A scenario point in east/north metres."""
        if p.lat is not None and p.lon is not None:
            return self.to_en(p.lat, p.lon)
        return float(p.east or 0.0), float(p.north or 0.0)


@dataclass(slots=True, frozen=True)
class TrackSample:
    east: FloatArray
    north: FloatArray
    height: FloatArray
    v_east: FloatArray
    v_north: FloatArray
    v_up: FloatArray
    heading: FloatArray  # degrees [0, 360), direction of travel (kept while hovering)


@dataclass(slots=True, frozen=True)
class Track:
    """A piecewise-linear track through keyframes ``(t, east, north, height)``."""

    t: FloatArray
    east: FloatArray
    north: FloatArray
    height: FloatArray
    heading: FloatArray  # per segment (len(t) - 1), forward-filled over stationary ones

    @classmethod
    def from_keyframes(cls, keys: list[tuple[float, float, float, float]]) -> Track:
        arr = np.asarray(keys, dtype=np.float64).reshape(-1, 4)
        if len(arr) == 1:
            arr = np.vstack([arr, arr + np.array([1.0, 0.0, 0.0, 0.0])])
        t, e, n, h = arr.T
        de, dn = np.diff(e), np.diff(n)
        moving = np.hypot(de, dn) > 1e-6
        heading = np.where(moving, np.degrees(np.arctan2(de, dn)) % 360.0, np.nan)
        # forward fill, then back fill the leading hover
        idx = np.where(moving, np.arange(len(heading)), -1)
        np.maximum.accumulate(idx, out=idx)
        first = int(np.argmax(moving)) if moving.any() else -1
        filled = np.where(idx >= 0, heading[np.maximum(idx, 0)], heading[first] if first >= 0 else 0.0)
        return cls(t.copy(), e.copy(), n.copy(), h.copy(), np.nan_to_num(filled))

    @property
    def end(self) -> float:
        return float(self.t[-1])

    def sample(self, times: FloatArray) -> TrackSample:
        t = self.t
        east = np.interp(times, t, self.east)
        north = np.interp(times, t, self.north)
        height = np.interp(times, t, self.height)
        seg = np.clip(np.searchsorted(t, times, side="right") - 1, 0, len(t) - 2)
        dt = t[seg + 1] - t[seg]
        inside = (times >= t[0]) & (times < t[-1]) & (dt > 0)
        safe = np.where(dt > 0, dt, 1.0)
        ve = np.where(inside, (self.east[seg + 1] - self.east[seg]) / safe, 0.0)
        vn = np.where(inside, (self.north[seg + 1] - self.north[seg]) / safe, 0.0)
        vu = np.where(inside, (self.height[seg + 1] - self.height[seg]) / safe, 0.0)
        return TrackSample(east, north, height, ve, vn, vu, self.heading[seg])


def flight_track(drone: Drone, frame: LocalFrame, duration_s: float) -> tuple[Track, float]:
    """The drone's track and the time its transmitter goes off (scenario seconds)."""
    home_place: Place = drone.home if drone.home is not None else drone.pilot
    he, hn = frame.place(home_place)
    t = drone.start_s
    keys: list[tuple[float, float, float, float]] = [(t, he, hn, 0.0)]
    t += drone.ground_s
    keys.append((t, he, hn, 0.0))
    if not drone.waypoints:
        # a hover above home until the end
        h = drone.height_m
        t += h / drone.climb_mps
        keys.append((t, he, hn, h))
        keys.append((max(duration_s, t) + 1.0, he, hn, h))
        return Track.from_keyframes(keys), duration_s

    def go(e: float, n: float, h: float, speed: float) -> None:
        nonlocal t
        _, e0, n0, h0 = keys[-1]
        dist = math.hypot(e - e0, n - n0)
        dur = max(dist / speed, abs(h - h0) / (drone.climb_mps if h > h0 else drone.descent_mps))
        if dur > 0:
            t += dur
            keys.append((t, e, n, h))

    first = drone.waypoints[0]
    h1 = first.height_m if first.height_m is not None else drone.height_m
    go(he, hn, h1, drone.speed_mps)  # vertical take-off
    while True:
        t_circuit = t
        for wp in drone.waypoints:
            e, n = frame.place(wp)
            h = wp.height_m if wp.height_m is not None else drone.height_m
            go(e, n, h, wp.speed_mps or drone.speed_mps)
            if wp.loiter_s > 0:
                t += wp.loiter_s
                keys.append((t, e, n, h))
            if t > duration_s:
                break
        if not drone.repeat or t > duration_s or t - t_circuit < 1e-6:
            break
    if drone.return_home:
        go(he, hn, keys[-1][3], drone.speed_mps)
    if drone.land:
        _, e, n, _ = keys[-1]
        go(e, n, 0.0, drone.speed_mps)
        t += drone.ground_s
        keys.append((t, e, n, 0.0))
        return Track.from_keyframes(keys), min(t, duration_s)
    keys.append((max(duration_s, t) + 1.0, *keys[-1][1:]))
    return Track.from_keyframes(keys), duration_s


def pilot_track(pilot: Pilot, frame: LocalFrame, duration_s: float) -> Track:
    """The pilot standing still, or walking their points back and forth until the end."""
    e0, n0 = frame.place(pilot)
    keys: list[tuple[float, float, float, float]] = [(0.0, e0, n0, 0.0)]
    if pilot.walk:
        points = [(e0, n0)] + [frame.place(p) for p in pilot.walk]
        route = points + points[-2::-1]  # there and back
        t = 0.0
        while t <= duration_s:
            moved = False
            for e, n in route[1:]:
                _, pe, pn, _ = keys[-1]
                d = math.hypot(e - pe, n - pn)
                if d > 0:
                    t += d / pilot.walk_speed_mps
                    keys.append((t, e, n, 0.0))
                    moved = True
            if not moved:
                break
    keys.append((max(duration_s, keys[-1][0]) + 1.0, keys[-1][1], keys[-1][2], 0.0))
    return Track.from_keyframes(keys)
