// dronewatch live map: boot, live state, filters, replay and the glue between panels.
/* global L */

import { AlertStore, colours } from "./alerts.js";
import { api, adoptUrlToken, auth, download, LiveStream, onUnauthorized, request } from "./api.js";
import { addBasemap, addOfflineBasemap, addTiles } from "./basemap.js";
import { renderDetail } from "./detail.js";
import { DroneList } from "./dronelist.js";
import { DroneRenderer } from "./drones.js";
import { RfOverlay } from "./rf.js";
import { sound, unlockAudioOnGesture } from "./sound.js";
import {
  bearingDeg, distanceM, esc, fmtDateTime, fmtNum, fmtTime, lastIndexAtOrBefore, offsetM,
} from "./util.js";
import { ZoneDraw } from "./zonedraw.js";
import { ZoneLayer } from "./zones.js";

const STALE_S = 30; // no update for this long: drawn as stale (unless the server says so first)
const FORGET_S = 1800; // tracks silent this long leave the live map
const ENDED_KEEP_S = 300; // ended tracks stay (grey) this long
const TRAIL_S = 600; // live trail length
const TRAIL_MAX = 600;
const SEED_TRAILS_MAX = 150; // more drones than this: trails only from the stream and on selection
const REPLAY_WINDOW_S = 3600; // history loaded around the replay time, for up to 50 drones
const REPLAY_WINDOW_MIN_S = 300; // ... shorter in a busy sky (about 50 drone-hours a load)
const REPLAY_TRAIL_S = 300;
const REPLAY_GAP_S = 60; // in replay, a drone not heard for this long is not shown

const $ = (id) => document.getElementById(id);

const state = {
  role: null,
  started: false,
  tracks: new Map(), // track_id -> TrackSummary (+ _trail: [[t, lat, lon, alt], ...])
  transports: new Set(),
  selected: null,
  selectedFull: null,
  selectedAlerts: [],
  skew: null, // server clock - our clock (the demo may run on simulated time)
  conn: "connecting",
  replay: null, // {from, to (loaded window), t, playing, tracks, loading}
  range: null, // {first, last}: the stored data's time span (data clock)
  speed: 1,
  fittedOnce: false,
};

const nowRef = () => Date.now() / 1000 + (state.skew ?? 0);

function noteServerTime(t) {
  if (t == null || !Number.isFinite(t)) return;
  const skew = t - Date.now() / 1000;
  if (state.skew == null || skew > state.skew) state.skew = skew;
}

// ---------------------------------------------------------------- map and layers
const map = L.map("map", {
  zoomControl: true, attributionControl: true, preferCanvas: false, worldCopyJump: true,
  minZoom: 2, maxZoom: 19, keyboard: true,
}).setView([48.0, 8.0], 5);
map.attributionControl.setPrefix('<a href="https://leafletjs.com" rel="noreferrer">Leaflet</a>');
L.control.scale({ metric: true, imperial: false, position: "bottomleft" }).addTo(map);
const layerControl = L.control.layers(null, null, { collapsed: true, position: "topright" }).addTo(map);
// Legend and "fit all drones" button.
const Legend = L.Control.extend({
  options: { position: "bottomright" },
  onAdd() {
    const div = L.DomUtil.create("div", "legend");
    div.setAttribute("role", "note");
    div.setAttribute("aria-label", "Map legend");
    const item = (cls, text) => `<span class="lg"><i class="lg-${cls}" aria-hidden="true"></i>${text}</span>`;
    div.innerHTML = item("normal", "Normal") + item("alerting", "Alerting") + item("spoof", "Spoof suspected") +
      item("stale", "Stale") + item("pilot", "Pilot") + item("home", "Home") + item("rf", "RF position");
    return div;
  },
});
new Legend().addTo(map);
const FitControl = L.Control.extend({
  options: { position: "topleft" },
  onAdd() {
    const bar = L.DomUtil.create("div", "leaflet-bar");
    const a = L.DomUtil.create("a", "fit-btn", bar);
    a.href = "#";
    a.title = "Fit all drones and zones";
    a.setAttribute("role", "button");
    a.setAttribute("aria-label", "Fit all drones and zones in view");
    a.innerHTML = '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M2 6V2h4M10 2h4v4M14 10v4h-4M6 14H2v-4" fill="none" stroke="currentColor" stroke-width="1.8"/></svg>';
    L.DomEvent.on(a, "click", (ev) => { L.DomEvent.preventDefault(ev); fitAll(); });
    L.DomEvent.disableClickPropagation(bar);
    return bar;
  },
});
new FitControl().addTo(map);

function fitAll() {
  const pts = Object.values(renderer.positions());
  let b = pts.length ? L.latLngBounds(pts) : null;
  const zb = zones.bounds();
  if (zb) b = b ? b.extend(zb) : zb;
  if (b) map.fitBounds(b.pad(0.15), { maxZoom: 16 });
}

// Labels would only clutter a zoomed-out map.
const syncZoomClass = () => map.getContainer().classList.toggle("zoom-far", map.getZoom() < 10);
map.on("zoomend", syncZoomClass);
syncZoomClass();

const zones = new ZoneLayer(map, {
  onDelete: async (id, name) => {
    if (!window.confirm(`Delete zone "${name}"?`)) return;
    await request("DELETE", `/api/zones/${encodeURIComponent(id)}`);
    map.closePopup();
    await loadZones();
  },
  onEdit: (f) => {
    map.closePopup();
    zoneDraw.start({ id: String(f.id), properties: f.properties || {} });
  },
});
const airportZones = new ZoneLayer(map, { labels: false });
const sensorsLayer = L.layerGroup().addTo(map);
const renderer = new DroneRenderer(map, { onSelect: (id) => select(id, { pan: false }) });
const rfOverlay = new RfOverlay(map);
const droneList = new DroneList({
  listEl: $("drone-list"), countEl: $("drone-list-count"), moreEl: $("drone-list-more"),
  onSelect: (id) => select(id, { pan: true }),
});
layerControl.addOverlay(zones.group, "Protected zones");
layerControl.addOverlay(airportZones.group, "Airport zones (server)");
layerControl.addOverlay(renderer.trails, "Trails");
layerControl.addOverlay(renderer.pilots, "Pilots and home points");
layerControl.addOverlay(rfOverlay.group, "RF position (selected drone)");
layerControl.addOverlay(sensorsLayer, "Sensors");

