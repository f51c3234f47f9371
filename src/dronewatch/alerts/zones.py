"""Protected zones: GeoJSON polygons, multipolygons and circles, with altitude limits, time
windows and a severity, and a spatial index fast enough for thousands of zones.

File format: a GeoJSON ``FeatureCollection`` (or one ``Feature``). Each feature's geometry is a
``Polygon``, a ``MultiPolygon`` or a ``Point`` with a ``radius_m`` property (a circle).
Properties (all optional; any other key is an error, so a typo never silently disables a
limit):

=============  ===========================================================================
``name``       shown in alerts (default ``zone <index>``)
``id``         stable identifier (default: the feature ``id``, else the name)
``severity``   ``info`` | ``warning`` | ``critical`` (default ``warning``)
``min_alt_m``  the zone starts at this height (metres above take-off/ground, see below)
``max_alt_m``  the zone ends at this height; above it a drone is not inside the zone
``radius_m``   circle radius (``Point`` geometries only, required there)
``active``     list of time windows ``{"start": "HH:MM", "end": "HH:MM", "days": ["mon",
               ...], "tz": "Europe/London"}`` (UTC without ``tz``; an ``end`` before ``start``
               runs past midnight; no ``active``: always active)
``tz``         default time zone of the windows
``description``, ``color``, ``kind``: free text, kept for the map
=============  ===========================================================================

Values are bounded so that a typo or a hostile client cannot store absurd zones: ``radius_m``
at most 1,000 km, heights within +-100 km, ``name`` at most 200 characters, ``description``
2,000, ``id``, ``color``, ``kind`` and ``tz`` 128, at most 100 time windows; text holds no
NUL character or lone surrogate (``dronewatch.text``).

Altitudes compare with the drone's height above take-off/ground when it sends one, else with
its geodetic/barometric altitude; an unknown altitude counts as inside (conservative).

Geometry is tested in a local metric projection around each zone (equirectangular, accurate
to centimetres over a few tens of kilometres). Zones must not cross the antimeridian.
Lookups go through a uniform lat/lon grid (cell -> candidate zones), so a drone far from
every zone costs one dict lookup; zones too large for the grid go to a shapely STRtree.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from dronewatch.model import Severity
from dronewatch.text import text_problem
from dronewatch.track.geo import M_PER_DEG

MAX_RADIUS_M = 1_000_000.0
MAX_ABS_ALT_M = 100_000.0
MAX_WINDOWS = 100
#: Longest text per property; other string properties (id, color, kind, tz): MAX_SHORT_CHARS.
MAX_CHARS = {"name": 200, "description": 2000}
MAX_SHORT_CHARS = 128


class ZoneError(ValueError):
    """A zone definition that cannot be used; the message names the file, feature and key."""


_ALLOWED_PROPS = frozenset(
    {"name", "id", "severity", "min_alt_m", "max_alt_m", "radius_m", "active", "tz",
     "description", "color", "kind"}
)
_ALLOWED_FEATURE_KEYS = frozenset({"type", "geometry", "properties", "id", "bbox"})
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_HHMM = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


@dataclass(slots=True, frozen=True)
class TimeWindow:
    """Daily window [start, end) in minutes after midnight in ``tz``, on ``days`` (0=Mon)."""

    start_min: int
    end_min: int
    days: frozenset[int] | None = None
    tz: str = "UTC"

    def contains(self, t: float) -> bool:
        if self.tz == "UTC":
            local = dt.datetime.fromtimestamp(t, dt.UTC)
        else:
            local = dt.datetime.fromtimestamp(t, ZoneInfo(self.tz))
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        if self.start_min <= self.end_min:
            return self.start_min <= minute < self.end_min and (
                self.days is None or weekday in self.days
            )
        # overnight: the part after midnight belongs to the previous day's window
        if minute >= self.start_min:
            return self.days is None or weekday in self.days
        if minute < self.end_min:
            return self.days is None or (weekday - 1) % 7 in self.days
        return False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": f"{self.start_min // 60:02d}:{self.start_min % 60:02d}",
            "end": f"{self.end_min // 60:02d}:{self.end_min % 60:02d}",
        }
        if self.days is not None:
            names = {v: k for k, v in _DAYS.items()}
            out["days"] = [names[d] for d in sorted(self.days)]
        if self.tz != "UTC":
            out["tz"] = self.tz
        return out


@dataclass(slots=True, eq=False)
class Zone:
    """One protected volume. Geometry is kept in lon/lat and in a local metric frame."""

    zone_id: str
    name: str
    severity: Severity = Severity.WARNING
    min_alt_m: float | None = None
    max_alt_m: float | None = None
    windows: tuple[TimeWindow, ...] = ()
    circle: tuple[float, float, float] | None = None  # (lat, lon, radius_m)
    geometry: BaseGeometry | None = None  # lon/lat polygon(s); None for circles
    properties: dict[str, Any] = field(default_factory=dict)
    # local frame: x = (lon - lon0) * kx, y = (lat - lat0) * M_PER_DEG
    lat0: float = 0.0
    lon0: float = 0.0
    kx: float = M_PER_DEG
    local: BaseGeometry | None = None  # polygon(s) in the local frame (prepared)
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # minlon, minlat, maxlon, maxlat
    r_bound: float = 0.0  # radius of a circle around (lat0, lon0) holding the zone, metres
    # polygon edges in the local frame (x1, y1, x2, y2), for the approach ray test
    edges: tuple[tuple[float, float, float, float], ...] = ()

    @staticmethod
    def make_circle(
        zone_id: str, name: str, lat: float, lon: float, radius_m: float, **kw: Any
    ) -> Zone:
        z = Zone(zone_id=zone_id, name=name, circle=(lat, lon, radius_m), **kw)
        z.lat0, z.lon0 = lat, lon
        z.kx = M_PER_DEG * max(1e-6, math.cos(math.radians(lat)))
        dlat = radius_m / M_PER_DEG
        dlon = radius_m / z.kx
        z.bbox = (lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        z.r_bound = radius_m
        return z

    @staticmethod
    def make_polygon(zone_id: str, name: str, geometry: BaseGeometry, **kw: Any) -> Zone:
        z = Zone(zone_id=zone_id, name=name, geometry=geometry, **kw)
        minx, miny, maxx, maxy = geometry.bounds
        z.bbox = (minx, miny, maxx, maxy)
        z.lat0, z.lon0 = (miny + maxy) / 2.0, (minx + maxx) / 2.0
        z.kx = M_PER_DEG * max(1e-6, math.cos(math.radians(z.lat0)))
        lat0, lon0, kx = z.lat0, z.lon0, z.kx

        def proj(coords: np.ndarray) -> np.ndarray:
            out = np.empty_like(coords)
            out[:, 0] = (coords[:, 0] - lon0) * kx
            out[:, 1] = (coords[:, 1] - lat0) * M_PER_DEG
            return out

        z.local = shapely.transform(geometry, proj)
        shapely.prepare(z.local)
        xy = shapely.get_coordinates(z.local)
        z.r_bound = float(np.sqrt((xy * xy).sum(axis=1)).max()) if len(xy) else 0.0
        edges: list[tuple[float, float, float, float]] = []
        for ring in shapely.get_rings(z.local):
            c = shapely.get_coordinates(ring)
            for i in range(len(c) - 1):
                edges.append((float(c[i, 0]), float(c[i, 1]), float(c[i + 1, 0]), float(c[i + 1, 1])))
        z.edges = tuple(edges)
        return z

    # --- queries (lat/lon in degrees, distances in metres) -------------------------

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG

    def contains(self, lat: float, lon: float) -> bool:
        """2D containment (boundary counts as inside)."""
        b = self.bbox
        if lon < b[0] or lon > b[2] or lat < b[1] or lat > b[3]:
            return False
        return self.contains_xy((lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG)

    def contains_xy(self, x: float, y: float) -> bool:
        """2D containment of a point of the local frame (see :meth:`xy`)."""
        c = self.circle
        if c is not None:
            return x * x + y * y <= c[2] * c[2]
        assert self.local is not None
        return bool(shapely.intersects_xy(self.local, x, y))

    def distance_m(self, lat: float, lon: float) -> float:
        """Distance to the zone (0 inside)."""
        x, y = self.xy(lat, lon)
        c = self.circle
        if c is not None:
            return max(0.0, math.hypot(x, y) - c[2])
        assert self.local is not None
        return float(self.local.distance(Point(x, y)))

    def contains_alt(self, alt: float | None) -> bool:
        if alt is None:
            return True
        if self.max_alt_m is not None and alt > self.max_alt_m:
            return False
        return not (self.min_alt_m is not None and alt < self.min_alt_m)

    def active_at(self, t: float) -> bool:
        if not self.windows:
            return True
        return any(w.contains(t) for w in self.windows)

    def time_to_entry(
        self, lat: float, lon: float, speed: float, direction: float, horizon_s: float
    ) -> float | None:
        """Seconds until a point moving straight at ``speed`` along ``direction`` enters the
        zone, if within ``horizon_s``; 0 if already inside; else ``None``."""
        x, y = self.xy(lat, lon)
        b = math.radians(direction)
        return self.time_to_entry_xy(x, y, speed * math.sin(b), speed * math.cos(b), horizon_s)

    def time_to_entry_xy(
        self, x: float, y: float, vx: float, vy: float, horizon_s: float
    ) -> float | None:
        """:meth:`time_to_entry` in this zone's local frame (metres, m/s east/north)."""
        c = self.circle
        r = self.r_bound
        cc = x * x + y * y - r * r
        if cc > 0.0:  # outside the bounding circle: when does the ray reach it?
            aa = vx * vx + vy * vy
            if aa <= 1e-9:
                return None
            bb = 2.0 * (x * vx + y * vy)
            disc = bb * bb - 4.0 * aa * cc
            if disc < 0.0 or bb >= 0.0:
                return None
            t_circle = (-bb - math.sqrt(disc)) / (2.0 * aa)
            if t_circle > horizon_s:
                return None
            if c is not None:
                return t_circle
        elif c is not None:
            return 0.0
        assert self.local is not None
        if shapely.intersects_xy(self.local, x, y):
            return 0.0
        # first crossing of the ray with any polygon edge
        best = math.inf
        for x1, y1, x2, y2 in self.edges:
            ex, ey = x2 - x1, y2 - y1
            den = vx * ey - vy * ex
            if den == 0.0:
                continue
            wx, wy = x1 - x, y1 - y
            t = (wx * ey - wy * ex) / den  # along the ray, seconds
            if t < 0.0 or t >= best:
                continue
            u = (wx * vy - wy * vx) / den  # along the edge, 0..1
            if 0.0 <= u <= 1.0:
                best = t
        return best if best <= horizon_s else None

    def to_feature(self) -> dict[str, Any]:
        """This zone as a GeoJSON Feature (the format :meth:`ZoneSet.from_geojson` reads)."""
        props: dict[str, Any] = dict(self.properties)
        props["name"] = self.name
        props["severity"] = self.severity.value
        if self.min_alt_m is not None:
            props["min_alt_m"] = self.min_alt_m
        if self.max_alt_m is not None:
            props["max_alt_m"] = self.max_alt_m
        if self.windows:
            props["active"] = [w.to_json() for w in self.windows]
        if self.circle is not None:
            lat, lon, r = self.circle
            geom: dict[str, Any] = {"type": "Point", "coordinates": [lon, lat]}
            props["radius_m"] = r
        else:
            assert self.geometry is not None
            geom = mapping(self.geometry)
            geom = json.loads(json.dumps(geom))  # tuples -> lists
        return {"type": "Feature", "id": self.zone_id, "geometry": geom, "properties": props}


