// The offline basemap: Natural Earth 1:50m land, borders and coastlines (world-atlas TopoJSON)
// and OurAirports runways, all bundled under /static/vendor. An online tile layer is added
// only when /api/config sets tile_url.
/* global L, topojson */

import { decodeTile } from "./mvt.js";
import { esc, offsetM, bearingDeg } from "./util.js";

const VENDOR = "/static/vendor";

/** The offline layers: they hold no data, so they load before sign-in. */
export function addBasemap(map, layerControl) {
  map.createPane("basemap");
  map.getPane("basemap").style.zIndex = 200;
  // (the renderer's pane decides where its canvas goes, not its layers' pane option)
  const renderer = L.canvas({ padding: 0.5, pane: "basemap" });

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
    maxZoom: 19, attribution: esc(config.tile_attribution || "Map tiles"), pane: "tilePane",
  });
  tiles.addTo(map);
  layerControl.addOverlay(tiles, "Online map tiles");
  return tiles;
}

// ------------------------------------------------------------------ offline basemap
// Tiles of a PMTiles or MBTiles file served by dronewatch itself (/basemap/{z}/{x}/{y}):
// raster tiles as images, vector tiles decoded here and drawn on canvas (streets, buildings,
// water, green), over the Natural Earth layer (which still shows outside the file's area).

const ROAD_MAJOR = /motorway|trunk|primary|highway|major|secondary/;
const ROAD_MINOR = /tertiary|minor|residential|street|unclassified|living|road/;
const ROAD_PATH = /path|footway|cycleway|track|pedestrian|steps|service|other/;
const GREEN = /park|grass|forest|wood|garden|meadow|recreation|cemetery|golf|green|nature|farm/;

/** Which drawing a feature gets, from its layer name and class. */
function classify(layer, props) {
  const name = layer.toLowerCase();
  const cls = String(props.kind ?? props.class ?? props.highway ?? props.type ?? props.pmap_kind ?? "").toLowerCase();
  if (/water|ocean|lake|river/.test(name)) return "water";
  if (/build/.test(name)) return "building";
  if (/road|transport|highway|street/.test(name)) {
    if (/rail/.test(cls)) return "rail";
    if (/aeroway|runway|taxiway/.test(cls)) return "runway";
    if (ROAD_MAJOR.test(cls)) return "major";
    if (ROAD_PATH.test(cls)) return "path";
    if (ROAD_MINOR.test(cls) || !cls) return "minor";
    return "minor";
  }
  if (/rail/.test(name)) return "rail";
  if (/aeroway|airport/.test(name)) return /runway|taxiway/.test(cls) ? "runway" : "aeroway";
  if (/boundar|admin/.test(name)) return "boundary";
  if (/land|park|natural|green|earth|poi/.test(name)) return GREEN.test(cls) ? "green" : "land";
  return null; // labels and the rest: not drawn
}

const ORDER = ["land", "green", "aeroway", "water", "building", "runway", "path", "rail", "minor", "major", "boundary"];
const FILL = { land: "#1d2c37", green: "#1a3326", aeroway: "#25323c", water: "#0f3045", building: "#33434f" };
const LINE = {
  water: ["#1d5577", 1], building: ["#435664", 0.6], runway: ["#8aa0b2", 6], path: ["#5d6f7d", 0.8],
  rail: ["#7a6f8f", 1.2], minor: ["#7f91a0", 1.6], major: ["#c4ccd4", 3], boundary: ["#8a7fa0", 1],
};

