"""Zones: GeoJSON parsing and its errors, geometry queries, time windows, the index."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest

from dronewatch.alerts.zones import TimeWindow, ZoneError, ZoneSet, load_zones
from dronewatch.model import Severity
from dronewatch.track.geo import destination

SQUARE = [[[-0.44, 51.46], [-0.43, 51.46], [-0.43, 51.465], [-0.44, 51.465], [-0.44, 51.46]]]


def feat(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def fc(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def circle(lat: float, lon: float, r: Any, **props: Any) -> dict[str, Any]:
    return feat({"type": "Point", "coordinates": [lon, lat]}, radius_m=r, **props)


def test_parse_polygon_circle_multipolygon() -> None:
    multi = {"type": "MultiPolygon", "coordinates": [SQUARE, [[[0.0, 50.0], [0.01, 50.0],
                                                               [0.01, 50.01], [0.0, 50.0]]]]}
    zs = ZoneSet.from_geojson(fc(
        feat({"type": "Polygon", "coordinates": SQUARE}, name="box", severity="critical",
             max_alt_m=150, min_alt_m=10),
        circle(51.47, -0.4543, 1000, name="EGLL"),
        feat(multi, name="two parts"),
    ))
    assert len(zs) == 3
    box, egll, two = zs.zones
    assert box.severity is Severity.CRITICAL and (box.min_alt_m, box.max_alt_m) == (10, 150)
    assert egll.severity is Severity.WARNING and egll.circle == (51.47, -0.4543, 1000)
    assert box.contains(51.4625, -0.435) and not box.contains(51.4625, -0.445)
    assert egll.contains(*destination(51.47, -0.4543, 45, 990))
    assert not egll.contains(*destination(51.47, -0.4543, 45, 1010))
    assert two.contains(50.002, 0.007) and two.contains(51.463, -0.435)
    assert [z.name for z in zs.containing(51.4625, -0.435)] == ["box", "two parts"]
    assert box.contains_alt(None) and box.contains_alt(100) and not box.contains_alt(151)
    assert not box.contains_alt(5)


def test_distance_and_time_to_entry() -> None:
    zs = ZoneSet.from_geojson(fc(feat({"type": "Polygon", "coordinates": SQUARE}, name="box"),
                                 circle(51.47, -0.4543, 1000, name="c")))
    box, c = zs.zones
    # 500 m west of the box's west edge, flying east at 10 m/s: 50 s
    lat, lon = destination(51.4625, -0.44, 270, 500)
    assert box.distance_m(lat, lon) == pytest.approx(500, rel=0.01)
    assert box.time_to_entry(lat, lon, 10.0, 90.0, 60.0) == pytest.approx(50, rel=0.01)
    assert box.time_to_entry(lat, lon, 10.0, 90.0, 40.0) is None  # beyond the horizon
    assert box.time_to_entry(lat, lon, 10.0, 270.0, 600.0) is None  # flying away
    assert box.time_to_entry(51.4625, -0.435, 10.0, 0.0, 60.0) == 0.0  # inside
    lat, lon = destination(51.47, -0.4543, 180, 1300)
    assert c.time_to_entry(lat, lon, 15.0, 0.0, 60.0) == pytest.approx(20, rel=0.01)
    assert c.time_to_entry(lat, lon, 15.0, 90.0, 60.0) is None  # passes by
    assert c.distance_m(lat, lon) == pytest.approx(300, rel=0.01)


def test_concave_polygon_entry_uses_real_edges() -> None:
    # a U shape: flying up the middle of the U enters only at the bottom bar
    u = [[[0.0, 50.0], [0.03, 50.0], [0.03, 50.03], [0.02, 50.03], [0.02, 50.01],
          [0.01, 50.01], [0.01, 50.03], [0.0, 50.03], [0.0, 50.0]]]
    (z,) = ZoneSet.from_geojson(feat({"type": "Polygon", "coordinates": u}, name="U")).zones
    lat, lon = 50.04, 0.015
    tte = z.time_to_entry(lat, lon, 10.0, 180.0, 1000.0)
    assert tte == pytest.approx((0.03 * 111195) / 10.0, rel=0.01)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (fc(feat({"type": "Polygon", "coordinates": SQUARE}, name="a", colour="red")),
         "feature 0 ('a'): unknown property 'colour'"),
        (fc(circle(51, 0, 10, name="ok"), feat({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, name="bow")),
         "feature 1 ('bow'): invalid Polygon: Self-intersection"),
        (fc(feat({"type": "Point", "coordinates": [0, 51]}, name="p")),
         "feature 0 ('p'): a Point zone needs the property 'radius_m'"),
        (fc(circle(51, 0, -5, name="neg")), "'radius_m' must be positive"),
        (fc(circle(51, 0, 5, name="s", severity="extreme")), "property 'severity' must be"),
        (fc(circle(51, 0, 5, name="alt", min_alt_m=100, max_alt_m=50)), "must be below"),
        (fc(feat({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, name="l")),
         "geometry type must be Polygon"),
        (fc(feat({"type": "Polygon", "coordinates": [[[0, 95], [1, 95], [1, 96], [0, 95]]]}, name="lat")),
         "coordinates outside"),
        (fc(circle(51, 0, 5, name="w", active=[{"start": "25:00", "end": "10:00"}])),
         "active[0]: 'start' must be 'HH:MM'"),
        (fc(circle(51, 0, 5, name="w", active=[{"start": "08:00", "end": "10:00", "days": ["funday"]}])),
         "unknown day 'funday'"),
        (fc(circle(51, 0, 5, name="w", tz="Mars/Olympus")), "unknown time zone"),
        (fc(circle(51, 0, 5, name="d"), circle(52, 0, 5, name="d")), "duplicate zone id 'd'"),
        ({"type": "Topology"}, "expected type FeatureCollection or Feature"),
        (fc({"type": "Feature", "geometry": None, "properties": {}, "style": 1}),
         "feature 0: unknown key 'style'"),
        (fc(circle(51, 0, "big", name="r")), "property 'radius_m' must be a number"),
        # absurd values a file or a client could send: bounded, not stored
        (fc(circle(51, 0, 1e300, name="r")), "'radius_m' must be within +-1e+06, got 1e+300"),
        (fc(circle(51, 0, 10**400, name="r")), "'radius_m' must be within +-1e+06"),
        (fc(circle(51, 0, 5, name="a", max_alt_m=-1e6)), "'max_alt_m' must be within +-100000"),
        (fc(circle(51, 0, 5, name="n" * 201)), "'name' is 201 characters long (at most 200)"),
        (fc(circle(51, 0, 5, name="a\x00b")), "'name' holds a NUL character"),
        (fc(circle(51, 0, 5, name="a\ud800")), "'name' holds a lone surrogate (U+D800"),
        (fc(circle(51, 0, 5, name="d", description="x" * 2001)), "(at most 2000)"),
        (fc(circle(51, 0, 5, name="d", description=["list"])), "'description' must be a string"),
        (fc(circle(51, 0, 5, name="c", color="\x00")), "'color' holds a NUL character"),
        (fc(circle(51, 0, 5, name="i", id="i" * 129)), "'id' is 129 characters long"),
        (fc(circle(51, 0, 5, name="t", tz="x" * 500)), "'tz' must be a time zone name"),
        (fc(circle(51, 0, 5, name="w", active=[{"start": "08:00", "end": "09:00"}] * 101)),
         "at most 100 time windows, got 101"),
    ],
)
def test_errors_name_the_place(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(ZoneError) as info:
        ZoneSet.from_geojson(obj, source="zones.geojson")
    assert message in str(info.value)
    assert str(info.value).startswith("zones.geojson")


def test_load_zones_file_errors(tmp_path: Path) -> None:
    p = tmp_path / "z.geojson"
    p.write_text("{not json")
    with pytest.raises(ZoneError, match=r"z.geojson: not JSON: .* line 1"):
        load_zones(p)
    with pytest.raises(ZoneError, match="cannot read"):
        load_zones(tmp_path / "missing.geojson")
    p.write_text(json.dumps(fc(circle(51.0, 0.0, 100, name="ok"))))
    assert [z.name for z in load_zones(p)] == ["ok"]


def ts(s: str) -> float:
    return dt.datetime.fromisoformat(s).timestamp()


def test_time_windows() -> None:
    day = TimeWindow(8 * 60, 18 * 60, frozenset({0, 1, 2, 3, 4}))  # weekdays 08-18 UTC
    assert day.contains(ts("2026-11-25T09:00:00+00:00"))  # Wednesday
    assert not day.contains(ts("2026-11-25T18:00:00+00:00"))
    assert not day.contains(ts("2026-11-28T09:00:00+00:00"))  # Saturday
    night = TimeWindow(22 * 60, 6 * 60, frozenset({4}))  # Friday night into Saturday
    assert night.contains(ts("2026-11-27T23:00:00+00:00"))
    assert night.contains(ts("2026-11-28T05:59:00+00:00"))
    assert not night.contains(ts("2026-11-26T23:00:00+00:00"))  # Thursday night
    london = TimeWindow(9 * 60, 10 * 60, None, "Europe/London")
    assert london.contains(ts("2026-07-01T08:30:00+00:00"))  # BST: 09:30 local
    assert not london.contains(ts("2026-01-01T08:30:00+00:00"))  # GMT: 08:30 local


def test_zone_active_windows_from_geojson() -> None:
    (z,) = ZoneSet.from_geojson(circle(
        51, 0, 100, name="event", tz="Europe/Paris",
        active=[{"start": "20:00", "end": "23:30", "days": ["Saturday"]}])).zones
    assert z.active_at(ts("2026-11-28T20:00:00+00:00"))  # 21:00 in Paris
    assert not z.active_at(ts("2026-11-28T23:00:00+00:00"))  # 00:00 Sunday in Paris
    feature = z.to_feature()
    assert feature["properties"]["active"] == [
        {"start": "20:00", "end": "23:30", "days": ["sat"], "tz": "Europe/Paris"}]


def test_geojson_round_trip() -> None:
    src = fc(feat({"type": "Polygon", "coordinates": SQUARE}, name="box", severity="info",
                  max_alt_m=50, description="test"),
             circle(51.47, -0.4543, 1000, name="EGLL", id="egll"))
    zs = ZoneSet.from_geojson(src)
    again = ZoneSet.from_geojson(json.loads(json.dumps(zs.to_geojson())))
    assert [(z.zone_id, z.name, z.severity, z.max_alt_m, z.circle) for z in again] == [
        (z.zone_id, z.name, z.severity, z.max_alt_m, z.circle) for z in zs]
    assert again.zones[0].properties == {"description": "test"}


def test_index_with_thousands_of_zones_matches_brute_force() -> None:
    import random

    rng = random.Random(3)
    feats = [circle(51 + rng.random(), rng.random(), rng.uniform(50, 3000), name=f"c{i}")
             for i in range(2000)]
    feats.append(feat({"type": "Polygon", "coordinates": [[[-1, 50], [2, 50], [2, 53], [-1, 53],
                                                          [-1, 50]]]}, name="huge"))
    zs = ZoneSet(ZoneSet.from_geojson(fc(*feats)).zones, cell_deg=0.02)
    for _ in range(300):
        lat, lon = 51 + rng.random(), rng.random()
        brute = {z.zone_id for z in zs if z.contains(lat, lon)}
        assert {z.zone_id for z in zs.containing(lat, lon)} == brute
        assert "huge" in brute
        near = {z.zone_id for z in zs.candidates_near(lat, lon, 500)}
        assert {z.zone_id for z in zs if z.distance_m(lat, lon) <= 500} <= near


def test_circle_geometry_is_metric_at_high_latitude() -> None:
    (z,) = ZoneSet.from_geojson(circle(69.0, 18.0, 2000, name="north")).zones
    for b in range(0, 360, 30):
        assert z.contains(*destination(69.0, 18.0, b, 1990))
        assert not z.contains(*destination(69.0, 18.0, b, 2010))
    assert math.isclose(z.distance_m(*destination(69.0, 18.0, 90, 3000)), 1000, rel_tol=0.01)


def test_polygon_with_hole() -> None:
    outer = [[0.0, 50.0], [0.04, 50.0], [0.04, 50.03], [0.0, 50.03], [0.0, 50.0]]
    hole = [[0.01, 50.01], [0.03, 50.01], [0.03, 50.02], [0.01, 50.02], [0.01, 50.01]]
    (z,) = ZoneSet.from_geojson(feat({"type": "Polygon", "coordinates": [outer, hole]},
                                     name="ring")).zones
    assert z.contains(50.005, 0.02) and not z.contains(50.015, 0.02)
    # from the middle of the hole, flying east: 0.01 deg of longitude to the hole's edge
    tte = z.time_to_entry(50.015, 0.02, 10.0, 90.0, 200.0)
    assert tte == pytest.approx(0.01 * 111195 * math.cos(math.radians(50.015)) / 10, rel=0.01)
    assert z.distance_m(50.015, 0.02) == pytest.approx(555, rel=0.02)  # to the hole's edge