const zoneDraw = new ZoneDraw(map, {
  onSaved: () => loadZones().catch(() => {}),
  onModeChange: (drawing) => { renderer.interactive = !drawing; },
});

const alerts = new AlertStore({
  listEl: $("alert-list"),
  emptyEl: $("alerts-empty"),
  countEl: $("alert-count"),
  openOnlyEl: $("alerts-open-only"),
  filterEls: { severity: $("alert-sev"), rule: $("alert-rule"), zone: $("alert-zone") },
  onFocusTrack: (trackId, a) => select(trackId, { pan: true, fallback: a }),
  onChange: () => scheduleRender(false),
});

// ---------------------------------------------------------------- live state
function mergeTrail(old, t) {
  let pts = old ? old.slice() : [];
  if (Array.isArray(t.trail)) {
    const firstNew = t.trail.length ? t.trail[0][0] : Infinity;
    // The server's trail is authoritative for its span; keep our older points before it.
    pts = pts.filter((p) => p[0] < firstNew).concat(t.trail);
  }
  if (t.lat != null && t.lon != null && t.last_seen != null) {
    const last = pts[pts.length - 1];
    if (!last || t.last_seen > last[0]) pts.push([t.last_seen, t.lat, t.lon, t.alt]);
  }
  const cut = (t.last_seen ?? 0) - TRAIL_S;
  pts = pts.filter((p) => p[0] >= cut);
  if (pts.length > TRAIL_MAX) pts = pts.slice(pts.length - TRAIL_MAX);
  return pts;
}

function upsertTrack(t) {
  if (!t || !t.track_id) return;
  const old = state.tracks.get(t.track_id);
  // A snapshot fetched while the stream ran may be older than what the stream brought.
  const older = old && old.last_seen != null && t.last_seen != null && t.last_seen < old.last_seen;
  const merged = older ? { ...t, ...old } : { ...old, ...t, _rx: Date.now() / 1000 };
  merged._trail = mergeTrail(old?._trail, t);
  state.tracks.set(t.track_id, merged);
  noteServerTime(t.last_seen);
  for (const tr of merged.transports || []) {
    if (!state.transports.has(tr)) {
      state.transports.add(tr);
      const sel = $("filter-transport");
      sel.append(new Option(tr, tr));
    }
  }
  scheduleRender(false);
}

function liveStatus(t, active) {
  const a = active.get(t.track_id);
  // The server ages tracks on the data's clock (state); silence on the wire is our fallback.
  const stale = (t.state && t.state !== "active") || Date.now() / 1000 - t._rx > STALE_S;
  if (a?.spoof) return "spoof";
  if (a && !stale) return "alerting";
  if (stale) return "stale";
  return a ? "alerting" : "normal";
}

const FILTER = { q: "", transport: "", alerting: false, hideStale: false };

function passes(t, status) {
  if (FILTER.alerting && status !== "alerting" && status !== "spoof") return false;
  if (FILTER.hideStale && status === "stale") return false;
  if (FILTER.transport && !(t.transports || []).includes(FILTER.transport)) return false;
  if (FILTER.q) {
    const hay = [t.track_id, t.uas_id, t.serial, t.operator_id, t.product, ...(t.sources || [])]
      .filter(Boolean).join(" ").toLowerCase();
    if (!hay.includes(FILTER.q)) return false;
  }
  return true;
}

const MAX_PLAUSIBLE_MPS = 120; // faster than any consumer drone: a spoofed or cloned position

/** Trail points [t, lat, lon, ...] -> polyline parts, broken where the drone "teleported". */
function splitTrail(points) {
  const parts = [];
  let cur = [];
  let prev = null;
  for (const p of points) {
    if (prev) {
      const dt = Math.max(p[0] - prev[0], 0.05);
      if (distanceM(prev[1], prev[2], p[1], p[2]) / dt > MAX_PLAUSIBLE_MPS) {
        if (cur.length > 1) parts.push(cur);
        cur = [];
      }
    }
    cur.push([p[1], p[2]]);
    prev = p;
  }
  if (cur.length > 1) parts.push(cur);
  return parts;
}

/** The trail's polyline parts, recomputed only when the trail changed. */
function trailParts(t) {
  if (t._partsOf !== t._trail) {
    t._parts = splitTrail(t._trail || []);
    t._partsOf = t._trail;
  }
  return t._parts;
}

function droneLabel(t) {
  return t.serial || t.uas_id || t.track_id;
}

function sublabel(alt, speed) {
  const parts = [];
  if (alt != null) parts.push(fmtNum(alt, 0, "m"));
  if (speed != null) parts.push(fmtNum(speed, 1, "m/s"));
  return parts.join(" · ");
}

function liveViews() {
  const active = alerts.activeByTrack();
  const now = nowRef();
  const views = [];
  for (const [id, t] of state.tracks) {
    const age = now - (t.last_seen ?? 0);
    if (age > FORGET_S || (t.state === "ended" && age > ENDED_KEEP_S)) {
      state.tracks.delete(id);
      continue;
    }
    const status = liveStatus(t, active);
    if (!passes(t, status)) continue;
    views.push({
      id, lat: t.lat, lon: t.lon, heading: t.direction, status,
      label: droneLabel(t), sublabel: sublabel(t.alt, t.speed),
      trail: trailParts(t),
      pilot: t.operator_lat != null ? [t.operator_lat, t.operator_lon] : null,
      home: t.home_lat != null ? [t.home_lat, t.home_lon] : null,
      selected: id === state.selected,
    });
  }
  return views;
}

