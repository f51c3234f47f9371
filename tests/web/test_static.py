"""The map's static files: present, packaged, vendored intact, and loading nothing remote."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from dronewatch.web import INDEX_HTML, STATIC_DIR

VENDOR = STATIC_DIR / "vendor"
# Any absolute URL a page could load from (src/href attributes, CSS url(), JS imports/fetch).
REMOTE_LOAD = re.compile(
    r"""(?:\bsrc\s*=|\bhref\s*=|url\(|\bimport\b[^;\n]*?from|\bfetch\(|@import)\s*['"]?(?:https?:)?//""",
    re.IGNORECASE,
)


def own_files() -> list[Path]:
    return [
        p for p in STATIC_DIR.rglob("*")
        if p.is_file() and VENDOR not in p.parents and p.suffix in {".html", ".js", ".css", ".svg"}
    ]


def test_static_dir_holds_the_page() -> None:
    assert STATIC_DIR.is_dir()
    assert INDEX_HTML.is_file()
    html = INDEX_HTML.read_text(encoding="utf-8")
    for asset in ("/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css",
                  "/static/js/main.js", "/static/css/app.css"):
        assert asset in html
        assert (STATIC_DIR / asset.removeprefix("/static/")).is_file(), asset
    names = {p.name for p in own_files()}
    assert {"main.js", "api.js", "drones.js", "alerts.js", "app.css"} <= names


def test_relative_module_imports_resolve() -> None:
    for js in (STATIC_DIR / "js").glob("*.js"):
        for target in re.findall(r"""from\s+["'](\.[^"']+)["']""", js.read_text(encoding="utf-8")):
            assert (js.parent / target).resolve().is_file(), f"{js.name} imports missing {target}"


def test_no_remote_loads() -> None:
    """Offline by construction: no CDN, web font, or tile server in our own files."""
    for path in own_files():
        text = path.read_text(encoding="utf-8")
        hits = REMOTE_LOAD.findall(text)
        # Leaflet's attribution prefix is a plain link (never loaded), written with rel=noreferrer.
        hits = [h for h in hits if "href" not in h.lower() or path.suffix != ".js"]
        assert not hits, f"{path.relative_to(STATIC_DIR)} loads remote resources: {hits}"


def test_vendored_files_match_their_checksums() -> None:
    sums = (VENDOR / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    assert len(sums) >= 8
    for line in sums:
        digest, name = line.split(maxsplit=1)
        data = (VENDOR / name.lstrip("*")).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
    for licence in ("leaflet/LICENSE", "topojson-client/LICENSE", "world-atlas/LICENSE",
                    "ourairports/NOTICE", "swagger-ui/LICENSE"):
        assert (VENDOR / licence).is_file(), licence


def test_basemap_data_is_small_and_sane() -> None:
    total = sum(p.stat().st_size for p in VENDOR.rglob("*") if p.is_file())
    assert total < 4 * 1024 * 1024
    topo = json.loads((VENDOR / "world-atlas" / "countries-50m.json").read_text(encoding="utf-8"))
    assert topo["type"] == "Topology"
    assert len(topo["objects"]["countries"]["geometries"]) > 200
    runways = json.loads((VENDOR / "ourairports" / "runways.json").read_text(encoding="utf-8"))
    by_ident = {a[0]: a for a in runways["airports"]}
    # Paris-Orly, the demo's airport: three runways, each kilometres long.
    _ident, iata, name, lat, lon, kind, rws = by_ident["LFPO"]
    assert iata == "ORY" and kind == "large" and "Orly" in name
    assert abs(lat - 48.7253) < 0.02 and abs(lon - 2.3594) < 0.03  # reference points differ
    assert len(rws) == 3
    for lat1, lon1, lat2, lon2, width_m, _name in rws:
        assert 20 <= width_m <= 80
        length_deg = abs(lat1 - lat2) + abs(lon1 - lon2) * 0.66  # cos(48.7 deg)
        assert 0.015 < length_deg < 0.06  # about 1.7 to 6 km
