"""The offline basemap: tiles from a PMTiles or MBTiles file that the server serves itself.

A user brings a regional extract (vector tiles with streets and buildings, or raster tiles);
the page draws it under the drones. Nothing is downloaded at run time. A file that cannot be
read gives a clear message (shown by the page) and the page keeps its bundled Natural Earth
layer.
"""

from __future__ import annotations

import gzip
import json
import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Tile type -> (media type, the name the page knows).
_TYPES = {
    "mvt": "application/vnd.mapbox-vector-tile",
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "avif": "image/avif",
}
MAX_ZOOM = 24


class BasemapError(ValueError):
    """The basemap file cannot be used (missing, not PMTiles/MBTiles, corrupt)."""


@dataclass(slots=True)
class Basemap:
    path: Path
    kind: str  # "pmtiles" | "mbtiles"
    tile_type: str  # a key of _TYPES
    gzipped: bool  # the tiles are stored gzip-compressed (vector tiles usually are)
    min_zoom: int
    max_zoom: int
    bounds: list[float] | None  # [west, south, east, north]
    attribution: str
    layers: list[str] = field(default_factory=list)  # vector layer names
    _get: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def media_type(self) -> str:
        return _TYPES[self.tile_type]

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """A tile's bytes as stored (gzip-compressed if ``gzipped``), or None."""
        if not (0 <= z <= MAX_ZOOM and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        if z < self.min_zoom or z > self.max_zoom:
            return None
        with self._lock:  # sqlite connections and the mmap reader are not shared by threads
            data: bytes | None = self._get(z, x, y)
        return data or None

    def describe(self) -> dict[str, Any]:
        """What the page needs (from /api/config)."""
        return {
            "url": "/basemap/{z}/{x}/{y}",
            "type": self.tile_type,
            "min_zoom": self.min_zoom,
            "max_zoom": self.max_zoom,
            "bounds": self.bounds,
            "attribution": self.attribution,
            "layers": self.layers,
        }


def open_basemap(path: Path, attribution: str | None = None) -> Basemap:
    """Open a .pmtiles or .mbtiles file; BasemapError with the reason if it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise BasemapError(f"basemap {path}: no such file")
    try:
        with path.open("rb") as f:
            magic = f.read(16)
    except OSError as exc:
        raise BasemapError(f"basemap {path}: {exc.strerror or exc}") from exc
    if magic.startswith(b"PMTiles"):
        return _open_pmtiles(path, attribution)
    if magic.startswith(b"SQLite format 3"):
        return _open_mbtiles(path, attribution)
    raise BasemapError(f"basemap {path}: neither a PMTiles nor an MBTiles file")


def _open_pmtiles(path: Path, attribution: str | None) -> Basemap:
    from pmtiles.reader import MmapSource, Reader
    from pmtiles.tile import Compression, TileType

    f = path.open("rb")
    try:
        reader = Reader(MmapSource(f))  # type: ignore[no-untyped-call]
        header = reader.header()  # type: ignore[no-untyped-call]
        meta: dict[str, Any] = {}
        try:
            meta = reader.metadata() or {}  # type: ignore[no-untyped-call]
        except (ValueError, OSError, EOFError):
            meta = {}
    except Exception as exc:  # the reader raises anything on a corrupt file
        f.close()
        raise BasemapError(f"basemap {path}: not a readable PMTiles file ({exc})") from exc
    kinds = {TileType.MVT: "mvt", TileType.PNG: "png", TileType.JPEG: "jpg",
             TileType.WEBP: "webp", TileType.AVIF: "avif"}
    tile_type = kinds.get(header["tile_type"])
    if tile_type is None:
        f.close()
        raise BasemapError(f"basemap {path}: unknown tile type {header['tile_type']}")
    bounds = [header["min_lon_e7"] / 1e7, header["min_lat_e7"] / 1e7,
              header["max_lon_e7"] / 1e7, header["max_lat_e7"] / 1e7]

    def get(z: int, x: int, y: int) -> bytes | None:
        data: bytes | None = reader.get(z, x, y)  # type: ignore[no-untyped-call]
        return data

    return Basemap(
        path=path, kind="pmtiles", tile_type=tile_type,
        gzipped=header["tile_compression"] == Compression.GZIP,
        min_zoom=int(header["min_zoom"]), max_zoom=int(header["max_zoom"]),
        bounds=bounds if bounds[0] < bounds[2] and bounds[1] < bounds[3] else None,
        attribution=attribution or str(meta.get("attribution") or "") or _name(path),
        layers=_layer_names(meta), _get=get,
    )


def _open_mbtiles(path: Path, attribution: str | None) -> Basemap:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        meta = dict(conn.execute("SELECT name, value FROM metadata").fetchall())
        zooms = conn.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
    except sqlite3.Error as exc:
        raise BasemapError(f"basemap {path}: not a readable MBTiles file ({exc})") from exc
    fmt = str(meta.get("format", "png")).lower()
    tile_type = {"pbf": "mvt", "mvt": "mvt", "png": "png", "jpg": "jpg", "jpeg": "jpg",
                 "webp": "webp"}.get(fmt)
    if tile_type is None:
        raise BasemapError(f"basemap {path}: unknown tile format {fmt!r}")
    bounds = None
    try:
        b = [float(v) for v in str(meta.get("bounds", "")).split(",")]
        if len(b) == 4 and b[0] < b[2] and b[1] < b[3]:
            bounds = b
    except ValueError:
        bounds = None
    first: bytes | None = None
    row = conn.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
    if row is not None:
        first = row[0]

    def get(z: int, x: int, y: int) -> bytes | None:
        found = conn.execute(  # MBTiles rows count from the south (TMS)
            "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
            (z, x, (1 << z) - 1 - y),
        ).fetchone()
        return bytes(found[0]) if found else None

    return Basemap(
        path=path, kind="mbtiles", tile_type=tile_type,
        gzipped=bool(first and first[:2] == b"\x1f\x8b"),
        min_zoom=int(zooms[0] if zooms[0] is not None else 0),
        max_zoom=int(zooms[1] if zooms[1] is not None else 0),
        bounds=bounds,
        attribution=attribution or str(meta.get("attribution") or "") or _name(path),
        layers=_layer_names(meta), _get=get,
    )


def _name(path: Path) -> str:
    return f"Basemap {path.name}"


def _layer_names(meta: dict[str, Any]) -> list[str]:
    """The vector layers named in the metadata (a dict, or MBTiles' JSON text)."""
    raw = meta.get("vector_layers")
    if raw is None and isinstance(meta.get("json"), str):
        try:
            raw = json.loads(meta["json"]).get("vector_layers")
        except (ValueError, AttributeError):
            raw = None
    if not isinstance(raw, list):
        return []
    return [str(v["id"]) for v in raw if isinstance(v, dict) and "id" in v]


def load(path: Path | None, attribution: str | None) -> tuple[Basemap | None, str | None]:
    """(basemap, None), (None, the reason it cannot be used), or (None, None) without one."""
    if path is None:
        return None, None
    try:
        return open_basemap(path, attribution), None
    except BasemapError as exc:
        log.error("%s: the map falls back to its bundled Natural Earth layer", exc)
        return None, str(exc)


def gunzip_if(data: bytes, gzipped: bool) -> bytes:
    """Tile bytes for a client that does not take Content-Encoding: gzip."""
    return gzip.decompress(data) if gzipped and data[:2] == b"\x1f\x8b" else data
