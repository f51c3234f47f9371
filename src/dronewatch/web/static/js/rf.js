// The selected drone's RF position estimate (docs/rf-localisation.md): where the signal at
// several sensors says the transmitter is, whatever the drone broadcasts. Drawn as a circle of
// the estimate's 1-sigma radius with a dot at its centre, and a thin dotted line from the
// broadcast position to it: an honest drone's line is short and stays inside the circle, a
// position spoofer's runs far out of it. Leaflet vectors in their own pane (under the drone
// canvas, so the drone icon stays on top), teal: no status, pilot or home colour.
/* global L */

import { fmtDistance } from "./util.js";

export const RF_COLOR = "#2dd4bf";

/** Whether an estimate located the transmitter (else its ``reason`` says why not). */
export const rfLocated = (est) => est != null && est.lat != null && est.lon != null;

export class RfOverlay {
  constructor(map) {
    this.map = map;
    map.createPane("rf");
    map.getPane("rf").style.zIndex = 440; // over zones (400), under the drone canvas (450)
    map.getPane("rf").style.pointerEvents = "none";
    this.renderer = L.svg({ pane: "rf" });
    this.group = L.layerGroup().addTo(map);
    this.circle = L.circle([0, 0], {
      renderer: this.renderer, radius: 1, color: RF_COLOR, weight: 2, opacity: 0.95,
      dashArray: "7 5", fillColor: RF_COLOR, fillOpacity: 0.12, interactive: false, className: "rf-circle",
    });
    this.centre = L.circleMarker([0, 0], {
      renderer: this.renderer, radius: 4, color: "#0b1218", weight: 1.5, fillColor: RF_COLOR,
      fillOpacity: 1, interactive: false, className: "rf-centre",
    });
    this.line = L.polyline([[0, 0], [0, 0]], {
      renderer: this.renderer, color: RF_COLOR, weight: 2, opacity: 0.95, dashArray: "1 5",
      lineCap: "round", interactive: false, className: "rf-line",
    });
    this.centre.bindTooltip("", {
      permanent: true, direction: "right", offset: [8, 0], className: "rf-label", interactive: false,
    });
    this.labelText = null;
    this.shown = null; // whose estimate is on the map: {track, time}
  }

  /** Show track ``trackId``'s estimate ``est`` (``RfEstimate.to_json``), with a line from the
   * broadcast position ``from`` ([lat, lon] or null); nothing unless it located the drone. */
  show(trackId, est, from) {
    if (!rfLocated(est)) { this.clear(); return; }
    const at = [est.lat, est.lon];
    const radius = Number.isFinite(est.error_m) ? est.error_m : 0;
    this.circle.setLatLng(at);
    this.circle.setRadius(radius);
    this.centre.setLatLng(at);
    if (from) this.line.setLatLngs([from, at]);
    const label = `RF ±${fmtDistance(radius)}`;
    if (label !== this.labelText) {
      this.labelText = label;
      this.centre.setTooltipContent(label);
    }
    for (const layer of [this.circle, this.centre]) if (!this.group.hasLayer(layer)) this.group.addLayer(layer);
    if (from && !this.group.hasLayer(this.line)) this.group.addLayer(this.line);
    else if (!from && this.group.hasLayer(this.line)) this.group.removeLayer(this.line);
    this.shown = { track: trackId, time: est.time };
  }

  clear() {
    if (!this.shown) return;
    this.group.clearLayers();
    this.shown = null;
  }

  /** What is drawn (read back from the map's layers), or null: for the test hook. */
  state() {
    if (!this.shown) return null;
    const c = this.circle.getLatLng();
    const line = this.group.hasLayer(this.line) ? this.line.getLatLngs().map((p) => [p.lat, p.lng]) : null;
    return { ...this.shown, lat: c.lat, lon: c.lng, radius_m: this.circle.getRadius(), line };
  }
}
