// The alert panel: unacknowledged critical alerts pinned on top (never pushed out by
// repeated warnings), then the others newest first; repeats of one rule for one drone are one
// row (×N), and a rule raised for many drones ("unknown drone" ×400) folds into one group.
// Filters by severity, rule, zone and the search box; acknowledge with a comment.

import { api } from "./api.js";
import { beep } from "./sound.js";
import { fmtTime, fmtDateTime, h } from "./util.js";

const SEV_RANK = { info: 0, warning: 1, critical: 2 };
const RULE_LABEL = {
  zone_entry: "Zone entry", zone_approach: "Zone approach", altitude: "Altitude",
  pilot_in_zone: "Pilot in zone", unknown_drone: "Unknown drone", drone_lost: "Drone lost",
  spoof_motion: "Spoof: impossible motion", spoof_clone: "Spoof: cloned ID",
  spoof_pilot_distance: "Spoof: pilot distance", spoof_clock: "Spoof: clock",
  spoof_rssi: "Spoof: signal strength", spoof_position_rf: "Spoof: position (RF)",
};
/** What a closed episode of each rule means (not always "ended": an approach is over). */
const CLOSED_LABEL = {
  zone_entry: "left zone", zone_approach: "approach over", pilot_in_zone: "pilot left zone",
  altitude: "back below limit", drone_lost: "closed",
};
/** Whether an alert colours its drone on the map (see AlertStore.activeByTrack). */
export const colours = (a) => a.status !== "closed" && a.severity !== "info" && a.rule !== "unknown_drone";
export const ruleLabel = (rule) => RULE_LABEL[rule] || String(rule || "alert").replace(/_/g, " ");
const MAX_ALERTS = 2000; // kept in memory (unacknowledged critical ones are never dropped)
const MAX_ROWS = 200; // rows drawn below the pinned critical alerts
const FOLD_RULE_MIN = 5; // this many drones with the same (non-critical) rule: one group row
const GROUP_SHOW = 50; // rows shown when a group is opened

const pinned = (a) => a.severity === "critical" && !a.acknowledged && a.status !== "closed";

export class AlertStore {
  constructor({ listEl, emptyEl, countEl, openOnlyEl, filterEls, onFocusTrack, onChange }) {
    this.byId = new Map();
    this.listEl = listEl;
    this.emptyEl = emptyEl;
    this.countEl = countEl;
    this.openOnlyEl = openOnlyEl;
    this.filterEls = filterEls; // {severity, rule, zone} <select>s
    this.onFocusTrack = onFocusTrack;
    this.onChange = onChange;
    this.canAck = false;
    this.cutoff = null; // replay: hide alerts after this time
    this.query = ""; // the search box
    this.fresh = new Set();
    this.expanded = new Set(); // open group rows (rule)
    this.ackOpen = null; // the alert whose acknowledge form is open
    this.rules = new Set();
    this.zones = new Set();
    openOnlyEl.addEventListener("change", () => this.render());
    for (const el of Object.values(filterEls)) el.addEventListener("change", () => this.render());
  }

  setQuery(q) {
    if (q === this.query) return;
    this.query = q;
    this.render();
  }

  /** Replace everything (initial load and resync after reconnect). */
  load(alerts) {
    const keep = new Map(this.byId);
    this.byId.clear();
    let newest = -Infinity;
    for (const a of alerts) {
      const old = keep.get(a.alert_id);
      this.byId.set(a.alert_id, { ...old, ...a });
      this.learn(a);
      newest = Math.max(newest, a.time);
    }
    // Alerts streamed while the list was being fetched are not in it yet: keep them. (The
    // list holds every open alert however old: see fetchAlerts in main.js.)
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
    if (old?.comments && !a.comments) merged.comments = old.comments;
    this.byId.set(a.alert_id, merged);
    this.learn(a);
    const escalated = old && SEV_RANK[a.severity] > SEV_RANK[old.severity];
    if (live && a.status !== "closed" && (!old || escalated)) {
      this.fresh.add(a.alert_id);
      if (a.severity === "critical" || a.severity === "warning") beep(a.severity);
    }
    this.trim();
    this.render();
    this.onChange();
  }

  /** Rules and zones seen: the options of the filters. */
  learn(a) {
    const add = (set, el, value, label) => {
      if (value == null || value === "" || set.has(value)) return;
      set.add(value);
      el.append(new Option(label, value));
    };
    add(this.rules, this.filterEls.rule, a.rule, ruleLabel(a.rule));
    add(this.zones, this.filterEls.zone, a.zone, a.zone);
  }

