// Drawing drones on the map: heading-rotated icon coloured by status, trail, pilot and home
// markers, and a dashed line from pilot to drone. The same renderer draws live state and
// replayed history: both hand it a list of "views".
/* global L */

import { esc } from "./util.js";

export const STATUS_LABEL = {
  normal: "Normal", alerting: "Alerting", spoof: "Spoof suspected", stale: "Stale",
};
const STATUS_COLOR = { normal: "#38bdf8", alerting: "#ef4444", spoof: "#d946ef", stale: "#8391a0" };

const DRONE_SVG = `<svg viewBox="0 0 34 34" aria-hidden="true">
  <circle class="halo" cx="17" cy="17" r="14"/>
  <circle class="ring" cx="17" cy="17" r="15.5"/>
  <g class="rot"><path class="body" d="M17 3 L26 27 L17 22 L8 27 Z"/></g>
</svg>`;

const PILOT_SVG = `<svg viewBox="0 0 22 22" aria-hidden="true">
  <circle cx="11" cy="11" r="9" fill="#0b1218" stroke="#fbbf24" stroke-width="2"/>
  <circle cx="11" cy="8" r="2.6" fill="#fbbf24"/>
  <path d="M6.5 16c.6-3 2.3-4.5 4.5-4.5s3.9 1.5 4.5 4.5z" fill="#fbbf24"/>
</svg>`;

const HOME_SVG = `<svg viewBox="0 0 22 22" aria-hidden="true">
  <circle cx="11" cy="11" r="9" fill="#0b1218" stroke="#a3e635" stroke-width="2"/>
  <text x="11" y="15" text-anchor="middle" font-size="11" font-weight="700" fill="#a3e635"
        font-family="system-ui, sans-serif">H</text>
</svg>`;

export class DroneRenderer {
  constructor(map, { onSelect }) {
    this.map = map;
    this.onSelect = onSelect;
    // Pilot and home markers sit in a pane under the drones (Leaflet orders markers of one
    // pane by latitude, which would hide a drone still on its home point).
    map.createPane("pilots");
    map.getPane("pilots").style.zIndex = 590;
    this.trails = L.layerGroup().addTo(map);
    this.pilots = L.layerGroup().addTo(map);
    this.markers = L.layerGroup().addTo(map);
    this.items = new Map(); // id -> {marker, trail, pilot, home, link, status}
    this.showTrails = true;
    this.showPilots = true;
  }

  /** Draw exactly these views; remove drones not in the list. */
  render(views) {
    const seen = new Set();
    for (const v of views) {
      if (v.lat == null || v.lon == null) continue;
      seen.add(v.id);
      let it = this.items.get(v.id);
      if (!it) it = this.create(v);
      this.update(it, v);
    }
    for (const [id, it] of this.items) {
      if (!seen.has(id)) this.remove(id, it);
    }
  }