class ZoneSet:
    """An immutable set of zones with a grid index for point and radius queries."""

    def __init__(self, zones: Iterable[Zone] = (), *, cell_deg: float | None = None,
                 max_cells_per_zone: int = 2500) -> None:
        self.zones: tuple[Zone, ...] = tuple(zones)
        if cell_deg is None:  # about the median zone size: a few cells per zone
            spans = sorted(max(z.bbox[2] - z.bbox[0], z.bbox[3] - z.bbox[1]) for z in self.zones)
            cell_deg = min(0.5, max(0.005, spans[len(spans) // 2])) if spans else 0.02
        self.cell_deg = cell_deg
        self._inv = 1.0 / cell_deg
        grid: dict[tuple[int, int], list[Zone]] = {}
        big: list[Zone] = []
        inv = self._inv
        for z in self.zones:
            minx, miny, maxx, maxy = z.bbox
            ix0, ix1 = math.floor(minx * inv), math.floor(maxx * inv)
            iy0, iy1 = math.floor(miny * inv), math.floor(maxy * inv)
            if (ix1 - ix0 + 1) * (iy1 - iy0 + 1) > max_cells_per_zone:
                big.append(z)
                continue
            for ix in range(ix0, ix1 + 1):
                for iy in range(iy0, iy1 + 1):
                    grid.setdefault((ix, iy), []).append(z)
        self._grid: dict[tuple[int, int], tuple[Zone, ...]] = {k: tuple(v) for k, v in grid.items()}
        self._big = tuple(big)
        self._big_tree = shapely.STRtree([shapely.box(*z.bbox) for z in big]) if big else None
        self.by_id: dict[str, Zone] = {z.zone_id: z for z in self.zones}

    def __len__(self) -> int:
        return len(self.zones)

    def __iter__(self) -> Iterator[Zone]:
        return iter(self.zones)

    def __bool__(self) -> bool:
        return bool(self.zones)

    def __add__(self, other: ZoneSet) -> ZoneSet:
        return ZoneSet((*self.zones, *other.zones))

    # --- lookups ----------------------------------------------------------------------

    def candidates(self, lat: float, lon: float) -> Sequence[Zone]:
        """Zones whose bounding box may contain (lat, lon) (cheap, no exact test)."""
        inv = self._inv
        cell = self._grid.get((math.floor(lon * inv), math.floor(lat * inv)), ())
        if self._big_tree is None:
            return cell
        hits = self._big_tree.query(Point(lon, lat))
        if len(hits) == 0:
            return cell
        return (*cell, *(self._big[int(i)] for i in hits))

    def candidates_near(self, lat: float, lon: float, radius_m: float) -> list[Zone]:
        """Zones whose bounding box comes within about ``radius_m`` of (lat, lon)."""
        dlat = radius_m / M_PER_DEG
        dlon = radius_m / (M_PER_DEG * max(1e-6, math.cos(math.radians(lat))))
        inv = self._inv
        ix0, ix1 = math.floor((lon - dlon) * inv), math.floor((lon + dlon) * inv)
        iy0, iy1 = math.floor((lat - dlat) * inv), math.floor((lat + dlat) * inv)
        out: list[Zone] = []
        seen: set[int] = set()
        grid = self._grid
        for ix in range(ix0, ix1 + 1):
            for iy in range(iy0, iy1 + 1):
                for z in grid.get((ix, iy), ()):
                    if id(z) not in seen:
                        seen.add(id(z))
                        out.append(z)
        if self._big_tree is not None:
            box = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
            for i in self._big_tree.query(box):
                out.append(self._big[int(i)])
        return out

    def containing(self, lat: float, lon: float) -> list[Zone]:
        """Zones whose 2D shape contains (lat, lon) (ignoring altitude and time)."""
        return [z for z in self.candidates(lat, lon) if z.contains(lat, lon)]

    # --- building ---------------------------------------------------------------------

    @classmethod
    def from_geojson(cls, obj: Any, *, source: str = "<geojson>") -> ZoneSet:
        """Zones from a parsed GeoJSON FeatureCollection / Feature (``ZoneError`` if bad)."""
        return cls(parse_features(obj, source=source))

    def to_geojson(self) -> dict[str, Any]:
        return {"type": "FeatureCollection", "features": [z.to_feature() for z in self.zones]}


# --- parsing ------------------------------------------------------------------------------


def load_zones(path: str | Path) -> ZoneSet:
    """Zones from a GeoJSON file; ``ZoneError`` naming the file, feature and key if bad."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ZoneError(f"{p}: cannot read zones file: {exc.strerror or exc}") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ZoneError(f"{p}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    return ZoneSet.from_geojson(obj, source=str(p))


def parse_features(obj: Any, *, source: str = "<geojson>") -> list[Zone]:
    if not isinstance(obj, Mapping):
        raise ZoneError(f"{source}: expected a GeoJSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list):
            raise ZoneError(f"{source}: FeatureCollection without a 'features' list")
    elif kind == "Feature":
        feats = [obj]
    else:
        raise ZoneError(f"{source}: expected type FeatureCollection or Feature, got {kind!r}")
    zones: list[Zone] = []
    ids: set[str] = set()
    for i, feat in enumerate(feats):
        z = parse_feature(feat, where=f"{source}: feature {i}", index=i)
        if z.zone_id in ids:
            raise ZoneError(f"{source}: feature {i}: duplicate zone id {z.zone_id!r}")
        ids.add(z.zone_id)
        zones.append(z)
    return zones


def _float(v: Any, where: str, key: str, limit: float) -> float:
    """A number property within [-limit, limit]."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ZoneError(f"{where}: property {key!r} must be a number, got {v!r:.40}")
    try:
        value = float(v)
    except OverflowError:  # an int too large for a float
        value = math.inf
    if not math.isfinite(value) or abs(value) > limit:
        raise ZoneError(f"{where}: property {key!r} must be within +-{limit:g}, got {v!r:.40}")
    return value


def _text(v: Any, where: str, key: str) -> str:
    """A text property: a string of bounded length that a database can store."""
    limit = MAX_CHARS.get(key, MAX_SHORT_CHARS)
    if not isinstance(v, str):
        raise ZoneError(f"{where}: property {key!r} must be a string")
    if len(v) > limit:
        raise ZoneError(f"{where}: property {key!r} is {len(v)} characters long (at most {limit})")
    problem = text_problem(v)
    if problem is not None:
        raise ZoneError(f"{where}: property {key!r} holds {problem}")
    return v


def _windows(v: Any, tz: str, where: str) -> tuple[TimeWindow, ...]:
    if not isinstance(v, list):
        raise ZoneError(f"{where}: property 'active' must be a list of time windows")
    if len(v) > MAX_WINDOWS:
        raise ZoneError(f"{where}: at most {MAX_WINDOWS} time windows, got {len(v)}")
    out: list[TimeWindow] = []
    for j, w in enumerate(v):
        here = f"{where}: active[{j}]"
        if not isinstance(w, Mapping):
            raise ZoneError(f"{here}: must be an object with 'start' and 'end'")
        unknown = set(w) - {"start", "end", "days", "tz"}
        if unknown:
            raise ZoneError(f"{here}: unknown key {sorted(unknown)[0]!r}")
        mins: list[int] = []
        for key in ("start", "end"):
            s = w.get(key)
            m = _HHMM.match(s) if isinstance(s, str) else None
            if m is None or int(m.group(1)) * 60 + int(m.group(2)) > 24 * 60:
                raise ZoneError(f"{here}: {key!r} must be 'HH:MM', got {s!r}")
            mins.append(int(m.group(1)) * 60 + int(m.group(2)))
        days: frozenset[int] | None = None
        if "days" in w:
            dl = w["days"]
            if not isinstance(dl, list) or not dl:
                raise ZoneError(f"{here}: 'days' must be a non-empty list like ['mon', 'tue']")
            ds: set[int] = set()
            for d in dl:
                key = str(d).strip().lower()[:3]
                if key not in _DAYS:
                    raise ZoneError(f"{here}: unknown day {d!r} (use mon..sun)")
                ds.add(_DAYS[key])
            days = frozenset(ds)
        wtz = w.get("tz", tz)
        _check_tz(wtz, here)
        out.append(TimeWindow(mins[0], mins[1], days, wtz))
    return tuple(out)


def _check_tz(tz: Any, where: str) -> None:
    if not isinstance(tz, str) or len(tz) > MAX_SHORT_CHARS or text_problem(tz) is not None:
        raise ZoneError(f"{where}: 'tz' must be a time zone name like 'Europe/London'")
    if tz == "UTC":
        return
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ZoneError(f"{where}: unknown time zone {tz!r}") from exc


def _check_coords(geom: BaseGeometry, where: str) -> None:
    minx, miny, maxx, maxy = geom.bounds
    if not (-180.0 <= minx <= maxx <= 180.0 and -90.0 <= miny <= maxy <= 90.0):
        raise ZoneError(f"{where}: coordinates outside lon [-180, 180] / lat [-90, 90] "
                        "(GeoJSON order is [lon, lat])")


def parse_feature(feat: Any, *, where: str, index: int = 0) -> Zone:
    """One GeoJSON Feature -> Zone; ``ZoneError`` naming ``where`` and the key if bad."""
    if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
        raise ZoneError(f"{where}: not a GeoJSON Feature")
    unknown = set(feat) - _ALLOWED_FEATURE_KEYS
    if unknown:
        raise ZoneError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    props = feat.get("properties") or {}
    if not isinstance(props, Mapping):
        raise ZoneError(f"{where}: 'properties' must be an object")
    name = _text(props.get("name", f"zone {index}"), where, "name").strip()
    if not name:
        raise ZoneError(f"{where}: property 'name' must be a non-empty string")
    where = f"{where} ({name!r})"
    unknown = set(props) - _ALLOWED_PROPS
    if unknown:
        raise ZoneError(
            f"{where}: unknown property {sorted(unknown)[0]!r} "
            f"(allowed: {', '.join(sorted(_ALLOWED_PROPS))})"
        )
    zid = props.get("id", feat.get("id", name))
    if not isinstance(zid, str | int) or isinstance(zid, bool):
        raise ZoneError(f"{where}: 'id' must be a string or integer")
    zid = _text(str(zid), where, "id")
    sev_raw = props.get("severity", "warning")
    try:
        severity = Severity(str(sev_raw).lower())
    except ValueError:
        raise ZoneError(
            f"{where}: property 'severity' must be info, warning or critical, got {sev_raw!r}"
        ) from None
    min_alt = max_alt = None
    if "min_alt_m" in props:
        min_alt = _float(props["min_alt_m"], where, "min_alt_m", MAX_ABS_ALT_M)
    if "max_alt_m" in props:
        max_alt = _float(props["max_alt_m"], where, "max_alt_m", MAX_ABS_ALT_M)
    if min_alt is not None and max_alt is not None and min_alt >= max_alt:
        raise ZoneError(f"{where}: 'min_alt_m' ({min_alt}) must be below 'max_alt_m' ({max_alt})")
    tz = props.get("tz", "UTC")
    _check_tz(tz, where)
    windows = _windows(props["active"], tz, where) if "active" in props else ()
    extra = {k: _text(props[k], where, k) for k in ("description", "color", "kind") if k in props}
    common: dict[str, Any] = {
        "severity": severity, "min_alt_m": min_alt, "max_alt_m": max_alt,
        "windows": windows, "properties": extra,
    }
    gj = feat.get("geometry")
    if not isinstance(gj, Mapping):
        raise ZoneError(f"{where}: missing 'geometry'")
    gtype = gj.get("type")
    if gtype not in ("Polygon", "MultiPolygon", "Point"):
        raise ZoneError(f"{where}: geometry type must be Polygon, MultiPolygon or Point "
                        f"(with radius_m), got {gtype!r}")
    try:
        geom = shape(gj)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise ZoneError(f"{where}: invalid {gtype} coordinates: {exc}") from exc
    if geom.is_empty:
        raise ZoneError(f"{where}: empty {gtype}")
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise ZoneError(f"{where}: non-finite coordinates")
    _check_coords(geom, where)
    if gtype == "Point":
        if "radius_m" not in props:
            raise ZoneError(f"{where}: a Point zone needs the property 'radius_m'")
        r = _float(props["radius_m"], where, "radius_m", MAX_RADIUS_M)
        if r <= 0:
            raise ZoneError(f"{where}: 'radius_m' must be positive, got {r}")
        assert isinstance(geom, Point)
        return Zone.make_circle(zid, name, geom.y, geom.x, r, **common)
    if "radius_m" in props:
        raise ZoneError(f"{where}: 'radius_m' applies to Point zones only")
    assert isinstance(geom, Polygon | MultiPolygon)
    if not geom.is_valid:
        raise ZoneError(f"{where}: invalid {gtype}: {explain_validity(geom)}")
    if geom.area <= 0.0:
        raise ZoneError(f"{where}: {gtype} has no area")
    return Zone.make_polygon(zid, name, geom, **common)