// ---------------------------------------------------------------- replay
function interpAt(points, t) {
  const i = lastIndexAtOrBefore(points, t);
  if (i < 0) return null;
  const p = points[i];
  if (t - p[0] > REPLAY_GAP_S) return null;
  const q = points[i + 1];
  let lat = p[1], lon = p[2], alt = p[3];
  if (q && q[0] > p[0] && q[0] - p[0] <= REPLAY_GAP_S &&
      distanceM(p[1], p[2], q[1], q[2]) / (q[0] - p[0]) <= MAX_PLAUSIBLE_MPS) {
    const f = (t - p[0]) / (q[0] - p[0]);
    lat = p[1] + (q[1] - p[1]) * f;
    lon = p[2] + (q[2] - p[2]) * f;
    if (p[3] != null && q[3] != null) alt = p[3] + (q[3] - p[3]) * f;
  }
  let heading = null;
  const a = i > 0 ? points[i - 1] : p, b = q && q !== p ? q : p;
  const from = a !== p ? a : p, to = a !== p ? p : b;
  if (from !== to && (from[1] !== to[1] || from[2] !== to[2])) {
    heading = bearingDeg(from[1], from[2], to[1], to[2]);
  }
  return { i, lat, lon, alt, heading, lastT: p[0] };
}

function replayViews() {
  const r = state.replay;
  const t = r.t;
  const views = [];
  const alertsOf = alerts.byTrack();
  for (const tr of r.tracks) {
    const pos = interpAt(tr.points, t);
    if (!pos) continue;
    const live = state.tracks.get(tr.track_id) || {};
    const info = { ...live, track_id: tr.track_id };
    if (tr.uas_id != null) info.uas_id = tr.uas_id;
    if (tr.serial != null) info.serial = tr.serial;
    let status = "normal";
    const its = (alertsOf.get(tr.track_id) || []).filter((a) =>
      colours({ ...a, status: "open" }) && (a.first_time ?? a.time) <= t &&
      (a.status !== "closed" || a.time >= t));
    if (its.some((a) => /spoof/i.test(a.rule || ""))) status = "spoof";
    else if (its.length) status = "alerting";
    else if (t - pos.lastT > 10) status = "stale";
    if (!passes(info, status)) continue;
    let k0 = pos.i;
    while (k0 > 0 && tr.points[k0 - 1][0] >= t - REPLAY_TRAIL_S) k0--;
    const trail = splitTrail([...tr.points.slice(k0, pos.i + 1), [t, pos.lat, pos.lon]]);
    let pilot = null;
    if (tr.operator && tr.operator.length) {
      const j = lastIndexAtOrBefore(tr.operator, t);
      if (j >= 0) pilot = [tr.operator[j][1], tr.operator[j][2]];
    }
    views.push({
      id: tr.track_id, lat: pos.lat, lon: pos.lon, heading: pos.heading, status,
      label: droneLabel(info), sublabel: sublabel(pos.alt, null), trail, pilot,
      home: live.home_lat != null ? [live.home_lat, live.home_lon] : null,
      selected: tr.track_id === state.selected, alt: pos.alt,
    });
  }
  return views;
}

// Time travel follows the data clock: the slider and the picker span the stored data
// (/api/time-range) and, while live, up to the data's "now"; history is loaded as a window of
// REPLAY_WINDOW_S around the replay time (shorter with many drones), moved as the time moves.

/** The history window's length: an hour for a few drones, down to 5 min for a crowd. */
function replayWindowS(r) {
  const n = Math.max(state.tracks.size, r.tracks.length, 1);
  return Math.max(REPLAY_WINDOW_MIN_S, Math.min(REPLAY_WINDOW_S, (REPLAY_WINDOW_S * 50) / n));
}
const SLIDER_MAX = 10000;

async function loadRange() {
  try {
    const r = await api.timeRange();
    const wasFeeding = state.range?.feeding;
    state.range = r && r.first != null && r.last != null
      ? { first: r.first, last: r.last, feeding: r.feeding !== false } : null;
    // The sources have ended while we watched (a replay has played to its end): show the
    // data at its last time rather than an emptying "live" map.
    if (wasFeeding && state.range && !state.range.feeding && !state.replay) {
      enterReplay(state.range.last).catch(() => {});
    }
  } catch (err) {
    if (err.status === 401) throw err;
  }
  syncTimeControls();
  return state.range;
}

/** [first, end] of the time the controls reach (data time). */
function timeSpan() {
  const live = state.tracks.size ? nowRef() : -Infinity;
  const last = Math.max(state.range?.last ?? -Infinity, live);
  const end = Number.isFinite(last) ? last : nowRef();
  let first = state.range?.first ?? end - 600;
  for (const t of state.tracks.values()) if (t.first_seen != null) first = Math.min(first, t.first_seen);
  return [Math.min(first, end - 10), end];
}

async function enterReplay(at = null) {
  let r = state.replay;
  if (!r) {
    r = { from: 0, to: -1, t: at ?? timeSpan()[1], playing: false, tracks: [], loading: true, seq: 0 };
    state.replay = r;
    document.body.classList.add("replaying");
    $("live-btn").classList.remove("active");
    $("live-btn").setAttribute("aria-pressed", "false");
    map.getContainer().classList.add("no-anim");
    setConn(state.conn);
  }
  if (at != null) r.t = at;
  if (r.seq === 0) await loadRange(); // the stored span, fresh
  if (state.replay !== r) return r;
  await ensureWindow(r, r.t);
  if (state.replay === r) setReplayTime(r.t);
  return r;
}

