// Formatting, escaping and small geodesy helpers. Units follow the API: SI, WGS84, UTC epoch s.

const EARTH_R = 6371008.8; // mean Earth radius, metres
const RAD = Math.PI / 180;

/** Escape text for HTML. Everything a drone broadcasts is attacker-controlled. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** "2026-11-25 22:13:49Z" (UTC, always with a Z). */
export function fmtDateTime(t) {
  if (t == null || !Number.isFinite(t)) return "—";
  const d = new Date(t * 1000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}

/** "22:13:49Z" (UTC). */
export function fmtTime(t) {
  if (t == null || !Number.isFinite(t)) return "—";
  const d = new Date(t * 1000);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}

/** A number with a unit, or an em dash for unknown. */
export function fmtNum(v, digits, unit = "") {
  if (v == null || !Number.isFinite(Number(v))) return "—";
  return `${Number(v).toFixed(digits)}${unit ? "\u202f" + unit : ""}`;
}

export function fmtLatLon(lat, lon) {
  if (lat == null || lon == null) return "—";
  return `${Number(lat).toFixed(6)}, ${Number(lon).toFixed(6)}`;
}

/** "3 s ago", "4 min ago" relative to ``now`` (epoch s). */
export function fmtAgo(t, now) {
  if (t == null) return "";
  const s = Math.max(0, now - t);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

/** Great-circle distance in metres. */
export function distanceM(lat1, lon1, lat2, lon2) {
  const p1 = lat1 * RAD, p2 = lat2 * RAD;
  const dp = (lat2 - lat1) * RAD, dl = (lon2 - lon1) * RAD;
  const a = Math.sin(dp / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  return 2 * EARTH_R * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Initial bearing from point 1 to point 2, degrees clockwise from true north in [0, 360). */
export function bearingDeg(lat1, lon1, lat2, lon2) {
  const p1 = lat1 * RAD, p2 = lat2 * RAD, dl = (lon2 - lon1) * RAD;
  const y = Math.sin(dl) * Math.cos(p2);
  const x = Math.cos(p1) * Math.sin(p2) - Math.sin(p1) * Math.cos(p2) * Math.cos(dl);
  return ((Math.atan2(y, x) / RAD) + 360) % 360;
}

/** Offset a point by east/north metres (local flat approximation, fine below ~10 km). */
export function offsetM(lat, lon, east, north) {
  const dLat = north / EARTH_R / RAD;
  const dLon = east / (EARTH_R * Math.cos(lat * RAD)) / RAD;
  return [lat + dLat, lon + dLon];
}

export function fmtDistance(m) {
  if (m == null || !Number.isFinite(m)) return "—";
  return m < 10000 ? `${Math.round(m)}\u202fm` : `${(m / 1000).toFixed(1)}\u202fkm`;
}

/** Binary search: index of the last item with item[0] <= t, or -1. Items sorted by [0]. */
export function lastIndexAtOrBefore(points, t) {
  let lo = 0, hi = points.length - 1, ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid][0] <= t) { ans = mid; lo = mid + 1; } else { hi = mid - 1; }
  }
  return ans;
}

/** Build an element from a tag, attributes and children (strings become text nodes). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
