// Drawing drones on the map: one canvas for every drone, trail, pilot and home point (a DOM
// marker per drone does not survive a busy sky: 400 drones froze the page). The canvas sits
// in a map pane, so panning moves it for free; it is redrawn when the data or the view
// changes. Labels are decluttered (selected, hovered and alerting drones first, others only
// when zoomed in and where there is room), and at low zoom nearby drones are drawn as one
// cluster with their count. The same renderer draws live state and replayed history: both
// hand it a list of "views".
/* global L */

export const STATUS_LABEL = {
  normal: "Normal", alerting: "Alerting", spoof: "Spoof suspected", stale: "Stale",
};
const STATUS_COLOR = { normal: "#38bdf8", alerting: "#ef4444", spoof: "#d946ef", stale: "#8391a0" };
const STATUS_RANK = { stale: 0, normal: 1, alerting: 2, spoof: 3 };
const PILOT_COLOR = "#fbbf24";
const HOME_COLOR = "#a3e635";
const CLUSTER_BELOW_ZOOM = 13; // below this zoom, drones closer than CLUSTER_PX are grouped
const CLUSTER_PX = 44;
const LABEL_ALL_FROM_ZOOM = 14; // below: labels only for selected, hovered and alerting drones
const MAX_LABELS = 120;
const FEW_LABEL_ALL = 25; // this few drones in view: every one labelled (where there is room)
const ALL_DETAIL_MAX = 300; // more drones in view: trails, pilots and homes of important drones only
const MOVING_REDRAW_MS = 1000; // while the map is dragged, data redraws at most this often
const HIT_PX = 14;

/** A layer-control entry that only switches a flag of the renderer. */
const Toggle = L.Layer.extend({
  initialize(onChange) { this.onChange = onChange; },
  onAdd() { this.onChange(true); },
  onRemove() { this.onChange(false); },
});

/** The canvas: an L.Renderer (it follows panning and zoom animation like Leaflet's own). */
const DroneCanvas = L.Renderer.extend({
  options: { padding: 0.2 },
  initialize(owner, options) {
    L.Renderer.prototype.initialize.call(this, options);
    this.owner = owner;
    this._layers = {};
  },
  _initContainer() {
    this._container = document.createElement("canvas");
    this._container.className = "drone-canvas";
    this._container.setAttribute("aria-hidden", "true");
    this._ctx = this._container.getContext("2d");
  },
  _destroyContainer() {
    L.DomUtil.remove(this._container);
    delete this._ctx;
  },
  _update() {
    if (this._map._animatingZoom && this._bounds) return;
    L.Renderer.prototype._update.call(this);
    const b = this._bounds;
    const size = b.getSize();
    const m = window.devicePixelRatio || 1;
    L.DomUtil.setPosition(this._container, b.min);
    this._container.width = Math.round(m * size.x);
    this._container.height = Math.round(m * size.y);
    this._container.style.width = `${size.x}px`;
    this._container.style.height = `${size.y}px`;
    this.owner.draw();
  },
});

export class DroneRenderer {
  constructor(map, { onSelect }) {
    this.map = map;
    this.onSelect = onSelect;
    map.createPane("drones");
    map.getPane("drones").style.zIndex = 450;
    map.getPane("drones").style.pointerEvents = "none";
    this.canvas = new DroneCanvas(this, { pane: "drones" });
    this.canvas.addTo(map);
    this.views = new Map(); // id -> view
    this.showTrails = true;
    this.showPilots = true;
    this.trails = new Toggle((on) => { this.showTrails = on; this.draw(); }).addTo(map);
    this.pilots = new Toggle((on) => { this.showPilots = on; this.draw(); }).addTo(map);
    this.hovered = null;
    this.interactive = true; // off while a zone is being drawn
    this.hits = []; // [{kind: "drone"|"cluster"|"pilot"|"home", x, y, id, members}]
    this.shown = {}; // id -> {x, y, status, label, cluster}
    this.projCache = new Map(); // id -> {parts, zoom, proj: [[x, y]...][]}
    this.drawCount = 0;
    this.lastDrawMs = 0;
    this.lastDrawAt = 0;
    this.moving = false;
    // While the operator drags the map, the canvas moves with it: data redraws wait (at most
    // MOVING_REDRAW_MS) so that every frame of the drag goes to the drag.
    map.on("movestart", () => { this.moving = true; });
    map.on("moveend", () => { this.moving = false; });
    this.listenPointer();
  }

