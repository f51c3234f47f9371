// The alert panel: newest first, severity colours, acknowledge (operator and admin).

import { api } from "./api.js";
import { beep } from "./sound.js";
import { fmtTime, fmtDateTime, h } from "./util.js";

const SEV_RANK = { info: 0, warning: 1, critical: 2 };
const RULE_LABEL = {
  zone_entry: "Zone entry", zone_approach: "Zone approach", altitude: "Altitude",
  pilot_in_zone: "Pilot in zone", unknown_drone: "Unknown drone", drone_lost: "Drone lost",
  spoof_motion: "Spoof: impossible motion", spoof_clone: "Spoof: cloned ID",
  spoof_pilot_distance: "Spoof: pilot distance", spoof_clock: "Spoof: clock",
  spoof_rssi: "Spoof: signal strength",
};
/** Whether an alert colours its drone on the map (see AlertStore.activeByTrack). */
export const colours = (a) => a.status !== "closed" && a.severity !== "info" && a.rule !== "unknown_drone";
export const ruleLabel = (rule) => RULE_LABEL[rule] || String(rule || "alert").replace(/_/g, " ");
const MAX_ALERTS = 500;

export class AlertStore {
  constructor({ listEl, emptyEl, countEl, openOnlyEl, onFocusTrack, onChange }) {
    this.byId = new Map();
    this.listEl = listEl;
    this.emptyEl = emptyEl;
    this.countEl = countEl;
    this.openOnlyEl = openOnlyEl;
    this.onFocusTrack = onFocusTrack;
    this.onChange = onChange;
    this.canAck = false;
    this.cutoff = null; // replay: hide alerts after this time
    this.fresh = new Set();
    openOnlyEl.addEventListener("change", () => this.render());
  }

  /** Replace everything (initial load and resync after reconnect). */
  load(alerts) {
    const keep = new Map(this.byId);
    this.byId.clear();
    let newest = -Infinity;
    for (const a of alerts) {
      const old = keep.get(a.alert_id);
      this.byId.set(a.alert_id, { ...old, ...a });
      newest = Math.max(newest, a.time);
    }
    // Alerts streamed while the list was being fetched are not in it yet: keep them.
    for (const [id, a] of keep) {
      if (!this.byId.has(id) && a.time >= newest - 60) this.byId.set(id, a);
    }
    this.trim();
    this.render();
    this.onChange();
  }

  /** A new or updated alert from the live stream. */
  upsert(a, { live = true } = {}) {
    const old = this.byId.get(a.alert_id);
    const merged = { ...old, ...a };
    // Stream events carry the acknowledgement as of the event (false): keep what we know.
    if (old?.acknowledged) {
      merged.acknowledged = true;
      merged.ack_by = old.ack_by;
      merged.ack_time = old.ack_time;
    }
    this.byId.set(a.alert_id, merged);
    const escalated = old && SEV_RANK[a.severity] > SEV_RANK[old.severity];
    if (live && a.status !== "closed" && (!old || escalated)) {
      this.fresh.add(a.alert_id);
      if (a.severity === "critical" || a.severity === "warning") beep(a.severity);
    }
    this.trim();
    this.render();
    this.onChange();
  }

  trim() {
    if (this.byId.size <= MAX_ALERTS) return;
    const sorted = this.sorted();
    for (const a of sorted.slice(MAX_ALERTS)) this.byId.delete(a.alert_id);
  }

  sorted() {
    return [...this.byId.values()].sort((a, b) => b.time - a.time);
  }

  /**
   * Tracks with a warning or critical alert episode that has not ended: {track_id: {spoof,
   * severity}}. Info alerts and "unknown drone" (every drone not on the whitelist) do not
   * colour a drone, or every drone would be red; they are in the alert list.
   */
  activeByTrack() {
    const out = new Map();
    for (const a of this.byId.values()) {
      if (!colours(a)) continue;
      const cur = out.get(a.track_id) || { spoof: false, severity: "info" };
      if (/spoof/i.test(a.rule || "")) cur.spoof = true;
      if (SEV_RANK[a.severity] > SEV_RANK[cur.severity]) cur.severity = a.severity;
      out.set(a.track_id, cur);
    }
    return out;
  }

  forTrack(trackId) {
    return this.sorted().filter((a) => a.track_id === trackId);
  }

  async acknowledge(a, button) {
    button.disabled = true;
    button.textContent = "…";
    try {
      const res = await api.ack(a.alert_id, null);
      const cur = this.byId.get(a.alert_id);
      if (cur) {
        cur.acknowledged = true;
        cur.ack_by = res?.ack_by ?? cur.ack_by ?? "you";
      }
    } catch (err) {
      button.disabled = false;
      button.textContent = "Acknowledge";
      button.title = `Acknowledge failed: ${err.message}`;
      return;
    }
    this.render();
    this.onChange();
  }

  render() {
    const openOnly = this.openOnlyEl.checked;
    const items = this.sorted().filter((a) =>
      (!openOnly || !a.acknowledged) && (this.cutoff == null || (a.first_time ?? a.time) <= this.cutoff));
    const unacked = [...this.byId.values()].filter((a) => !a.acknowledged && a.status !== "closed");
    this.countEl.textContent = String(unacked.length);
    this.countEl.classList.toggle("hot", unacked.some((a) => a.severity === "critical"));
    this.countEl.title = `${unacked.length} unacknowledged`;
    this.emptyEl.hidden = items.length > 0;
    const frag = document.createDocumentFragment();
    for (const a of items.slice(0, 200)) frag.append(this.row(a));
    this.listEl.replaceChildren(frag);
    this.fresh.clear();
  }

  row(a) {
    const sev = ["critical", "warning", "info"].includes(a.severity) ? a.severity : "info";
    const who = a.serial || a.uas_id || a.track_id;
    const actions = h("div", { class: "alert-actions" });
    if (a.acknowledged) {
      actions.append(h("span", { class: "acked-label", title: a.ack_by ? `by ${a.ack_by}` : null }, "✓ Acked"));
    } else if (this.canAck) {
      const btn = h("button", { type: "button", class: "ack-btn", "aria-label": `Acknowledge alert: ${a.message}` },
        "Acknowledge");
      btn.addEventListener("click", (ev) => { ev.stopPropagation(); this.acknowledge(a, btn); });
      actions.append(btn);
    }
    const li = h("li", {
      class: `alert sev-${sev}` + (a.acknowledged ? " acked" : "") + (a.status === "closed" ? " closed" : "") +
        (this.fresh.has(a.alert_id) ? " fresh" : ""),
      tabindex: "0",
      "data-alert-id": a.alert_id,
      "data-track-id": a.track_id,
      "data-rule": a.rule,
      "data-severity": sev,
      title: fmtDateTime(a.time),
    },
    h("div", { class: "alert-head" },
      h("span", { class: "sev" }, sev),
      h("span", { class: "alert-time" }, fmtTime(a.time)),
      a.status === "closed" ? h("span", { class: "alert-time" }, "ended") : null,
      a.acknowledged && a.ack_by ? h("span", { class: "alert-time" }, `ack ${a.ack_by}`) : null),
    h("div", { class: "alert-msg" }, a.message || a.rule),
    h("div", { class: "alert-meta" }, `${ruleLabel(a.rule)} · ${who}`),
    actions);
    const focus = () => this.onFocusTrack(a.track_id, a);
    li.addEventListener("click", focus);
    li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") focus(); });
    return li;
  }
}
