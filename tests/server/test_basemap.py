"""The offline basemap: a PMTiles or MBTiles file served by the server itself; a corrupt or
missing file gives a clear message and no error page."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import VIEWER, make_settings
from tests.web.tiles import tile_xy, write_mbtiles, write_pmtiles

from dronewatch.server.app import create_app
from dronewatch.server.basemap import BasemapError, open_basemap

CENTER = (2.3794, 48.7233)  # lon, lat


def client(tmp: Path, **kw: object) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp, run_pipeline=False, **kw))
    with TestClient(app) as c:
        yield c


@pytest.fixture(params=["pmtiles", "mbtiles"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "pmtiles":
        return write_pmtiles(tmp_path / "streets.pmtiles", CENTER)
    return write_mbtiles(tmp_path / "streets.mbtiles", CENTER)


def test_serves_the_tiles_of_the_file(archive: Path, tmp_path: Path) -> None:
    bm = open_basemap(archive)
    assert bm.tile_type == "mvt" and bm.gzipped and (bm.min_zoom, bm.max_zoom) == (13, 15)
    assert set(bm.layers) == {"roads", "buildings"}
    for c in client(tmp_path, basemap=archive, tile_attribution="Tiles (c) someone"):
        cfg = c.get("/api/config", headers=VIEWER).json()
        assert cfg["tile_attribution"] == "Tiles (c) someone"
        b = cfg["basemap"]
        assert b["url"] == "/basemap/{z}/{x}/{y}" and b["type"] == "mvt"
        assert "test streets" in b["attribution"].lower()
        x, y = (int(v) for v in tile_xy(CENTER[0], CENTER[1], 15))
        r = c.get(f"/basemap/15/{x}/{y}")  # open: the browser loads tiles without a token
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        assert r.headers["content-encoding"] == "gzip"
        assert b"Rue de Test" in r.content  # (decompressed by the client)
        assert c.get(f"/basemap/15/{x + 50}/{y}").status_code == 204  # outside: no tile
        assert c.get("/basemap/12/0/0").status_code == 204  # below its zooms
        assert c.get("/basemap/15/-1/0").status_code == 204
        assert c.get("/basemap/99/0/0").status_code == 204
        assert c.get("/basemap/15/a/0").status_code == 422


def test_attribution_from_the_command_line_wins(tmp_path: Path) -> None:
    path = write_pmtiles(tmp_path / "s.pmtiles", CENTER)
    assert open_basemap(path, "Mine").attribution == "Mine"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"PMTiles\x03" + b"\x00" * 40, "not a readable PMTiles file"),
        (b"SQLite format 3\x00" + b"\x00" * 200, "not a readable MBTiles file"),
        (b"<html>not tiles</html>", "neither a PMTiles nor an MBTiles file"),
    ],
)
def test_a_corrupt_file_is_refused_with_its_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    bad = tmp_path / "bad.pmtiles"
    bad.write_bytes(content)
    with pytest.raises(BasemapError, match=reason):
        open_basemap(bad)
    for c in client(tmp_path, basemap=bad):  # the server runs; the page is told why
        cfg = c.get("/api/config", headers=VIEWER).json()
        assert reason in cfg["basemap"]["error"] and "bad.pmtiles" in cfg["basemap"]["error"]
        assert c.get("/basemap/15/1/1").status_code == 404


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BasemapError, match="no such file"):
        open_basemap(tmp_path / "nope.pmtiles")
    for c in client(tmp_path):
        assert c.get("/api/config", headers=VIEWER).json()["basemap"] is None
        assert c.get("/basemap/1/0/0").status_code == 404


def test_gzip_of_the_fixture_is_real(tmp_path: Path) -> None:
    bm = open_basemap(write_pmtiles(tmp_path / "s.pmtiles", CENTER))
    x, y = (int(v) for v in tile_xy(CENTER[0], CENTER[1], 14))
    data = bm.tile(14, x, y)
    assert data is not None and b"Allee Bench" in gzip.decompress(data)