  create(v) {
    const icon = L.divIcon({
      className: "drone-icon", html: DRONE_SVG, iconSize: [34, 34], iconAnchor: [17, 17],
    });
    const marker = L.marker([v.lat, v.lon], {
      icon, keyboard: true, title: v.label, alt: v.label, riseOnHover: true,
    });
    marker.on("click", () => this.onSelect(v.id));
    marker.bindTooltip("", {
      permanent: true, direction: "right", offset: [14, 0], className: "drone-label",
    });
    marker.addTo(this.markers);
    const el = marker.getElement();
    el.dataset.trackId = v.id;
    el.setAttribute("role", "button");
    el.addEventListener("keydown", (ev) => { // Leaflet makes markers focusable, not pressable
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); this.onSelect(v.id); }
    });
    const trail = L.polyline([], { weight: 2.5, opacity: 0.8, interactive: false }).addTo(this.trails);
    const it = { marker, trail, pilot: null, home: null, link: null, status: null, key: "" };
    this.items.set(v.id, it);
    return it;
  }

  update(it, v) {
    const m = it.marker;
    const cur = m.getLatLng();
    if (cur.lat !== v.lat || cur.lng !== v.lon) m.setLatLng([v.lat, v.lon]);
    const el = m.getElement();
    if (el) {
      el.className = el.className.replace(/\bst-\w+/g, "").replace(/\bselected\b/g, "").trim() +
        ` st-${v.status}` + (v.selected ? " selected" : "");
      const rot = el.querySelector(".rot");
      const heading = v.heading == null ? 0 : v.heading;
      rot.setAttribute("transform", `rotate(${heading.toFixed(1)} 17 17)`);
      el.dataset.lat = String(v.lat);
      el.dataset.lon = String(v.lon);
      el.dataset.status = v.status;
      el.setAttribute("aria-label", `${v.label}: ${STATUS_LABEL[v.status]}`);
      el.title = v.label;
    }
    const labelKey = `${v.label}|${v.sublabel || ""}`;
    if (labelKey !== it.key) {
      it.key = labelKey;
      m.setTooltipContent(esc(v.label) + (v.sublabel ? `<br>${esc(v.sublabel)}` : ""));
    }
    if (v.selected) m.setZIndexOffset(1000); else m.setZIndexOffset(0);

    const color = STATUS_COLOR[v.status];
    if (it.status !== v.status) {
      it.trail.setStyle({ color, dashArray: v.status === "stale" ? "4 4" : null });
      it.link?.setStyle({ color });
      it.status = v.status;
    }
    it.trail.setLatLngs(this.showTrails ? v.trail : []);

    // Pilot and home point, with a dashed line pilot -> drone.
    if (v.pilot && this.showPilots) {
      if (!it.pilot) {
        it.pilot = L.marker(v.pilot, {
          icon: L.divIcon({ className: "pilot-icon", html: PILOT_SVG, iconSize: [22, 22], iconAnchor: [11, 11] }),
          title: `Pilot of ${v.label}`, alt: `Pilot of ${v.label}`, keyboard: false, pane: "pilots",
          zIndexOffset: 100, // above the home point, often the same place
        }).on("click", () => this.onSelect(v.id)).addTo(this.pilots);
        it.pilot.getElement().dataset.pilotOf = v.id;
        it.link = L.polyline([v.pilot, [v.lat, v.lon]], {
          color, weight: 1.5, dashArray: "6 6", opacity: 0.9, interactive: false,
        }).addTo(this.pilots);
      } else {
        it.pilot.setLatLng(v.pilot);
      }
      it.link.setLatLngs([v.pilot, [v.lat, v.lon]]);
    } else if (it.pilot) {
      this.pilots.removeLayer(it.pilot); this.pilots.removeLayer(it.link);
      it.pilot = null; it.link = null;
    }
    if (v.home && this.showPilots) {
      if (!it.home) {
        it.home = L.marker(v.home, {
          icon: L.divIcon({ className: "home-icon", html: HOME_SVG, iconSize: [22, 22], iconAnchor: [11, 11] }),
          title: `Home point of ${v.label}`, alt: `Home point of ${v.label}`, keyboard: false, pane: "pilots",
        }).on("click", () => this.onSelect(v.id)).addTo(this.pilots);
        it.home.getElement().dataset.homeOf = v.id;
      } else {
        it.home.setLatLng(v.home);
      }
    } else if (it.home) {
      this.pilots.removeLayer(it.home); it.home = null;
    }
  }

  remove(id, it) {
    this.markers.removeLayer(it.marker);
    this.trails.removeLayer(it.trail);
    if (it.pilot) this.pilots.removeLayer(it.pilot);
    if (it.link) this.pilots.removeLayer(it.link);
    if (it.home) this.pilots.removeLayer(it.home);
    this.items.delete(id);
  }

  clear() {
    for (const [id, it] of this.items) this.remove(id, it);
  }

  /** Current marker positions {id: [lat, lon]} (used by the browser tests). */
  positions() {
    const out = {};
    for (const [id, it] of this.items) {
      const ll = it.marker.getLatLng();
      out[id] = [ll.lat, ll.lng];
    }
    return out;
  }
}
