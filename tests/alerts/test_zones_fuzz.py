"""Fuzz: arbitrary JSON-like input to the zone parser raises ZoneError or nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.alerts.zones import ZoneError, ZoneSet

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(
        st.sampled_from(["type", "coordinates", "name", "radius_m", "active", "start", "end",
                         "days", "max_alt_m", "severity", "geometry", "properties", "features",
                         "x"]), children, max_size=5),
    max_leaves=30,
)
coords = st.lists(st.lists(st.lists(st.floats(-200, 200), min_size=2, max_size=3),
                           min_size=0, max_size=6), min_size=0, max_size=2)


@st.composite
def features(draw: st.DrawFn) -> dict[str, Any]:
    gtype = draw(st.sampled_from(["Polygon", "Point", "MultiPolygon", "LineString", "Nope"]))
    geom: dict[str, Any] = {"type": gtype, "coordinates": draw(
        coords if gtype != "Point" else st.lists(st.floats(-200, 200), max_size=3))}
    props = draw(st.dictionaries(st.sampled_from(
        ["name", "radius_m", "severity", "max_alt_m", "min_alt_m", "active", "tz", "zzz"]),
        json_values, max_size=4))
    return {"type": "Feature", "geometry": geom, "properties": props}


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.lists(features(), max_size=4).map(
    lambda fs: {"type": "FeatureCollection", "features": fs})))
def test_parser_raises_only_zone_error(obj: Any) -> None:
    try:
        zs = ZoneSet.from_geojson(obj, source="fuzz")
    except ZoneError as exc:
        assert str(exc).startswith("fuzz")
        return
    for z in zs:  # whatever parsed is usable
        z.contains(51.0, 0.0)
        z.distance_m(51.0, 0.0)
        z.time_to_entry(51.0, 0.0, 10.0, 90.0, 30.0)
        z.active_at(1_700_000_000.0)