  /** Draw exactly these views (replacing the last ones). */
  render(views) {
    const next = new Map();
    for (const v of views) if (v.lat != null && v.lon != null) next.set(v.id, v);
    for (const id of this.projCache.keys()) if (!next.has(id)) this.projCache.delete(id);
    this.views = next;
    this.draw();
  }

  clear() { this.render([]); }

  // ------------------------------------------------------------ pointer
  listenPointer() {
    const el = this.map.getContainer();
    let down = null;
    el.addEventListener("pointerdown", (ev) => { down = [ev.clientX, ev.clientY]; }, true);
    // Capture phase: a hit on a drone is ours; anything else goes on to the map and zones.
    el.addEventListener("click", (ev) => {
      if (!this.interactive) return;
      if (down && Math.hypot(ev.clientX - down[0], ev.clientY - down[1]) > 5) return; // a drag
      if (ev.target.closest?.(".leaflet-control, .leaflet-popup")) return;
      const hit = this.hitAt(this.map.mouseEventToContainerPoint(ev));
      if (!hit) return;
      ev.stopPropagation();
      ev.preventDefault();
      if (hit.kind === "cluster") {
        const b = L.latLngBounds(hit.members.map((id) => {
          const v = this.views.get(id);
          return [v.lat, v.lon];
        }));
        this.map.fitBounds(b.pad(0.3), { maxZoom: CLUSTER_BELOW_ZOOM + 1 });
      } else {
        this.onSelect(hit.id);
      }
    }, true);
    let pending = null;
    el.addEventListener("pointermove", (ev) => {
      if (ev.buttons) return; // panning
      pending = ev;
      if (this._moveQueued) return;
      this._moveQueued = true;
      requestAnimationFrame(() => {
        this._moveQueued = false;
        if (!pending) return;
        const hit = this.hitAt(this.map.mouseEventToContainerPoint(pending));
        const id = hit && hit.kind !== "cluster" ? hit.id : null;
        el.classList.toggle("over-drone", Boolean(hit));
        if (id !== this.hovered) { this.hovered = id; this.draw(); }
      });
    }, { passive: true });
    el.addEventListener("pointerleave", () => {
      pending = null;
      if (this.hovered) { this.hovered = null; this.draw(); }
    });
  }

  /** The nearest drone (or cluster, pilot, home point) within reach of a container point. */
  hitAt(pt) {
    let best = null;
    let bestD = Infinity;
    for (const h of this.hits) {
      const reach = h.kind === "cluster" ? h.r : h.kind === "drone" ? HIT_PX : 10;
      const d = Math.hypot(h.x - pt.x, h.y - pt.y);
      // Drones win over pilots and home points under them.
      const score = d - (h.kind === "drone" ? 4 : 0);
      if (d <= reach && score < bestD) { best = h; bestD = score; }
    }
    return best;
  }

  // ------------------------------------------------------------ drawing
  draw() {
    if (this._drawQueued) return;
    this._drawQueued = true;
    const frame = () => requestAnimationFrame(() => {
      if (this.moving && performance.now() - this.lastDrawAt < MOVING_REDRAW_MS) {
        setTimeout(frame, 100);
        return;
      }
      this._drawQueued = false;
      this.drawNow();
    });
    frame();
  }