/** Load the history window around ``t`` unless the loaded one covers it (with a margin). */
async function ensureWindow(r, t) {
  const [first, end] = timeSpan();
  // Covered; while playing, load the next window two minutes before the end of this one.
  if (r.from <= t && t <= r.to && (!r.playing || t <= r.to - 120 || r.to >= end)) return;
  const win = replayWindowS(r);
  if (r.pendingFor != null && Math.abs(r.pendingFor - t) < win / 4) return r.pending;
  let from = Math.max(first - 1, t - win / 2);
  const to = Math.min(end + 1, from + win);
  from = Math.max(first - 1, Math.min(from, to - win));
  const seq = ++r.seq;
  r.pendingFor = t;
  r.pending = (async () => {
    try {
      const hist = await api.history(from, to);
      if (state.replay !== r || seq !== r.seq) return;
      r.tracks = (hist.tracks || []).map((tr) => ({
        ...tr,
        points: (tr.points || []).slice().sort((x, y) => x[0] - y[0]),
        operator: (tr.operator || []).slice().sort((x, y) => x[0] - y[0]),
      }));
      r.from = from;
      r.to = to;
    } catch (err) {
      console.warn("replay: history not loaded", err);
    } finally {
      if (seq === r.seq) {
        r.loading = false;
        r.pendingFor = null;
      }
    }
    scheduleRender();
    syncTimeControls();
  })();
  return r.pending;
}

function exitReplay() {
  if (!state.replay) return;
  clearInterval(state.replay.timer);
  state.replay = null;
  alerts.cutoff = null;
  alerts.render();
  document.body.classList.remove("replaying");
  $("live-btn").classList.add("active");
  $("live-btn").setAttribute("aria-pressed", "true");
  $("play-btn").textContent = "▶";
  $("play-btn").setAttribute("aria-label", "Play replay");
  map.getContainer().classList.remove("no-anim");
  setConn(state.conn);
  syncTimeControls();
  scheduleRender();
}

function sliderTime() {
  const [first, end] = timeSpan();
  const v = Number($("time-slider").value) / SLIDER_MAX;
  return first + (end - first) * v;
}

