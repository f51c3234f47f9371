"""Small tile archives for the basemap tests, built here: Mapbox Vector Tiles encoded by hand
(protobuf) with a few named streets and buildings, in a PMTiles file (the pmtiles package's
writer) or an MBTiles file (SQLite)."""

from __future__ import annotations

import gzip
import json
import math
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

EXTENT = 4096
LonLat = tuple[float, float]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, wire: int) -> bytes:
    return _varint(num << 3 | wire)


def _len(num: int, data: bytes) -> bytes:
    return _field(num, 2) + _varint(len(data)) + data


def _packed(num: int, ints: Iterable[int]) -> bytes:
    return _len(num, b"".join(_varint(i) for i in ints))


def _zig(n: int) -> int:
    return (n << 1) ^ (n >> 31)


def tile_xy(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Web Mercator: (lon, lat) -> fractional tile x, y at zoom z."""
    n = 1 << z
    x = (lon + 180.0) / 360.0 * n
    y = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return x, y


def _geometry(points: Sequence[tuple[int, int]], polygon: bool) -> list[int]:
    cmds = [1 << 3 | 1]
    x0, y0 = points[0]
    cmds += [_zig(x0), _zig(y0)]
    rest = points[1:-1] if polygon else points[1:]
    cmds.append(len(rest) << 3 | 2)
    px, py = x0, y0
    for x, y in rest:
        cmds += [_zig(x - px), _zig(y - py)]
        px, py = x, y
    if polygon:
        cmds.append(1 << 3 | 7)
    return cmds


def encode_tile(
    z: int, x: int, y: int, layers: dict[str, list[tuple[str, list[LonLat], dict[str, str]]]]
) -> bytes:
    """A vector tile: layers of (kind "line"|"polygon", [(lon, lat)...], string properties)."""
    out = b""
    for name, features in layers.items():
        keys: list[str] = []
        values: list[str] = []
        feats = b""
        for kind, coords, props in features:
            pts = []
            for lon, lat in coords:
                fx, fy = tile_xy(lon, lat, z)
                pts.append((round((fx - x) * EXTENT), round((fy - y) * EXTENT)))
            tags = []
            for k, v in props.items():
                if k not in keys:
                    keys.append(k)
                if v not in values:
                    values.append(v)
                tags += [keys.index(k), values.index(v)]
            polygon = kind == "polygon"
            feats += _len(2, _packed(2, tags) + _field(3, 0) + _varint(3 if polygon else 2)
                          + _packed(4, _geometry(pts, polygon)))
        body = _len(1, name.encode()) + feats
        body += b"".join(_len(3, k.encode()) for k in keys)
        body += b"".join(_len(4, _len(1, v.encode())) for v in values)
        body += _field(5, 0) + _varint(EXTENT) + _field(15, 0) + _varint(2)
        out += _len(3, body)
    return out


def street_layers(center: LonLat) -> dict[str, list[tuple[str, list[LonLat], dict[str, str]]]]:
    """Two named streets crossing at ``center`` and a building in one corner."""
    lon, lat = center
    d = 0.004
    return {
        "roads": [
            ("line", [(lon - d, lat), (lon + d, lat)], {"kind": "major_road", "name": "Rue de Test"}),
            ("line", [(lon, lat - d), (lon, lat + d)], {"kind": "minor_road", "name": "Allee Bench"}),
        ],
        "buildings": [
            ("polygon", [(lon + 0.0008, lat + 0.0008), (lon + 0.0018, lat + 0.0008),
                         (lon + 0.0018, lat + 0.0016), (lon + 0.0008, lat + 0.0016),
                         (lon + 0.0008, lat + 0.0008)], {"kind": "building"}),
        ],
    }


def tiles_around(center: LonLat, zooms: Iterable[int]) -> list[tuple[int, int, int, bytes]]:
    """(z, x, y, gzip-compressed vector tile) for the 3x3 tiles around ``center``."""
    out = []
    for z in zooms:
        cx, cy = tile_xy(center[0], center[1], z)
        for x in range(int(cx) - 1, int(cx) + 2):
            for y in range(int(cy) - 1, int(cy) + 2):
                data = encode_tile(z, x, y, street_layers(center))
                out.append((z, x, y, gzip.compress(data, mtime=0)))
    return out


META = {
    "name": "dronewatch test streets",
    "attribution": "Test streets (c) dronewatch tests",
    "vector_layers": [{"id": "roads", "fields": {}}, {"id": "buildings", "fields": {}}],
}


def write_pmtiles(path: Path, center: LonLat, zooms: Iterable[int] = (13, 14, 15)) -> Path:
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    tiles = sorted(tiles_around(center, zooms), key=lambda t: zxy_to_tileid(t[0], t[1], t[2]))
    with path.open("wb") as f:
        w = Writer(f)
        for z, x, y, data in tiles:
            w.write_tile(zxy_to_tileid(z, x, y), data)
        lon, lat = center
        w.finalize(
            {
                "tile_type": TileType.MVT,
                "tile_compression": Compression.GZIP,
                "min_lon_e7": int((lon - 0.05) * 1e7), "min_lat_e7": int((lat - 0.05) * 1e7),
                "max_lon_e7": int((lon + 0.05) * 1e7), "max_lat_e7": int((lat + 0.05) * 1e7),
                "center_zoom": 15, "center_lon_e7": int(lon * 1e7), "center_lat_e7": int(lat * 1e7),
            },
            META,
        )
    return path


def write_mbtiles(path: Path, center: LonLat, zooms: Iterable[int] = (13, 14, 15)) -> Path:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        conn.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, "
                     "tile_row INTEGER, tile_data BLOB)")
        conn.executemany("INSERT INTO metadata VALUES (?, ?)", [
            ("name", META["name"]), ("format", "pbf"), ("attribution", "MBTiles test streets"),
            ("json", json.dumps({"vector_layers": META["vector_layers"]})),
        ])
        conn.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", [
            (z, x, (1 << z) - 1 - y, data) for z, x, y, data in tiles_around(center, zooms)
        ])
    conn.close()
    return path
