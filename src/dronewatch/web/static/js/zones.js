// Protected zones from /api/zones (GeoJSON). A Point with properties.radius_m is a circle.
/* global L */

import { esc, fmtNum } from "./util.js";

const KIND_STYLE = {
  // Zone kinds/severities we know; anything else is drawn as a restricted zone.
  critical: { color: "#ef4444", fillColor: "#ef4444" },
  warning: { color: "#f59e0b", fillColor: "#f59e0b" },
  info: { color: "#60a5fa", fillColor: "#60a5fa" },
  restricted: { color: "#ef4444", fillColor: "#ef4444" },
  "no-fly": { color: "#ef4444", fillColor: "#ef4444" },
  monitor: { color: "#f59e0b", fillColor: "#f59e0b" },
  watch: { color: "#f59e0b", fillColor: "#f59e0b" },
};

const COLOR_RE = /^#[0-9a-f]{3,8}$|^[a-z]{3,20}$/i;

function zoneStyle(props) {
  const key = String(props.severity || props.kind || "restricted").toLowerCase();
  const base = { ...(KIND_STYLE[key] || KIND_STYLE.restricted) };
  if (props.color && COLOR_RE.test(props.color)) { base.color = props.color; base.fillColor = props.color; }
  const airport = String(props.kind || "").toLowerCase() === "airport";
  return { ...base, weight: 2, opacity: 0.9, fillOpacity: airport ? 0.04 : 0.08,
    dashArray: airport ? "8 6" : null };
}

function zoneName(f) {
  const p = f.properties || {};
  return p.name || p.zone || String(f.id ?? p.id ?? "zone");
}

function popupHtml(f) {
  const p = f.properties || {};
  const rows = [["Zone", zoneName(f)]];
  if (p.kind) rows.push(["Kind", p.kind]);
  if (p.severity) rows.push(["Severity", p.severity]);
  if (p.radius_m != null) rows.push(["Radius", fmtNum(p.radius_m, 0, "m")]);
  rows.push(["Altitude", `${p.min_alt_m != null ? fmtNum(p.min_alt_m, 0, "m") : "ground"} to ` +
    `${p.max_alt_m != null ? fmtNum(p.max_alt_m, 0, "m") : "unlimited"}`]);
  if (p.description) rows.push(["Note", p.description]);
  return rows.map(([k, v]) => `<b>${esc(k)}:</b> ${esc(v)}`).join("<br>");
}

export class ZoneLayer {
  constructor(map, { labels = true, onDelete = null, onEdit = null } = {}) {
    this.group = L.featureGroup().addTo(map);
    this.count = 0;
    this.labels = labels;
    this.onDelete = onDelete; // (zoneId, name) => Promise: admins may delete a zone
    this.onEdit = onEdit; // (feature): admins may redraw a zone
    this.canEdit = false;
  }

  set(fc) {
    this.group.clearLayers();
    const features = fc?.type === "FeatureCollection" ? fc.features : Array.isArray(fc) ? fc : [];
    for (const f of features) {
      if (!f || !f.geometry) continue;
      const props = f.properties || {};
      const style = zoneStyle(props);
      let layer;
      if (f.geometry.type === "Point") {
        const [lon, lat] = f.geometry.coordinates;
        const radius = Number(props.radius_m ?? props.radius ?? 0);
        layer = radius > 0
          ? L.circle([lat, lon], { radius, ...style })
          : L.circleMarker([lat, lon], { radius: 6, ...style });
      } else {
        layer = L.geoJSON(f, { style: () => style });
      }
      layer.bindTooltip(esc(zoneName(f)), {
        permanent: this.labels, direction: "center", className: "zone-label",
      });
      layer.bindPopup(() => this.popup(f));
      layer.addTo(this.group);
    }
    this.count = features.length;
  }

  popup(f) {
    const div = document.createElement("div");
    div.innerHTML = popupHtml(f); // escaped by popupHtml
    if (this.canEdit && this.onDelete && f.id != null && String(f.properties?.kind || "") !== "airport") {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "text-btn zone-delete";
      btn.textContent = "Delete zone";
      const msg = document.createElement("p");
      msg.className = "zone-draw-msg";
      msg.setAttribute("role", "alert");
      btn.addEventListener("click", async () => {
        btn.disabled = true;
        try {
          await this.onDelete(String(f.id), zoneName(f));
        } catch (err) {
          btn.disabled = false;
          msg.textContent = `Not deleted (${err.status || "network"}): ${err.message}`;
        }
      });
      const redraw = document.createElement("button");
      redraw.type = "button";
      redraw.className = "text-btn zone-edit";
      redraw.textContent = "Redraw";
      redraw.addEventListener("click", () => this.onEdit?.(f));
      div.append(document.createElement("br"), redraw, document.createTextNode(" "), btn, msg);
    }
    return div;
  }

  bounds() {
    const b = this.group.getBounds();
    return b.isValid() ? b : null;
  }
}