const pad2 = (n) => String(n).padStart(2, "0");
/** Epoch s -> the value of a datetime-local input, in UTC. */
function pickerValue(t) {
  const d = new Date(Math.round(t) * 1000);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

/** Slider position, picker bounds and value, export window and header clock. */
function syncTimeControls() {
  const [first, end] = timeSpan();
  const r = state.replay;
  const slider = $("time-slider");
  if (!r) slider.value = String(SLIDER_MAX);
  else slider.value = String(Math.round(((r.t - first) / Math.max(end - first, 1)) * SLIDER_MAX));
  const pick = $("time-pick");
  pick.min = pickerValue(first);
  pick.max = pickerValue(end + 1);
  if (document.activeElement !== pick) pick.value = pickerValue(r ? r.t : end);
  const [from, to] = exportWindow();
  $("export").title = `Download the tracks of ${fmtDateTime(from)} to ${fmtDateTime(to)}`;
  $("clock").textContent = fmtTime(r ? r.t : nowRef());
}

/** The export: the chosen length (1 min to 24 h) up to the time shown (data time). */
function exportWindow() {
  const len = Number($("export-span").value) || 3600;
  const t = state.replay ? state.replay.t : timeSpan()[1];
  return [t - len, t];
}

function setReplayTime(t) {
  const r = state.replay;
  if (!r) return;
  const [first, end] = timeSpan();
  r.t = Math.min(end, Math.max(first, t));
  ensureWindow(r, r.t);
  syncTimeControls();
  alerts.cutoff = r.t;
  alerts.render();
  scheduleRender();
}

function setPlaying(on) {
  const r = state.replay;
  if (!r) return;
  clearInterval(r.timer);
  r.playing = on;
  $("play-btn").textContent = on ? "❚❚" : "▶";
  $("play-btn").setAttribute("aria-label", on ? "Pause replay" : "Play replay");
  if (!on) return;
  let last = performance.now();
  r.timer = setInterval(() => {
    const now = performance.now();
    const dt = (now - last) / 1000;
    last = now;
    if (r.loading) return;
    setReplayTime(r.t + dt * state.speed);
    if (r.t >= timeSpan()[1]) setPlaying(false);
  }, 200);
}

// ---------------------------------------------------------------- rendering
// Data (hundreds of track updates a second in a busy sky) redraws at most DATA_RENDER_MS;
// the operator's own actions (select, filter, replay) redraw on the next frame.
const DATA_RENDER_MS = 200;
let renderTimer = null;
let renderFrame = null;
let lastRenderAt = 0;
function scheduleRender(urgent = true) {
  if (renderFrame) return; // a frame is queued already
  if (urgent) {
    clearTimeout(renderTimer);
    renderTimer = null;
    queueRenderFrame();
    return;
  }
  if (renderTimer) return;
  const wait = Math.max(0, DATA_RENDER_MS - (performance.now() - lastRenderAt));
  renderTimer = setTimeout(() => { renderTimer = null; queueRenderFrame(); }, wait);
}

function queueRenderFrame() {
  if (renderFrame) return;
  renderFrame = requestAnimationFrame(() => {
    renderFrame = null;
    lastRenderAt = performance.now();
    render();
  });
}

let lastViews = [];
function render() {
  const views = state.replay ? (state.replay.loading ? [] : replayViews()) : liveViews();
  lastViews = views;
  renderer.render(views);
  droneList.render(views);
  const total = state.replay ? state.replay.tracks.length : state.tracks.size;
  $("drone-count").textContent = views.length === total
    ? `${views.length} drone${views.length === 1 ? "" : "s"}`
    : `${views.length} of ${total} drones`;
  updateTimeLabel();
  renderSelected(views);
  renderRf(views);
  if (centring && !centring.started && centring.id === state.selected) centreSelected(centring, views);
  if (!state.fittedOnce && !state.replay && views.length && !zones.bounds()) {
    state.fittedOnce = true;
    map.fitBounds(L.latLngBounds(views.map((v) => [v.lat, v.lon])).pad(0.5), { maxZoom: 15 });
  }
}

function updateTimeLabel() {
  const r = state.replay;
  const label = $("time-label");
  if (!r) {
    label.textContent = `Live · ${fmtTime(nowRef())}`;
  } else if (r.loading) {
    label.textContent = "Loading history…";
  } else {
    label.textContent = `${fmtDateTime(r.t)} ${r.playing ? "▶" : "❚❚"} ×${state.speed}`;
  }
}

let detailRenderedAt = 0;
let detailRenderedFor = null;
function renderSelected(views) {
  const id = state.selected;
  if (!id) return;
  // At most 4 times a second (track updates can come much faster), but at once on a new pick.
  const nowMs = performance.now();
  if (id === detailRenderedFor && nowMs - detailRenderedAt < 250 && !state.replay) return;
  detailRenderedAt = nowMs;
  detailRenderedFor = id;
  const live = state.tracks.get(id);
  const view = views.find((v) => v.id === id);
  let t = { ...state.selectedFull, ...live };
  if (!t.track_id) {
    const hist = state.replay?.tracks.find((x) => x.track_id === id);
    if (!hist) return;
    t = { track_id: id, uas_id: hist.uas_id, serial: hist.serial };
  }
  if (state.replay && view) {
    t = { ...t, lat: view.lat, lon: view.lon, alt: view.alt, direction: view.heading };
    if (view.pilot) { t.operator_lat = view.pilot[0]; t.operator_lon = view.pilot[1]; }
  }
  const byId = new Map(state.selectedAlerts.map((a) => [a.alert_id, a]));
  for (const a of alerts.forTrack(id)) byId.set(a.alert_id, { ...byId.get(a.alert_id), ...a });
  let list = [...byId.values()].sort((a, b) => b.time - a.time);
  if (state.replay) list = list.filter((a) => (a.first_time ?? a.time) <= state.replay.t);
  const status = view?.status ?? (live ? liveStatus(live, alerts.activeByTrack()) : "stale");
  renderDetail($("detail-body"), $("detail-title"), t, list, status,
    state.replay ? state.replay.t : nowRef(), { replayTime: state.replay ? state.replay.t : null });
}

/** The selected drone's RF position estimate on the map, with a line from where the drone is
 * drawn. The track keeps only its latest estimate: in replay it is shown only near its time. */
function renderRf(views) {
  const id = state.selected;
  const est = id ? { ...state.selectedFull, ...state.tracks.get(id) }.rf_estimate : null;
  if (!est || (state.replay && !(Math.abs(state.replay.t - est.time) <= REPLAY_GAP_S))) {
    rfOverlay.clear();
    return;
  }
  const view = views.find((v) => v.id === id);
  rfOverlay.show(id, est, view ? [view.lat, view.lon] : null);
}

/** Run ``move`` now, or when a running zoom animation ends: Leaflet silently ignores a view
 * change made while one runs (after a click on a cluster, a turn of the wheel). */
function whenSettled(move) {
  if (map._animatingZoom) map.once("zoomend", move);
  else move();
}

// ---------------------------------------------------------------- the selected drone in view
// On a phone the panels are a bottom sheet over the map's lower part: a drone centred on the
// whole map would be under its own detail panel. The selected drone goes to the middle of the
// part of the map the sheet leaves visible, measured once the panel shows the drone (its
// height is known only then).
const SHEET_MARGIN_PX = 24; // a drone this close to the sheet's edge counts as hidden by it

/** The map's visible part, in its container's pixels: {width, bottom, covered}; ``covered``:
 * the sheet lies over the map (a phone; on a desktop the panels are beside it). */
function visibleMap() {
  const box = map.getContainer().getBoundingClientRect();
  const sheet = document.querySelector(".sidebar").getBoundingClientRect();
  const covered = sheet.height > 0 && sheet.left < box.right && sheet.right > box.left &&
    sheet.top < box.bottom && sheet.bottom > box.top;
  return { width: box.width, bottom: covered ? Math.max(0, sheet.top - box.top) : box.height, covered };
}

// The selection's centring: {id, pos, pan, zoomIn, started, done, onMoveEnd}; ``done`` once the
// map has come to rest with the drone placed (for the test hook).
let centring = null;

function cancelCentring() {
  if (centring?.onMoveEnd) map.off("moveend", centring.onMoveEnd);
  centring = null;
}

/** Put the selected drone in the middle of the map's visible part: always after a pick in a
 * list or a search (``pan``); after a tap on the map only if the sheet now hides it. Called
 * from render(), once the detail panel shows the drone. */
function centreSelected(c, views) {
  c.started = true;
  const view = views.find((v) => v.id === c.id);
  const pos = view ? [view.lat, view.lon] : c.pos;
  if (!pos) { c.done = true; return; }
  whenSettled(() => {
    if (centring !== c) return; // another drone was picked meanwhile
    const seen = visibleMap();
    if (!c.pan && (!seen.covered || map.latLngToContainerPoint(pos).y <= seen.bottom - SHEET_MARGIN_PX)) {
      c.done = true; // tapped where it stays in view
      return;
    }
    const zoom = Math.max(map.getZoom(), c.zoomIn ? 15 : 0);
    // Leaflet centres on the middle of the container as it last measured it.
    const size = map.getSize();
    const shift = L.point(size.x / 2 - seen.width / 2, size.y / 2 - seen.bottom / 2);
    const centre = map.unproject(map.project(pos, zoom).add(shift), zoom);
    const target = map.project(centre, zoom);
    c.onMoveEnd = () => {
      // (a move that ends elsewhere is an earlier animation's end, or the operator's)
      if (map.getZoom() !== zoom || map.project(map.getCenter(), zoom).distanceTo(target) > 1.5) return;
      map.off("moveend", c.onMoveEnd);
      c.done = true;
    };
    map.on("moveend", c.onMoveEnd);
    map.setView(centre, zoom);
  });
}

async function select(id, { pan = false, fallback = null, zoom = false } = {}) {
  state.selected = id;
  state.selectedFull = null;
  state.selectedAlerts = [];
  detailRenderedFor = null;
  $("detail").hidden = false;
  const live = state.tracks.get(id);
  cancelCentring();
  centring = {
    id, pan, zoomIn: zoom, started: false, done: false, onMoveEnd: null,
    pos: renderer.positions()[id] ||
      (live?.lat != null ? [live.lat, live.lon] : fallback?.lat != null ? [fallback.lat, fallback.lon] : null),
  };
  scheduleRender();
  try {
    const [full, its] = await Promise.all([
      api.drone(id, TRAIL_MAX).catch(() => null), api.droneAlerts(id).catch(() => []),
    ]);
    if (state.selected !== id) return;
    if (full) {
      const { positions, trail, ...rest } = full;
      state.selectedFull = rest;
      // Trails are not loaded for every drone at start-up: the selected one gets its own.
      const t = state.tracks.get(id);
      if (t && Array.isArray(positions) && positions.length) {
        const firstLocal = t._trail?.length ? t._trail[0][0] : Infinity;
        const cut = (t.last_seen ?? 0) - TRAIL_S;
        t._trail = positions.filter((p) => p[0] < firstLocal && p[0] >= cut).concat(t._trail || []).slice(-TRAIL_MAX);
      }
    }
    state.selectedAlerts = Array.isArray(its) ? its : [];
    detailRenderedFor = null;
    scheduleRender();
  } catch { /* the panel shows what we have */ }
}

function closeDetail() {
  state.selected = null;
  cancelCentring();
  $("detail").hidden = true;
  scheduleRender();
}

// ---------------------------------------------------------------- connection and data
function setConn(s) {
  state.conn = s;
  const el = $("conn");
  const text = {
    connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline",
  }[s];
  const shown = state.replay ? "replay" : s;
  el.className = `conn conn-${shown}`;
  el.querySelector(".conn-text").textContent = state.replay ? "Replay" : text;
  el.title = `Live stream: ${text}`;
}

const stream = new LiveStream({
  onState: setConn,
  onMessage(msg) {
    if (msg.kind === "track") upsertTrack(msg.track);
    else if (msg.kind === "zones") loadZones().catch(() => {});
    else if (msg.kind === "dropped") loadSnapshot().catch(() => {}); // we fell behind: resync
    else if (msg.kind === "alert" && msg.alert) {
      alerts.upsert(msg.alert, { live: true });
      if (msg.alert.track_id === state.selected) scheduleRender();
    }
  },
  onReconnect() { loadSnapshot().catch(() => {}); },
  onAuthFailure() { showLogin("The server refused the token (401). Sign in again."); },
  onProbe() { api.me().catch(() => {}); }, // a 401 here opens the login box
});

/** The newest alerts and, however old, every open one (a flood of recent warnings must not
 * push an older unacknowledged critical alert out of the server's page of results). */
async function fetchAlerts() {
  const [recent, open] = await Promise.all([api.alerts({ status: "all" }), api.alerts({ status: "open" })]);
  const byId = new Map();
  for (const a of [...(Array.isArray(open) ? open : []), ...(Array.isArray(recent) ? recent : [])]) {
    byId.set(a.alert_id, a);
  }
  return [...byId.values()];
}

async function loadSnapshot() {
  const [drones, alertList] = await Promise.all([api.drones({ active: "true" }), fetchAlerts()]);
  for (const t of drones) noteServerTime(t.last_seen);
  for (const t of drones) upsertTrack(t);
  alerts.load(Array.isArray(alertList) ? alertList : []);
  // Drones that went quiet in the last minutes are still of interest (shown as stale).
  try {
    const recent = await api.drones({ active: "false", since: String(nowRef() - ENDED_KEEP_S), limit: "200" });
    for (const t of recent) if (!state.tracks.has(t.track_id)) upsertTrack(t);
  } catch (err) {
    if (err.status === 401) throw err;
  }
  // Trails of the last minutes, once the map is up and only while the sky is not busy
  // (a selected drone loads its own trail).
  if (state.tracks.size <= SEED_TRAILS_MAX) setTimeout(() => seedTrails().catch(() => {}), 0);
}

/** Longer trails at start-up than the summaries carry: the last TRAIL_S of history. */
async function seedTrails() {
  if (!state.tracks.size) return;
  const to = nowRef() + 5;
  let hist;
  try {
    hist = await api.history(to - TRAIL_S, to);
  } catch {
    return;
  }
  for (const h of hist?.tracks || []) {
    const t = state.tracks.get(h.track_id);
    if (!t || !Array.isArray(h.points) || !h.points.length) continue;
    const pts = h.points.slice().sort((a, b) => a[0] - b[0]);
    const firstLocal = t._trail.length ? t._trail[0][0] : Infinity;
    t._trail = pts.filter((p) => p[0] < firstLocal).concat(t._trail).slice(-TRAIL_MAX);
  }
  scheduleRender();
}

async function loadZones() {
  try {
    const fc = await api.zones();
    zones.lastIds = (fc?.features || []).map((f) => f.id);
    zones.set(fc);
  } catch (err) {
    if (err.status === 401) throw err;
    console.warn("zones not loaded", err);
  }
}

// Airport zones built into the server (serve --airports) are listed only on request, by bbox.
let airportTimer = null;
function loadAirportZones() {
  clearTimeout(airportTimer);
  airportTimer = setTimeout(async () => {
    if (map.getZoom() < 8) { airportZones.set(null); return; }
    const b = map.getBounds().pad(0.2);
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(4)).join(",");
    try {
      const fc = await request("GET", `/api/zones?${new URLSearchParams({ airports: "true", bbox })}`);
      const own = new Set((zones.lastIds || []));
      fc.features = (fc.features || []).filter((f) => String(f.properties?.kind) === "airport" && !own.has(f.id));
      airportZones.set(fc);
    } catch { /* optional */ }
  }, 400);
}
map.on("moveend", () => { if (state.started && !loginShown) loadAirportZones(); });

