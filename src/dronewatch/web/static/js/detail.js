// The drone detail panel (click a drone, its pilot, home point or one of its alerts).

import { ruleLabel } from "./alerts.js";
import { STATUS_LABEL } from "./drones.js";
import { rfLocated } from "./rf.js";
import {
  distanceM, fmtAgo, fmtDateTime, fmtDistance, fmtLatLon, fmtNum, fmtTime, h,
} from "./util.js";

const list = (v) => (Array.isArray(v) ? v : v ? Object.keys(v) : []).join(", ") || "—";

function rssiText(t) {
  const r = t.rssi_by_sensor || {};
  const parts = Object.entries(r).map(([s, v]) => `${s}: ${fmtNum(v, 0, "dBm")}`);
  return parts.join(", ") || "—";
}

/** The RF position estimate's rows: where the signal places the transmitter (1-sigma radius,
 * time of the fit), how far that is from where the drone says it is, from which sensors; or
 * why it could not be placed. */
function rfRows(t) {
  const est = t.rf_estimate;
  if (!est) return [["RF position", "—"]];
  const sensors = Array.isArray(est.sensors) && est.sensors.length
    ? `${est.sensors.join(", ")} (${est.sensors.length})` : "—";
  if (!rfLocated(est)) {
    return [["RF position", `Not located: ${est.reason || "no fit"}`], ["RF sensors", sensors]];
  }
  // offset_m: the fit's distance to the broadcast position (the static model, for a drone
  // that broadcasts no position most of the time, has none: then the distance to the last one).
  const offset = est.offset_m ?? (t.lat != null && t.lon != null
    ? distanceM(t.lat, t.lon, est.lat, est.lon) : null);
  return [
    ["RF position", `${fmtLatLon(est.lat, est.lon)} ±\u202f${fmtDistance(est.error_m)} (${fmtTime(est.time)})`],
    ["RF offset", offset != null ? `${fmtDistance(offset)} from broadcast` : "—"],
    ["RF sensors", sensors],
  ];
}

export function renderDetail(bodyEl, titleEl, t, alerts, status, now, { replayTime = null } = {}) {
  const name = t.serial || t.uas_id || t.track_id;
  titleEl.textContent = name;
  const pilotDist = t.lat != null && t.operator_lat != null
    ? distanceM(t.operator_lat, t.operator_lon, t.lat, t.lon) : null;
  const homeDist = t.lat != null && t.home_lat != null
    ? distanceM(t.home_lat, t.home_lon, t.lat, t.lon) : null;
  const rows = [
    ["Status", h("span", { class: `status-chip st-${status}` }, STATUS_LABEL[status])],
    replayTime != null ? ["Replay time", fmtDateTime(replayTime)] : null,
    ["Track", t.track_id],
    ["UAS ID", t.uas_id ?? "—"],
    ["Serial", t.serial ?? "—"],
    ["Operator ID", t.operator_id ?? "—"],
    ["Product", t.product ?? "—"],
    ["Type", t.ua_type ?? "—"],
    ["Transports", list(t.transports)],
    ["Sensors", list(t.sensors)],
    ["RSSI", rssiText(t)],
    ["Position", fmtLatLon(t.lat, t.lon)],
    ...rfRows(t),
    ["Altitude", `${fmtNum(t.alt, 1, "m")} (height ${fmtNum(t.height, 1, "m")})`],
    ["Max altitude", fmtNum(t.max_alt, 1, "m")],
    ["Speed", `${fmtNum(t.speed, 1, "m/s")} (vertical ${fmtNum(t.vspeed, 1, "m/s")})`],
    ["Heading", t.direction != null ? `${fmtNum(t.direction, 0)}°` : "—"],
    ["Pilot", t.operator_lat != null ? fmtLatLon(t.operator_lat, t.operator_lon) : "—"],
    ["Pilot distance", fmtDistance(pilotDist)],
    ["Home", t.home_lat != null ? fmtLatLon(t.home_lat, t.home_lon) : "—"],
    ["Home distance", fmtDistance(homeDist)],
    ["Take-off", t.takeoff_time != null ? fmtDateTime(t.takeoff_time) : "—"],
    ["First seen", fmtDateTime(t.first_seen)],
    ["Last seen", t.last_seen != null ? `${fmtDateTime(t.last_seen)} (${fmtAgo(t.last_seen, now)})` : "—"],
    ["MAC", list(t.sources)],
  ].filter(Boolean);
  const dl = h("dl", {});
  for (const [k, v] of rows) dl.append(h("dt", {}, k), h("dd", {}, v));
  const al = h("ul", { class: "detail-alerts" });
  for (const a of alerts.slice(0, 30)) {
    al.append(h("li", { class: `sev-${a.severity}` },
      `${fmtTime(a.time)} ${ruleLabel(a.rule)}: ${a.message || ""}` +
      (a.acknowledged ? " (acked)" : "")));
  }
  if (!alerts.length) al.append(h("li", {}, "No alerts for this drone."));
  bodyEl.replaceChildren(dl, h("h3", {}, `Alerts (${alerts.length})`), al);
}
