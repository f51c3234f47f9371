// Drawing a protected zone on the map (admins): click the corners, finish on the first corner,
// by double-click or with "Finish", name it, save (POST /api/zones). The server checks the
// polygon (a self-intersecting one is refused with the reason, shown here) and the role.
/* global L */

import { request } from "./api.js";
import { h } from "./util.js";

export class ZoneDraw {
  constructor(map, { onSaved, onModeChange }) {
    this.map = map;
    this.onSaved = onSaved;
    this.onModeChange = onModeChange;
    this.points = [];
    this.layer = L.layerGroup();
    this.active = false;
    const self = this;
    const Control = L.Control.extend({
      options: { position: "topleft" },
      onAdd() {
        const bar = L.DomUtil.create("div", "leaflet-bar zone-draw");
        self.btn = L.DomUtil.create("a", "zone-draw-btn", bar);
        self.btn.href = "#";
        self.btn.setAttribute("role", "button");
        self.btn.title = "Draw a protected zone";
        self.btn.setAttribute("aria-label", "Draw a protected zone");
        self.btn.textContent = "✎";
        L.DomEvent.on(self.btn, "click", (ev) => {
          L.DomEvent.preventDefault(ev);
          if (self.active) self.finish(); else self.start();
        });
        self.panel = L.DomUtil.create("div", "zone-draw-panel", bar);
        self.panel.hidden = true;
        L.DomEvent.disableClickPropagation(bar);
        L.DomEvent.disableScrollPropagation(bar);
        return bar;
      },
    });
    this.control = new Control();
    // Clicks are taken in the capture phase, before zones, drones or popups get them: a
    // corner may fall on an existing zone.
    const onMap = (ev) => !ev.target.closest?.(".leaflet-control, .leaflet-popup");
    this.onClick = (ev) => {
      if (!onMap(ev)) return;
      ev.stopPropagation();
      this.addPoint(this.map.mouseEventToLatLng(ev));
    };
    this.onDbl = (ev) => {
      if (!onMap(ev)) return;
      ev.stopPropagation();
      ev.preventDefault();
      this.finish();
    };
    this.onKey = (ev) => { if (ev.key === "Escape") this.cancel(); };
  }

  /** Show the control (admins only). */
  enable() {
    if (!this.control._map) this.control.addTo(this.map);
  }

  /** Draw a new zone, or (``editing``: {id, properties}) a new outline for an existing one. */
  start(editing = null) {
    this.editing = editing;
    this.active = true;
    this.points = [];
    this.layer.clearLayers().addTo(this.map);
    this.map.doubleClickZoom.disable();
    this.map.getContainer().addEventListener("click", this.onClick, true);
    this.map.getContainer().addEventListener("dblclick", this.onDbl, true);
    document.addEventListener("keydown", this.onKey);
    this.map.getContainer().classList.add("drawing");
    this.btn.textContent = "✓";
    this.btn.title = "Finish the zone";
    this.btn.setAttribute("aria-label", "Finish the zone");
    this.showHelp((editing ? `New outline of "${editing.properties?.name ?? editing.id}": click` : "Click") +
      " the zone's corners on the map; finish on the first corner, by double-click or ✓. Escape cancels.");
    this.onModeChange?.(true);
  }

  stop() {
    this.active = false;
    this.map.getContainer().removeEventListener("click", this.onClick, true);
    this.map.getContainer().removeEventListener("dblclick", this.onDbl, true);
    document.removeEventListener("keydown", this.onKey);
    this.map.doubleClickZoom.enable();
    this.map.getContainer().classList.remove("drawing");
    this.btn.textContent = "✎";
    this.btn.title = "Draw a protected zone";
    this.btn.setAttribute("aria-label", "Draw a protected zone");
    this.onModeChange?.(false);
  }

  cancel() {
    this.stop();
    this.layer.clearLayers();
    this.layer.remove();
    this.panel.hidden = true;
  }

  addPoint(ll) {
    if (!this.active) return;
    const first = this.points[0];
    if (first && this.points.length >= 3 &&
        this.map.latLngToContainerPoint(first).distanceTo(this.map.latLngToContainerPoint(ll)) < 10) {
      this.finish();
      return;
    }
    const last = this.points[this.points.length - 1];
    if (last && last.equals(ll)) return; // the second click of a double-click
    this.points.push(ll);
    this.redraw();
  }

  redraw() {
    this.layer.clearLayers();
    if (this.points.length >= 2) {
      L.polygon(this.points, { color: "#38bdf8", weight: 2, dashArray: "6 4", fillOpacity: 0.1, interactive: false })
        .addTo(this.layer);
    }
    for (const p of this.points) {
      L.circleMarker(p, { radius: 4, color: "#38bdf8", fillColor: "#0b1218", fillOpacity: 1, interactive: false })
        .addTo(this.layer);
    }
  }

  /** Enough corners: ask for a name and a severity. */
  finish() {
    if (this.points.length < 3) {
      this.showHelp("A zone needs at least three corners.");
      return;
    }
    this.stop();
    this.redraw();
    const old = this.editing?.properties || {};
    const name = h("input", { id: "zone-name", type: "text", required: true, maxlength: "100", autocomplete: "off" });
    name.value = old.name ?? "";
    const sev = h("select", { id: "zone-sev" },
      h("option", { value: "critical" }, "Critical"), h("option", { value: "warning" }, "Warning"),
      h("option", { value: "info" }, "Info"));
    if (["critical", "warning", "info"].includes(old.severity)) sev.value = old.severity;
    const maxAlt = h("input", { id: "zone-max-alt", type: "number", min: "0", step: "1", placeholder: "unlimited" });
    if (old.max_alt_m != null) maxAlt.value = String(old.max_alt_m);
    const msg = h("p", { class: "zone-draw-msg", role: "alert" });
    const form = h("form", { class: "zone-form" },
      h("label", { for: "zone-name" }, "Name"), name,
      h("label", { for: "zone-sev" }, "Severity"), sev,
      h("label", { for: "zone-max-alt" }, "Up to (m)"), maxAlt,
      msg,
      h("div", { class: "zone-form-buttons" },
        h("button", { type: "submit", class: "primary" }, "Save zone"),
        h("button", { type: "button", class: "text-btn zone-cancel" }, "Cancel")));
    form.querySelector(".zone-cancel").addEventListener("click", () => this.cancel());
    form.addEventListener("keydown", (ev) => { if (ev.key === "Escape") this.cancel(); });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const ring = this.points.map((p) => [Number(p.lng.toFixed(7)), Number(p.lat.toFixed(7))]);
      ring.push(ring[0]);
      // Editing keeps the zone's other properties (kind, schedule, colour...).
      const props = { ...old, name: name.value.trim(), severity: sev.value };
      delete props.max_alt_m;
      if (maxAlt.value !== "") props.max_alt_m = Number(maxAlt.value);
      const btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      msg.textContent = "";
      try {
        const feature = { type: "Feature", geometry: { type: "Polygon", coordinates: [ring] }, properties: props };
        const saved = this.editing
          ? await request("PUT", `/api/zones/${encodeURIComponent(this.editing.id)}`, feature)
          : await request("POST", "/api/zones", feature);
        this.cancel();
        this.onSaved?.(saved);
      } catch (err) {
        btn.disabled = false;
        msg.textContent = `Not saved (${err.status || "network"}): ${err.message}`;
      }
    });
    this.panel.replaceChildren(form);
    this.panel.hidden = false;
    name.focus();
  }

  showHelp(text) {
    this.panel.replaceChildren(h("p", { class: "zone-draw-msg" }, text));
    this.panel.hidden = false;
  }
}