  trim() {
    if (this.byId.size <= MAX_ALERTS) return;
    const sorted = this.sorted().filter((a) => !pinned(a));
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

  /** {track_id: [alerts, newest first]} (one pass, for many drones at once). */
  byTrack() {
    const out = new Map();
    for (const a of this.sorted()) {
      let list = out.get(a.track_id);
      if (!list) { list = []; out.set(a.track_id, list); }
      list.push(a);
    }
    return out;
  }

  forTrack(trackId) {
    return this.sorted().filter((a) => a.track_id === trackId);
  }

  async acknowledge(a, comment, form) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = "…";
    try {
      const res = await api.ack(a.alert_id, comment || null);
      const cur = this.byId.get(a.alert_id);
      if (cur) {
        cur.acknowledged = true;
        cur.ack_by = res?.ack_by ?? cur.ack_by ?? "you";
        if (Array.isArray(res?.comments)) cur.comments = res.comments;
        else if (comment) cur.comments = [...(cur.comments || []), { text: comment, author: cur.ack_by }];
      }
    } catch (err) {
      button.disabled = false;
      button.textContent = "Acknowledge";
      form.querySelector(".ack-error").textContent = `Acknowledge failed: ${err.message}`;
      return;
    }
    this.ackOpen = null;
    this.render();
    this.onChange();
  }

  passes(a) {
    const f = this.filterEls;
    if (this.openOnlyEl.checked && a.acknowledged) return false;
    if (this.cutoff != null && (a.first_time ?? a.time) > this.cutoff) return false;
    const sev = f.severity.value;
    if (sev && SEV_RANK[a.severity] < SEV_RANK[sev]) return false;
    if (f.rule.value && a.rule !== f.rule.value) return false;
    if (f.zone.value && a.zone !== f.zone.value) return false;
    if (this.query) {
      const hay = [a.track_id, a.uas_id, a.serial, a.message, a.zone].filter(Boolean).join(" ").toLowerCase();
      if (!hay.includes(this.query)) return false;
    }
    return true;
  }

  /** Draw the list on the next frame (a burst of alerts draws once). */
  render() {
    if (this._queued) return;
    this._queued = true;
    requestAnimationFrame(() => {
      this._queued = false;
      this.renderNow();
    });
  }

  renderNow() {
    // Keep an acknowledge form being typed in: redraw later.
    if (this.ackOpen && this.listEl.contains(document.activeElement) &&
        document.activeElement.classList.contains("ack-comment")) {
      setTimeout(() => this.render(), 500);
      return;
    }
    const all = this.sorted();
    const unacked = all.filter((a) => !a.acknowledged && a.status !== "closed");
    this.countEl.textContent = String(unacked.length);
    this.countEl.classList.toggle("hot", unacked.some((a) => a.severity === "critical"));
    this.countEl.title = `${unacked.length} unacknowledged`;

    const items = all.filter((a) => this.passes(a));
    const top = items.filter(pinned);
    // Repeats of one rule for one drone (and zone): one row, the newest, with a count.
    const byKey = new Map();
    for (const a of items) {
      if (pinned(a)) continue;
      const key = `${a.rule}|${a.track_id}|${a.zone || ""}`;
      const g = byKey.get(key);
      if (g) g.count += 1; else byKey.set(key, { a, count: 1 });
    }
    // A rule raised for many drones folds into one group row (critical ones never do).
    const byRule = new Map();
    for (const g of byKey.values()) {
      const list = byRule.get(g.a.rule) || [];
      list.push(g);
      byRule.set(g.a.rule, list);
    }
    const rows = []; // [time, element-maker]
    for (const [rule, groups] of byRule) {
      const foldable = groups.length >= FOLD_RULE_MIN && !groups.some((g) => g.a.severity === "critical");
      if (!foldable) {
        for (const g of groups) rows.push([g.a.time, () => this.row(g.a, g.count)]);
        continue;
      }
      rows.push([groups[0].a.time, () => this.groupRow(rule, groups)]);
    }
    rows.sort((x, y) => y[0] - x[0]);
    const frag = document.createDocumentFragment();
    for (const a of top) frag.append(this.row(a, 1, { pinned: true }));
    for (const [, make] of rows.slice(0, MAX_ROWS)) frag.append(make());
    this.emptyEl.hidden = items.length > 0;
    this.emptyEl.textContent = all.length ? "No alert matches the filters." : "No alerts.";
    this.listEl.replaceChildren(frag);
    this.fresh.clear();
    if (this.ackOpen) this.listEl.querySelector(".ack-comment")?.focus();
  }