const VectorTiles = L.GridLayer.extend({
  initialize(url, options) {
    L.GridLayer.prototype.initialize.call(this, options);
    this.url = url;
    this.stats = { tiles: 0, failed: 0, features: {} };
  },
  createTile(coords, done) {
    const tile = document.createElement("canvas");
    const size = this.getTileSize();
    const ratio = window.devicePixelRatio || 1;
    tile.width = size.x * ratio;
    tile.height = size.y * ratio;
    const url = L.Util.template(this.url, { z: coords.z, x: coords.x, y: coords.y });
    fetch(url, { cache: "force-cache" }).then(async (resp) => {
      if (resp.status === 204 || resp.status === 404) return done(null, tile); // no tile here
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      this.draw(tile, decodeTile(await resp.arrayBuffer()), ratio, coords.z);
      this.stats.tiles += 1;
      done(null, tile);
    }).catch((err) => {
      this.stats.failed += 1;
      console.warn("basemap tile", url, err.message);
      done(null, tile);
    });
    return tile;
  },
  draw(canvas, layers, ratio, z) {
    const ctx = canvas.getContext("2d");
    const size = canvas.width / ratio;
    const groups = new Map(ORDER.map((k) => [k, []]));
    for (const [name, layer] of Object.entries(layers)) {
      for (const f of layer.features) {
        const kind = classify(name, f.props);
        if (kind) groups.get(kind).push([f, size / layer.extent]);
      }
    }
    const widthScale = Math.max(0.6, Math.min(2.2, (z - 11) / 3));
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    for (const kind of ORDER) {
      const list = groups.get(kind);
      if (!list.length) continue;
      this.stats.features[kind] = (this.stats.features[kind] || 0) + list.length;
      const fill = FILL[kind];
      const line = LINE[kind];
      ctx.beginPath();
      let hasPoly = false, hasLine = false;
      for (const [f, k] of list) {
        if (f.type !== 2 && f.type !== 3) continue;
        for (const part of f.parts) {
          ctx.moveTo(part[0] * k, part[1] * k);
          for (let i = 2; i < part.length; i += 2) ctx.lineTo(part[i] * k, part[i + 1] * k);
        }
        if (f.type === 3) hasPoly = true; else hasLine = true;
      }
      if (hasPoly && fill) {
        ctx.fillStyle = fill;
        ctx.fill("evenodd");
      }
      if (line && (hasLine || kind === "building" || kind === "water")) {
        ctx.strokeStyle = line[0];
        ctx.lineWidth = line[1] * (kind === "building" ? 1 : widthScale);
        ctx.setLineDash(kind === "boundary" ? [4, 3] : kind === "path" ? [3, 2] : []);
        ctx.stroke();
      }
    }
    // Street names at street level, along nothing fancy: at the middle of the longest part.
    if (z >= 15) this.drawNames(ctx, groups, widthScale);
  },
  drawNames(ctx, groups, _scale) {
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(11,18,24,.9)";
    ctx.fillStyle = "#dbe3ea";
    const seen = new Set();
    for (const kind of ["major", "minor"]) {
      for (const [f, k] of groups.get(kind)) {
        const name = f.props.name;
        if (!name || seen.has(name) || f.type !== 2) continue;
        const part = f.parts.reduce((a, b) => (b.length > a.length ? b : a), []);
        if (part.length < 4) continue;
        const i = Math.floor(part.length / 4) * 2;
        seen.add(name);
        ctx.strokeText(String(name), part[i] * k, part[i + 1] * k - 8);
        ctx.fillText(String(name), part[i] * k, part[i + 1] * k - 8);
      }
    }
  },
});

/** The offline basemap from /api/config ``basemap``; a notice when it cannot be used. */
export function addOfflineBasemap(map, config, layerControl) {
  const bm = config.basemap;
  if (!bm) return null;
  if (bm.error) {
    console.warn("basemap:", bm.error);
    map.attributionControl.addAttribution(`<span class="basemap-error" title="${esc(bm.error)}">Basemap unavailable</span>`);
    return { error: bm.error };
  }
  map.createPane("offlineBasemap");
  map.getPane("offlineBasemap").style.zIndex = 250;
  const opts = {
    pane: "offlineBasemap", attribution: esc(bm.attribution || "Basemap"),
    minZoom: 2, maxZoom: 20, maxNativeZoom: bm.max_zoom, minNativeZoom: bm.min_zoom,
    bounds: Array.isArray(bm.bounds) ? [[bm.bounds[1], bm.bounds[0]], [bm.bounds[3], bm.bounds[2]]] : undefined,
  };
  const layer = bm.type === "mvt"
    ? new VectorTiles(bm.url, opts)
    : L.tileLayer(bm.url, opts);
  layer.addTo(map);
  layerControl.addOverlay(layer, "Basemap (offline)");
  return layer;
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