let sensorsKey = "";
async function loadSensors() {
  let list;
  try {
    list = (await api.sensors()) || [];
  } catch { return; /* optional */ }
  const placed = list.filter((x) => x.lat != null && x.lon != null);
  const key = JSON.stringify(placed.map((x) => [x.sensor_id, x.lat, x.lon, x.online, x.frames_per_s]));
  if (key === sensorsKey) return;
  sensorsKey = key;
  sensorsLayer.clearLayers();
  for (const s of placed) {
    // Range rings: a sense of distance on the plain offline background (few sensors only).
    if (placed.length <= 5) {
      for (const km of [1, 2, 5, 10]) {
        L.circle([s.lat, s.lon], {
          radius: km * 1000, color: "#6b8196", weight: 1, opacity: 0.45, dashArray: "2 6",
          fill: false, interactive: false,
        }).addTo(sensorsLayer);
        L.marker(offsetM(s.lat, s.lon, 0, km * 1000), {
          icon: L.divIcon({ className: "ring-label", html: `${km} km`, iconSize: [40, 14], iconAnchor: [20, 7] }),
          interactive: false, keyboard: false,
        }).addTo(sensorsLayer);
      }
    }
    const st = s.online === true ? "online" : s.online === false ? "offline" : "unknown";
    const stText = { online: "online", offline: "OFFLINE", unknown: "no status" }[st];
    const rate = s.frames_per_s != null ? ` · ${fmtNum(s.frames_per_s, 1, "frames/s")}` : "";
    L.marker([s.lat, s.lon], {
      icon: L.divIcon({
        className: `sensor-icon sensor-${st}`,
        html: '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="2" y="2" width="12" height="12" rx="2" fill="#0b1218" stroke="currentColor" stroke-width="2"/><circle cx="8" cy="8" r="2.5" fill="currentColor"/></svg>',
        iconSize: [16, 16], iconAnchor: [8, 8],
      }),
      title: `Sensor ${s.sensor_id}: ${stText}`, keyboard: false,
    }).bindTooltip(`Sensor ${esc(s.sensor_id)} · ${esc(stText)}${esc(rate)}<br>` +
      `${esc(fmtNum(s.frames, 0))} frames · last ${esc(fmtDateTime(s.last_seen))}`)
      .addTo(sensorsLayer);
    sensorsLayer.getLayers().at(-1).getElement()?.setAttribute("data-sensor-id", s.sensor_id);
  }
}

