"""History exports: GeoJSON, KML and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any
from xml.sax.saxutils import escape

CSV_COLUMNS = (
    "time",
    "track_id",
    "uas_id",
    "serial",
    "transport",
    "message_type",
    "sensor_id",
    "source",
    "rssi_dbm",
    "lat",
    "lon",
    "alt_geo",
    "alt_baro",
    "height",
    "speed",
    "direction",
    "vspeed",
    "operator_lat",
    "operator_lon",
    "operator_alt",
)


def to_geojson(tracks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """History tracks -> FeatureCollection: a LineString (or Point) per track, plus pilot points."""
    features: list[dict[str, Any]] = []
    for t in tracks:
        coords = [[p[2], p[1]] + ([p[3]] if p[3] is not None else []) for p in t["points"]]
        props = {k: v for k, v in t.items() if k not in ("points", "operator")}
        props["kind"] = "drone"
        props["start"] = t["points"][0][0]
        props["end"] = t["points"][-1][0]
        props["times"] = [p[0] for p in t["points"]]
        geometry: dict[str, Any] = (
            {"type": "LineString", "coordinates": coords}
            if len(coords) > 1
            else {"type": "Point", "coordinates": coords[0]}
        )
        features.append(
            {"type": "Feature", "id": t["track_id"], "geometry": geometry, "properties": props}
        )
        for when, lat, lon in t["operator"]:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {
                        "kind": "operator",
                        "track_id": t["track_id"],
                        "time": when,
                        "operator_id": t.get("operator_id"),
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def _coord(p: list[Any]) -> str:
    return f"{p[2]:.7f},{p[1]:.7f},{(p[3] if p[3] is not None else 0.0):.1f}"


def to_kml(tracks: Iterable[dict[str, Any]]) -> str:
    """History tracks -> a KML document (one Placemark per track, one per pilot position)."""
    out = io.StringIO()
    out.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>dronewatch</name>\n'
    )
    for t in tracks:
        label = t.get("uas_id") or t.get("serial") or t["track_id"]
        pts = t["points"]
        out.write(
            f"<Placemark><name>{escape(str(label))}</name>"
            f"<description>{escape(t['track_id'])}</description>"
        )
        if len(pts) > 1:
            out.write("<LineString><altitudeMode>absolute</altitudeMode><coordinates>")
            out.write(" ".join(_coord(p) for p in pts))
            out.write("</coordinates></LineString>")
        else:
            out.write(f"<Point><coordinates>{_coord(pts[0])}</coordinates></Point>")
        out.write("</Placemark>\n")
        if t["operator"]:
            _when, lat, lon = t["operator"][-1]
            out.write(
                f"<Placemark><name>pilot of {escape(str(label))}</name>"
                f"<Point><coordinates>{lon:.7f},{lat:.7f},0</coordinates></Point>"
                "</Placemark>\n"
            )
    out.write("</Document></kml>\n")
    return out.getvalue()


def iter_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Observation rows -> CSV text chunks (header first)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for n, row in enumerate(rows, 1):
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
        if n % 1000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