  drawNow() {
    const c = this.canvas;
    const ctx = c._ctx;
    if (!ctx || !c._bounds || !this.map._loaded) return;
    const t0 = performance.now();
    const m = window.devicePixelRatio || 1;
    const origin = c._bounds.min; // layer point of the canvas' top-left corner
    const size = c._bounds.getSize();
    const zoom = this.map.getZoom();
    const pixelOrigin = this.map.getPixelOrigin();
    const toCont = this.map._getMapPanePos ? this.map._getMapPanePos() : L.point(0, 0);
    ctx.setTransform(m, 0, 0, m, 0, 0);
    ctx.clearRect(0, 0, size.x, size.y);

    // Project every drone: canvas coordinates (and container ones for hit tests).
    const items = [];
    for (const v of this.views.values()) {
      const p = this.map.project([v.lat, v.lon], zoom).subtract(pixelOrigin);
      const x = p.x - origin.x, y = p.y - origin.y;
      const inView = x >= -20 && y >= -20 && x <= size.x + 20 && y <= size.y + 20;
      items.push({ v, x, y, cx: p.x + toCont.x, cy: p.y + toCont.y, inView });
    }
    const important = (v) => v.selected || v.id === this.hovered ||
      v.status === "alerting" || v.status === "spoof";

    // Clusters at low zoom (the selected and hovered drones always stand alone).
    const singles = [];
    const clusters = [];
    if (zoom < CLUSTER_BELOW_ZOOM) {
      const cells = new Map();
      for (const it of items) {
        if (!it.inView) continue;
        if (it.v.selected || it.v.id === this.hovered) { singles.push(it); continue; }
        // Cells fixed to the world (not to the canvas): panning does not reshuffle clusters.
        const key = `${Math.floor((it.x + origin.x + pixelOrigin.x) / CLUSTER_PX)},` +
          `${Math.floor((it.y + origin.y + pixelOrigin.y) / CLUSTER_PX)}`;
        let cell = cells.get(key);
        if (!cell) { cell = []; cells.set(key, cell); }
        cell.push(it);
      }
      for (const cell of cells.values()) {
        if (cell.length === 1) singles.push(cell[0]);
        else clusters.push(cell);
      }
    } else {
      for (const it of items) if (it.inView) singles.push(it);
    }

    // Trails (under everything): all of them while few drones are in view, else the important.
    const hits = [];
    const all = singles.length <= ALL_DETAIL_MAX;
    if (this.showTrails && zoom >= CLUSTER_BELOW_ZOOM - 1) {
      for (const it of items) {
        if (!it.v.trail?.length) continue;
        if (!all && !important(it.v)) continue;
        this.drawTrail(ctx, it.v, zoom, pixelOrigin, origin, size);
      }
    }

    // Pilots and home points, with a dashed line pilot -> drone.
    if (this.showPilots && zoom >= CLUSTER_BELOW_ZOOM - 1) {
      for (const it of singles) {
        const v = it.v;
        if (!all && !important(v)) continue;
        if (v.home) {
          const hp = this.toCanvas(v.home, zoom, pixelOrigin, origin);
          this.drawHome(ctx, hp.x, hp.y);
          hits.push({ kind: "home", id: v.id, x: hp.x + origin.x + toCont.x, y: hp.y + origin.y + toCont.y });
        }
        if (v.pilot) {
          const pp = this.toCanvas(v.pilot, zoom, pixelOrigin, origin);
          ctx.save();
          ctx.strokeStyle = STATUS_COLOR[v.status];
          ctx.globalAlpha = 0.9;
          ctx.lineWidth = 1.5;
          ctx.setLineDash([6, 6]);
          ctx.beginPath();
          ctx.moveTo(pp.x, pp.y);
          ctx.lineTo(it.x, it.y);
          ctx.stroke();
          ctx.restore();
          this.drawPilot(ctx, pp.x, pp.y);
          hits.push({ kind: "pilot", id: v.id, x: pp.x + origin.x + toCont.x, y: pp.y + origin.y + toCont.y });
        }
      }
    }

    // Drones: stale first, alerting on top, the selected one last.
    singles.sort((a, b) => (a.v.selected - b.v.selected) || (STATUS_RANK[a.v.status] - STATUS_RANK[b.v.status]));
    for (const it of singles) {
      this.drawDrone(ctx, it.x, it.y, it.v, it.v.id === this.hovered);
      hits.push({ kind: "drone", id: it.v.id, x: it.cx, y: it.cy });
    }
    const clusterHits = [];
    for (const cell of clusters) {
      let sx = 0, sy = 0, worst = "stale";
      for (const it of cell) {
        sx += it.x; sy += it.y;
        if (STATUS_RANK[it.v.status] > STATUS_RANK[worst]) worst = it.v.status;
      }
      const x = sx / cell.length, y = sy / cell.length;
      const r = Math.min(26, 11 + 3 * Math.log2(cell.length));
      ctx.beginPath();
      ctx.arc(x, y, r, 0, Math.PI * 2);
      ctx.fillStyle = "rgba(11,18,24,0.85)";
      ctx.fill();
      ctx.lineWidth = 3;
      ctx.strokeStyle = STATUS_COLOR[worst];
      ctx.stroke();
      ctx.fillStyle = "#e6edf3";
      ctx.font = "700 12px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(String(cell.length), x, y);
      const hit = {
        kind: "cluster", x: x + origin.x + toCont.x, y: y + origin.y + toCont.y, r,
        members: cell.map((it) => it.v.id),
      };
      hits.push(hit);
      clusterHits.push([cell, hit]);
    }

    // Labels, decluttered: the important ones first, then others while there is room.
    const shownLabels = new Set();
    const boxes = [];
    const free = (b) => !boxes.some((o) => b[0] < o[2] && b[2] > o[0] && b[1] < o[3] && b[3] > o[1]);
    const few = singles.length <= FEW_LABEL_ALL;
    const candidates = singles.filter((it) => few || important(it.v) || zoom >= LABEL_ALL_FROM_ZOOM);
    candidates.sort((a, b) => Number(important(b.v)) - Number(important(a.v)) ||
      (b.v.selected - a.v.selected));
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    for (const it of candidates) {
      if (shownLabels.size >= MAX_LABELS) break;
      const v = it.v;
      ctx.font = "600 12px system-ui, sans-serif";
      const w = Math.max(ctx.measureText(v.label).width, v.sublabel ? ctx.measureText(v.sublabel).width * 0.92 : 0);
      const hgt = v.sublabel ? 30 : 16;
      const box = [it.x + 14, it.y - hgt / 2, it.x + 20 + w, it.y + hgt / 2];
      if (!v.selected && v.id !== this.hovered && !free(box)) continue;
      boxes.push(box);
      shownLabels.add(v.id);
      this.drawLabel(ctx, it.x + 16, it.y, v);
    }

    this.hits = hits;
    const shown = {};
    const mapRect = this.map.getContainer().getBoundingClientRect();
    for (const it of singles) {
      shown[it.v.id] = {
        lat: it.v.lat, lon: it.v.lon, x: it.cx, y: it.cy, pageX: it.cx + mapRect.left, pageY: it.cy + mapRect.top,
        status: it.v.status, label: shownLabels.has(it.v.id), cluster: 0,
      };
    }
    for (const [cell, h] of clusterHits) {
      for (const it of cell) {
        shown[it.v.id] = {
          lat: it.v.lat, lon: it.v.lon, x: it.cx, y: it.cy, pageX: it.cx + mapRect.left, pageY: it.cy + mapRect.top,
          status: it.v.status, label: false, cluster: cell.length,
          clusterPageX: h.x + mapRect.left, clusterPageY: h.y + mapRect.top, // where it is drawn
        };
      }
    }
    this.shown = shown;
    this.drawCount += 1;
    this.lastDrawAt = performance.now();
    this.lastDrawMs = this.lastDrawAt - t0;
  }