async function start() {
  const me = await api.me();
  state.role = me?.role ?? "viewer";
  $("role").textContent = state.role;
  alerts.canAck = state.role === "operator" || state.role === "admin";
  zones.canEdit = state.role === "admin"; // the server checks the role too
  if (zones.canEdit) zoneDraw.enable();
  hideLogin();
  if (!state.started) {
    state.started = true;
    const config = await api.config().catch(() => ({}));
    const c = config.center;
    if (Array.isArray(c) && c.length === 2 && (c[0] !== 0 || c[1] !== 0)) {
      map.setView(config.center, config.zoom ?? 14);
      state.fittedOnce = true;
    }
    addTiles(map, config, layerControl, basemap);
    offlineBasemap = addOfflineBasemap(map, config, layerControl);
    setInterval(tick, 1000);
    setInterval(() => { if (state.conn === "live") loadZones().catch(() => {}); }, 60000);
    setInterval(() => { if (state.conn === "live" && !loginShown) loadSensors(); }, 15000);
    // Acknowledgements by other operators are not streamed: refresh the alert list now and then.
    setInterval(async () => {
      if (state.conn !== "live" || loginShown) return;
      try { alerts.load(await fetchAlerts()); } catch { /* next time */ }
    }, 20000);
  }
  await loadZones();
  if (!state.fittedOnce && zones.bounds()) {
    map.fitBounds(zones.bounds().pad(0.2));
    state.fittedOnce = true;
  }
  // The live stream first; the snapshot fills in what it has not sent yet, trails later.
  stream.stop();
  stream.start();
  await loadSnapshot();
  await loadRange();
  // Nothing comes in but data is stored (say a replay that has ended): show the data at its
  // last time.
  if (state.range && !state.range.feeding && !state.replay) {
    await enterReplay(state.range.last);
  }
  loadSensors();
  loadAirportZones();
  alerts.render();
}

let ticks = 0;
function tick() {
  syncTimeControls();
  scheduleRender(false);
  // The stored span grows with live data: refresh it now and then.
  if (++ticks % 15 === 0 && state.conn === "live" && !loginShown) loadRange().catch(() => {});
}

// ---------------------------------------------------------------- login
let loginShown = false;
function showLogin(message, { keepToken = false } = {}) {
  stream.stop();
  if (!keepToken) auth.token = null;
  loginShown = true;
  $("login-msg").textContent = message || "";
  $("login").hidden = false;
  for (const el of document.querySelectorAll(".topbar, .layout, .timebar")) el.inert = true;
  setTimeout(() => $("login-token").focus(), 0);
}

function hideLogin() {
  loginShown = false;
  $("login").hidden = true;
  for (const el of document.querySelectorAll(".topbar, .layout, .timebar")) el.inert = false;
}

onUnauthorized(() => {
  if (!loginShown) {
    showLogin(auth.token ? "Your token was refused (401). Enter a valid token." :
      "This server needs an access token.");
  }
});

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = $("login-token").value.trim();
  if (!token) return;
  auth.token = token;
  loginShown = false;
  try {
    await start();
    $("login-token").value = "";
  } catch (err) {
    if (err.status === 401) showLogin("That token was refused (401). Check it and try again.");
    else showLogin(`Cannot reach the server: ${err.message}`, { keepToken: true });
  }
});

$("logout").addEventListener("click", () => showLogin("Signed out."));

