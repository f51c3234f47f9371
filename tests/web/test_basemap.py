"""The offline basemap in the browser: a small PMTiles archive built here, served by the
server, shows its streets at zoom 15 with its attribution, and no request leaves the server;
a corrupt file leaves the Natural Earth map with a notice, without a page error."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.web.conftest import ADMIN_TOKEN, PageProbe, serve
from tests.web.test_map import assert_offline
from tests.web.tiles import write_pmtiles

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
CENTER = (2.3794, 48.7233)  # lon, lat

# A map point's place on the page: [x, y].
POINT_JS = """([lat, lon]) => {
  const map = window.dronewatch.map;
  const p = map.latLngToContainerPoint([lat, lon]);
  const r = map.getContainer().getBoundingClientRect();
  return [r.left + p.x, r.top + p.y];
}"""


def screen_pixel(page: Any, lat: float, lon: float) -> tuple[int, int, int]:
    """The colour on screen (what the user sees, all layers composed) at a map point."""
    x, y = page.evaluate(POINT_JS, [lat, lon])
    png = page.screenshot(clip={"x": int(x), "y": int(y), "width": 1, "height": 1}, scale="css")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, color_type = 8, b"", 2
    while pos < len(png):
        n = struct.unpack(">I", png[pos:pos + 4])[0]
        kind, body = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            assert body[8] == 8, "8-bit samples"
            color_type = body[9]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    row = zlib.decompress(idat)  # one row, filter byte first (no predecessor: raw or sub)
    px = row[1:4] if color_type in (2, 6) else row[1:2] * 3
    return px[0], px[1], px[2]


def server(tmp: Path, basemap: Path) -> Iterator[str]:
    from dronewatch.server.settings import Principal, Role, Settings

    settings = Settings(
        db=str(tmp / "dw.sqlite"), tokens={ADMIN_TOKEN: Principal("a", Role.ADMIN)},
        run_pipeline=False, center=(CENTER[1], CENTER[0]), zoom=15, basemap=basemap,
    )
    with serve(settings) as (url, _app):
        yield url


@pytest.fixture()
def streets(tmp_path: Path) -> Iterator[str]:
    yield from server(tmp_path, write_pmtiles(tmp_path / "streets.pmtiles", CENTER))


def test_streets_at_zoom_15(streets: str, probe: PageProbe, screenshot: Any) -> None:
    page = probe.page
    page.goto(f"{streets}/?token={ADMIN_TOKEN}")
    page.wait_for_function(
        "() => { const b = window.dronewatch && window.dronewatch.basemap();"
        " return b && b.stats && (b.stats.features.major || 0) >= 1 && b.stats.tiles >= 4; }"
    )
    assert page.evaluate("() => window.dronewatch.map.getZoom()") == 15
    stats = page.evaluate("() => window.dronewatch.basemap().stats")
    assert stats["failed"] == 0 and stats["features"].get("building", 0) >= 1
    # (once the tiles have faded in)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.leaflet-offlineBasemap-pane .leaflet-tile')]"
        ".every((t) => getComputedStyle(t).opacity === '1')")
    # The street is seen where it is: a light pixel on "Rue de Test", dark ground beside it.
    lon, lat = CENTER
    on_street = screen_pixel(page, lat, lon - 0.0015)
    beside = screen_pixel(page, lat - 0.0012, lon - 0.0025)
    assert min(on_street) > 150, on_street
    assert max(beside) < 80, beside
    assert "Test streets" in page.inner_text(".leaflet-control-attribution")
    screenshot(page, "basemap-streets")
    assert not probe.errors, probe.errors
    assert not [e for e in probe.console_errors if "favicon" not in e], probe.console_errors

    class S:
        url = streets

    assert_offline(probe, S)  # type: ignore[arg-type]


@pytest.fixture()
def corrupt(tmp_path: Path) -> Iterator[str]:
    bad = tmp_path / "corrupt.pmtiles"
    bad.write_bytes(b"PMTiles\x03" + bytes(range(256)) * 4)
    yield from server(tmp_path, bad)


def test_a_corrupt_basemap_falls_back(corrupt: str, probe: PageProbe) -> None:
    page = probe.page
    page.goto(f"{corrupt}/?token={ADMIN_TOKEN}")
    page.wait_for_function("() => window.dronewatch && window.dronewatch.basemap()")
    err = page.evaluate("() => window.dronewatch.basemap().error")
    assert "corrupt.pmtiles" in err and "not a readable PMTiles file" in err
    assert "Basemap unavailable" in page.inner_text(".leaflet-control-attribution")
    assert "Natural Earth" in page.inner_text(".leaflet-control-attribution")
    assert not probe.errors, probe.errors