  toCanvas(ll, zoom, pixelOrigin, origin) {
    const p = this.map.project(ll, zoom);
    return { x: p.x - pixelOrigin.x - origin.x, y: p.y - pixelOrigin.y - origin.y };
  }

  /** A trail, projected once per zoom level and trail update, skipping sub-pixel steps. */
  drawTrail(ctx, v, zoom, pixelOrigin, origin, size) {
    let c = this.projCache.get(v.id);
    if (!c || c.parts !== v.trail || c.zoom !== zoom) {
      const proj = [];
      for (const part of v.trail) {
        const out = [];
        let px = NaN, py = NaN;
        for (const ll of part) {
          const p = this.map.project(ll, zoom);
          if (Math.abs(p.x - px) + Math.abs(p.y - py) < 1.5) continue;
          out.push(p.x, p.y);
          px = p.x; py = p.y;
        }
        if (out.length >= 4) proj.push(out);
      }
      c = { parts: v.trail, zoom, proj };
      this.projCache.set(v.id, c);
    }
    const ox = pixelOrigin.x + origin.x, oy = pixelOrigin.y + origin.y;
    ctx.save();
    ctx.strokeStyle = STATUS_COLOR[v.status];
    ctx.globalAlpha = 0.8;
    ctx.lineWidth = v.selected ? 3 : 2.5;
    ctx.lineJoin = "round";
    if (v.status === "stale") ctx.setLineDash([4, 4]);
    ctx.beginPath();
    for (const pts of c.proj) {
      ctx.moveTo(pts[0] - ox, pts[1] - oy);
      for (let i = 2; i < pts.length; i += 2) ctx.lineTo(pts[i] - ox, pts[i + 1] - oy);
    }
    ctx.stroke();
    ctx.restore();
  }