// ---------------------------------------------------------------- controls
$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  searchSelect();
});

/** Enter in the search box: select the best match and centre the map on it. */
function searchSelect() {
  const q = FILTER.q;
  if (!q) return;
  const views = state.replay ? (state.replay.loading ? [] : replayViews()) : liveViews();
  if (!views.length) return;
  const exact = views.find((v) => {
    const t = state.tracks.get(v.id) || {};
    return [v.id, t.uas_id, t.serial, t.operator_id].some((x) => x && String(x).toLowerCase() === q);
  });
  select((exact || views[0]).id, { pan: true, zoom: true });
}
$("filter-q").addEventListener("input", (ev) => {
  FILTER.q = ev.target.value.trim().toLowerCase();
  alerts.setQuery(FILTER.q); // the search filters the alert list too
  scheduleRender();
});
$("filter-transport").addEventListener("change", (ev) => { FILTER.transport = ev.target.value; scheduleRender(); });
$("filter-alerting").addEventListener("change", (ev) => { FILTER.alerting = ev.target.checked; scheduleRender(); });
$("filter-stale").addEventListener("change", (ev) => { FILTER.hideStale = ev.target.checked; scheduleRender(); });
$("detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && !$("detail").hidden) closeDetail();
});

const muteBtn = $("mute");
function syncMute() {
  muteBtn.setAttribute("aria-pressed", String(sound.muted));
  muteBtn.title = sound.muted ? "Alert sound muted (click to unmute)" : "Alert sound on (click to mute)";
}
muteBtn.addEventListener("click", () => { sound.muted = !sound.muted; syncMute(); });
syncMute();
unlockAudioOnGesture();

$("time-slider").addEventListener("input", async () => {
  const v = Number($("time-slider").value);
  if (!state.replay && v >= SLIDER_MAX) return;
  await enterReplay(sliderTime());
});
$("live-btn").addEventListener("click", exitReplay);
// Phones: the filters fold away and the alerts are a bottom sheet.
const phone = window.matchMedia("(max-width: 700px)");
if (phone.matches) $("drones-panel").open = false;
$("filters-toggle").addEventListener("click", () => {
  const open = document.body.classList.toggle("filters-open");
  $("filters-toggle").setAttribute("aria-expanded", String(open));
});
$("sheet-toggle").addEventListener("click", () => {
  if (!phone.matches) return;
  const open = document.body.classList.toggle("sheet-open");
  $("sheet-toggle").setAttribute("aria-expanded", String(open));
});
$("time-pick").addEventListener("change", async (ev) => {
  const t = Date.parse(`${ev.target.value}Z`) / 1000; // the picker is in UTC
  if (Number.isFinite(t)) await enterReplay(t);
});
$("play-btn").addEventListener("click", async () => {
  if (!state.replay) {
    const r = await enterReplay();
    setReplayTime(r.from);
    setPlaying(true);
    return;
  }
  if (state.replay.t >= state.replay.to) setReplayTime(state.replay.from);
  setPlaying(!state.replay.playing);
});
for (const btn of document.querySelectorAll(".speed")) {
  btn.addEventListener("click", () => {
    state.speed = Number(btn.dataset.speed);
    for (const b of document.querySelectorAll(".speed")) {
      b.classList.toggle("active", b === btn);
      b.setAttribute("aria-pressed", String(b === btn));
    }
    updateTimeLabel();
  });
}

$("export-span").addEventListener("change", syncTimeControls);
$("export").addEventListener("change", async (ev) => {
  const fmt = ev.target.value;
  ev.target.value = "";
  if (!fmt) return;
  const [from, to] = exportWindow();
  const stamp = fmtDateTime(to).replace(/[-: ]/g, "").replace("Z", "Z");
  try {
    await download(`/api/export.${fmt}?${new URLSearchParams({ from: String(from), to: String(to) })}`,
      `dronewatch-${stamp}.${fmt}`);
  } catch (err) {
    console.warn("export failed", err);
  }
});

// Test and debugging hook (read-only views of the state).
window.dronewatch = {
  positions: () => renderer.positions(),
  drawn: () => renderer.drawn(),
  draws: () => renderer.drawCount,
  drawMs: () => renderer.lastDrawMs,
  rf: () => rfOverlay.state(),
  status: () => ({
    live: state.conn === "live" && !state.replay, conn: state.conn, replay: Boolean(state.replay),
    drones: Object.keys(renderer.positions()).length, selected: state.selected,
    centred: centring?.done ? centring.id : null, // the selected drone, once placed in view
    detail: $("detail").hidden ? null : $("detail-title").textContent,
  }),
  select: (id) => select(id, { pan: true }),
  setView: (center, zoom) => new Promise((done) => whenSettled(() => {
    map.setView(center, zoom, { animate: false });
    done();
  })),
  tracks: () => [...state.tracks.values()],
  replay: () => state.replay && { from: state.replay.from, to: state.replay.to, t: state.replay.t,
    loading: state.replay.loading, tracks: state.replay.tracks.length },
  setReplayTime: async (t) => { await enterReplay(t); },
  range: () => state.range && { ...state.range, span: timeSpan() },
  exportWindow: () => exportWindow(),
  dropStream: () => stream.ws?.close(4000, "test: simulated network drop"),
  zoneCount: () => zones.count,
  basemap: () => offlineBasemap && (offlineBasemap.error ? { error: offlineBasemap.error }
    : { stats: offlineBasemap.stats ?? null, attribution: offlineBasemap.options.attribution }),
  beeps: () => sound.beeps,
  map,
};

let offlineBasemap = null;
// ---------------------------------------------------------------- boot
adoptUrlToken();
const basemap = addBasemap(map, layerControl);
setConn("connecting");
syncTimeControls();
start().catch((err) => {
  if (err.status === 401) return; // the login box is up
  setConn("offline");
  showLogin(`Cannot reach the server: ${err.message}`, { keepToken: true });
});