  groupRow(rule, groups) {
    const open = this.expanded.has(rule);
    const drones = groups.length;
    const unacked = groups.filter((g) => !g.a.acknowledged && g.a.status !== "closed").length;
    const sev = groups.reduce((s, g) => (SEV_RANK[g.a.severity] > SEV_RANK[s] ? g.a.severity : s), "info");
    const btn = h("button", { type: "button", class: "group-btn", "aria-expanded": String(open) },
      h("span", { class: "sev" }, sev),
      ` ${ruleLabel(rule)} ×${drones} drones`,
      h("span", { class: "alert-time" }, ` newest ${fmtTime(groups[0].a.time)} · ${unacked} open`));
    btn.addEventListener("click", () => {
      if (this.expanded.has(rule)) this.expanded.delete(rule); else this.expanded.add(rule);
      this.render();
    });
    const li = h("li", { class: `alert-group sev-${sev}`, "data-rule": rule, "data-count": String(drones) }, btn);
    if (open) {
      const ol = h("ol", { class: "alert-list nested" });
      for (const g of groups.slice(0, GROUP_SHOW)) ol.append(this.row(g.a, g.count));
      if (groups.length > GROUP_SHOW) {
        ol.append(h("li", { class: "empty" }, `${groups.length - GROUP_SHOW} more: filter or search to narrow.`));
      }
      li.append(ol);
    }
    return li;
  }

  row(a, count = 1, { pinned: isPinned = false } = {}) {
    const sev = ["critical", "warning", "info"].includes(a.severity) ? a.severity : "info";
    const who = a.serial || a.uas_id || a.track_id;
    const actions = h("div", { class: "alert-actions" });
    if (a.acknowledged) {
      actions.append(h("span", { class: "acked-label", title: a.ack_by ? `by ${a.ack_by}` : null }, "✓ Acked"));
    } else if (this.canAck) {
      const btn = h("button", { type: "button", class: "ack-btn", "aria-label": `Acknowledge alert: ${a.message}`,
        "aria-expanded": String(this.ackOpen === a.alert_id) }, "Acknowledge");
      btn.addEventListener("click", (ev) => {
        ev.stopPropagation();
        this.ackOpen = this.ackOpen === a.alert_id ? null : a.alert_id;
        this.renderNow();
      });
      actions.append(btn);
    }
    const closed = a.status === "closed";
    const li = h("li", {
      class: `alert sev-${sev}` + (a.acknowledged ? " acked" : "") + (closed ? " closed" : "") +
        (this.fresh.has(a.alert_id) ? " fresh" : "") + (isPinned ? " pinned" : ""),
      tabindex: "0",
      "data-alert-id": a.alert_id,
      "data-track-id": a.track_id,
      "data-rule": a.rule,
      "data-severity": sev,
      "data-count": String(count),
      title: fmtDateTime(a.time),
    },
    h("div", { class: "alert-head" },
      h("span", { class: "sev" }, sev),
      h("span", { class: "alert-time" }, fmtTime(a.time)),
      count > 1 ? h("span", { class: "badge repeat", title: `${count} alerts of this rule for this drone` }, `×${count}`) : null,
      closed ? h("span", { class: "alert-state" }, CLOSED_LABEL[a.rule] || "ended") : null,
      a.acknowledged && a.ack_by ? h("span", { class: "alert-time" }, `ack ${a.ack_by}`) : null),
    h("div", { class: "alert-msg" }, a.message || a.rule),
    h("div", { class: "alert-meta" }, `${ruleLabel(a.rule)} · ${who}`),
    actions);
    for (const c of (a.comments || []).slice(-2)) {
      li.append(h("div", { class: "alert-comment" }, `“${c.text}”${c.author ? ` — ${c.author}` : ""}`));
    }
    if (this.ackOpen === a.alert_id && !a.acknowledged && this.canAck) {
      const form = h("form", { class: "ack-form" },
        h("label", { class: "visually-hidden", for: `ack-c-${a.alert_id}` }, "Comment (optional)"),
        h("input", { id: `ack-c-${a.alert_id}`, class: "ack-comment", type: "text", maxlength: "500",
          placeholder: "Comment (optional)", autocomplete: "off" }),
        h("button", { type: "submit", class: "ack-confirm" }, "Acknowledge"),
        h("span", { class: "ack-error", role: "alert" }));
      form.addEventListener("click", (ev) => ev.stopPropagation());
      form.addEventListener("keydown", (ev) => {
        ev.stopPropagation();
        if (ev.key === "Escape") { this.ackOpen = null; this.renderNow(); }
      });
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        this.acknowledge(a, form.querySelector(".ack-comment").value.trim(), form);
      });
      li.append(form);
    }
    const focus = () => this.onFocusTrack(a.track_id, a);
    li.addEventListener("click", focus);
    li.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && ev.target === li) focus(); });
    return li;
  }
}