  drawDrone(ctx, x, y, v, hovered) {
    const color = STATUS_COLOR[v.status];
    if (v.selected || hovered) {
      ctx.beginPath();
      ctx.arc(x, y, 15.5, 0, Math.PI * 2);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = v.selected ? "#ffffff" : "rgba(255,255,255,0.6)";
      ctx.stroke();
    }
    if (v.status === "alerting" || v.status === "spoof") {
      ctx.beginPath();
      ctx.arc(x, y, 13, 0, Math.PI * 2);
      ctx.fillStyle = v.status === "spoof" ? "rgba(217,70,239,0.25)" : "rgba(239,68,68,0.25)";
      ctx.fill();
    }
    const a = ((v.heading ?? 0) * Math.PI) / 180;
    ctx.save();
    ctx.translate(x, y);
    ctx.rotate(a);
    ctx.beginPath();
    ctx.moveTo(0, -13);
    ctx.lineTo(8.5, 9);
    ctx.lineTo(0, 4.5);
    ctx.lineTo(-8.5, 9);
    ctx.closePath();
    ctx.fillStyle = color;
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#0b1218";
    ctx.stroke();
    ctx.restore();
  }

  /** A dark disc ringed in ``color``, then filled with it (for the symbol inside). */
  disc(ctx, x, y, color) {
    ctx.beginPath();
    ctx.arc(x, y, 8, 0, Math.PI * 2);
    ctx.fillStyle = "#0b1218";
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = color;
    ctx.stroke();
    ctx.fillStyle = color;
  }

  drawPilot(ctx, x, y) {
    this.disc(ctx, x, y, PILOT_COLOR);
    ctx.beginPath();
    ctx.arc(x, y - 2.5, 2.4, 0, Math.PI * 2);
    ctx.fill();
    ctx.beginPath();
    ctx.moveTo(x - 4.2, y + 4.5);
    ctx.quadraticCurveTo(x, y - 1.5, x + 4.2, y + 4.5);
    ctx.fill();
  }

  drawHome(ctx, x, y) {
    this.disc(ctx, x, y, HOME_COLOR);
    ctx.font = "700 10px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("H", x, y + 0.5);
  }

  drawLabel(ctx, x, y, v) {
    ctx.save();
    ctx.textAlign = "left";
    ctx.lineJoin = "round";
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(11,18,24,0.9)";
    ctx.fillStyle = v.selected ? "#ffffff" : "#e6edf3";
    ctx.font = "600 12px system-ui, sans-serif";
    const y1 = v.sublabel ? y - 7 : y;
    ctx.strokeText(v.label, x, y1);
    ctx.fillText(v.label, x, y1);
    if (v.sublabel) {
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillStyle = "#9fb0bf";
      ctx.strokeText(v.sublabel, x, y + 8);
      ctx.fillText(v.sublabel, x, y + 8);
    }
    ctx.restore();
  }

  /** Current drone positions {id: [lat, lon]} (every drone handed in, drawn or clustered). */
  positions() {
    const out = {};
    for (const [id, v] of this.views) out[id] = [v.lat, v.lon];
    return out;
  }

  /** What the last frame drew: {id: {lat, lon, x, y, pageX, pageY, status, label, cluster}}. */
  drawn() { return this.shown; }
}
