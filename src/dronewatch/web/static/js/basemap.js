// The offline basemap: Natural Earth 1:50m land, borders and coastlines (world-atlas TopoJSON)
// and OurAirports runways, all bundled under /static/vendor. An online tile layer is added
// only when /api/config sets tile_url.
/* global L, topojson */

import { esc, offsetM, bearingDeg } from "./util.js";

const VENDOR = "/static/vendor";

/** The offline layers: they hold no data, so they load before sign-in. */
export function addBasemap(map, layerControl) {
  const renderer = L.canvas({ padding: 0.5 });
  map.createPane("basemap");
  map.getPane("basemap").style.zIndex = 200;

  const land = L.layerGroup();
  land.addTo(map);
  layerControl.addOverlay(land, "Borders and coastlines");
  const airports = new AirportLayer(renderer);
  airports.addTo(map);
  layerControl.addOverlay(airports, "Airports and runways");
  map.attributionControl.addAttribution("Natural Earth · OurAirports");
  loadCountries(land, renderer);
  return { land, airports };
}

async function loadCountries(land, renderer) {
  try {
    const topo = await (await fetch(`${VENDOR}/world-atlas/countries-50m.json`)).json();
    const countries = topojson.feature(topo, topo.objects.countries);
    L.geoJSON(countries, {
      pane: "basemap", renderer, interactive: false,
      style: { stroke: false, fill: true, fillColor: "#1b2a35", fillOpacity: 1 },
    }).addTo(land);
    const borders = topojson.mesh(topo, topo.objects.countries, (a, b) => a !== b);
    L.geoJSON(borders, {
      pane: "basemap", renderer, interactive: false,
      style: { color: "#5b7385", weight: 1, dashArray: "4 3", opacity: 0.9 },
    }).addTo(land);
    const coast = topojson.mesh(topo, topo.objects.countries, (a, b) => a === b);
    L.geoJSON(coast, {
      pane: "basemap", renderer, interactive: false,
      style: { color: "#4b6a80", weight: 1.2, opacity: 1 },
    }).addTo(land);
  } catch (err) {
    console.warn("basemap: countries not loaded", err);
  }
}

/** An online tile layer, only when the server's /api/config sets ``tile_url``. */
export function addTiles(map, config, layerControl, base) {
  if (!config.tile_url) return null;
  map.removeLayer(base.land); // the tiles draw their own land; the layer control brings it back
  const tiles = L.tileLayer(config.tile_url, {
    maxZoom: 19, attribution: config.tile_attribution || "Map tiles", pane: "tilePane",
  });
  tiles.addTo(map);
  layerControl.addOverlay(tiles, "Online map tiles");
  return tiles;
}

/** Runway outlines of large and medium airports, drawn when zoomed in near them. */
const AirportLayer = L.LayerGroup.extend({
  initialize(renderer) {
    L.LayerGroup.prototype.initialize.call(this);
    this.renderer = renderer;
    this.data = null;
    this.drawn = new Map(); // ident -> layer group
  },
  onAdd(map) {
    L.LayerGroup.prototype.onAdd.call(this, map);
    this.mapRef = map;
    map.on("moveend zoomend", this.refresh, this);
    if (!this.data) {
      fetch(`${VENDOR}/ourairports/runways.json`).then((r) => r.json()).then((doc) => {
        this.data = doc.airports;
        this.refresh();
      }).catch((err) => console.warn("basemap: runways not loaded", err));
    } else {
      this.refresh();
    }
  },
  onRemove(map) {
    map.off("moveend zoomend", this.refresh, this);
    L.LayerGroup.prototype.onRemove.call(this, map);
    this.drawn.clear();
  },
  refresh() {
    const map = this.mapRef;
    if (!this.data || !map) return;
    const zoom = map.getZoom();
    const bounds = map.getBounds().pad(0.3);
    const want = new Set();
    if (zoom >= 9) {
      for (const ap of this.data) {
        if (bounds.contains([ap[3], ap[4]])) want.add(ap[0]);
        if (want.size > 150) break;
      }
    }
    for (const [ident, layer] of this.drawn) {
      if (!want.has(ident)) { this.removeLayer(layer); this.drawn.delete(ident); }
    }
    for (const ap of this.data) {
      if (!want.has(ap[0]) || this.drawn.has(ap[0])) continue;
      const group = this.airportLayer(ap);
      this.drawn.set(ap[0], group);
      this.addLayer(group);
    }
    // Labels only when zoomed in enough to read them without clutter.
    for (const group of this.drawn.values()) {
      const label = group.options.labelMarker;
      if (!label) continue;
      if (zoom >= 11) label.openTooltip(); else label.closeTooltip();
    }
  },
  airportLayer(ap) {
    const [ident, iata, name, lat, lon, , runways] = ap;
    const group = L.layerGroup();
    for (const [lat1, lon1, lat2, lon2, width] of runways) {
      const brg = bearingDeg(lat1, lon1, lat2, lon2) * Math.PI / 180;
      const half = Math.max(width, 20) / 2;
      const ex = Math.cos(brg) * half, ny = -Math.sin(brg) * half; // perpendicular (east, north)
      const poly = [
        offsetM(lat1, lon1, ex, ny), offsetM(lat2, lon2, ex, ny),
        offsetM(lat2, lon2, -ex, -ny), offsetM(lat1, lon1, -ex, -ny),
      ];
      L.polygon(poly, {
        pane: "basemap", renderer: this.renderer, interactive: false,
        color: "#8aa0b2", weight: 1, fillColor: "#3a4b58", fillOpacity: 0.95,
      }).addTo(group);
    }
    const label = L.circleMarker([lat, lon], {
      pane: "basemap", renderer: this.renderer, radius: runways.length ? 0 : 3,
      stroke: false, fillColor: "#8aa0b2", fillOpacity: 0.8, interactive: false,
    }).bindTooltip(esc(`${iata || ident} · ${name}`), {
      permanent: true, direction: "bottom", className: "airport-label", offset: [0, 8],
    });
    label.addTo(group);
    group.options = { labelMarker: label };
    return group;
  },
});
