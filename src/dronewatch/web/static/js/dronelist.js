// The drones as a list: the keyboard way to a drone (one tab stop, arrow keys move, Enter
// opens its details and centres the map on it), instead of a tab stop per map marker.

import { STATUS_LABEL } from "./drones.js";
import { h } from "./util.js";

const RANK = { spoof: 0, alerting: 1, normal: 2, stale: 3 };
const MAX_ITEMS = 100;
const UPDATE_MS = 1000; // the list follows the data once a second (the map does it faster)

export class DroneList {
  constructor({ listEl, countEl, moreEl, onSelect }) {
    this.listEl = listEl;
    this.countEl = countEl;
    this.moreEl = moreEl;
    this.onSelect = onSelect;
    this.ids = [];
    this.active = 0;
    this.key = "";
    this.lastAt = 0;
    this.pending = null;
    listEl.addEventListener("keydown", (ev) => this.onKey(ev));
    listEl.addEventListener("click", (ev) => {
      const li = ev.target.closest("li[data-track-id]");
      if (!li) return;
      this.active = this.ids.indexOf(li.dataset.trackId);
      this.syncActive();
      this.onSelect(li.dataset.trackId);
    });
  }

  render(views, { force = false } = {}) {
    const now = performance.now();
    if (!force && now - this.lastAt < UPDATE_MS) {
      this.pending = views;
      if (!this.timer) {
        this.timer = setTimeout(() => { this.timer = null; this.render(this.pending, { force: true }); },
          UPDATE_MS - (now - this.lastAt));
      }
      return;
    }
    this.lastAt = now;
    const sorted = views.slice().sort((a, b) => (b.selected - a.selected) ||
      (RANK[a.status] - RANK[b.status]) || String(a.label).localeCompare(String(b.label)));
    const top = sorted.slice(0, MAX_ITEMS);
    this.countEl.textContent = String(views.length);
    this.moreEl.hidden = sorted.length <= MAX_ITEMS;
    this.moreEl.textContent = `${sorted.length - MAX_ITEMS} more: search to narrow the list.`;
    const key = top.map((v) => `${v.id}|${v.status}|${v.label}|${v.selected ? 1 : 0}`).join("\n");
    if (key === this.key) return;
    this.key = key;
    const activeId = this.ids[this.active];
    this.ids = top.map((v) => v.id);
    const idx = this.ids.indexOf(activeId);
    this.active = idx >= 0 ? idx : Math.min(this.active, Math.max(0, this.ids.length - 1));
    const frag = document.createDocumentFragment();
    top.forEach((v, i) => {
      frag.append(h("li", {
        id: `drone-opt-${i}`, role: "option", class: `st-${v.status}` + (v.selected ? " selected" : ""),
        "data-track-id": v.id, "aria-selected": v.selected ? "true" : "false",
      }, h("span", { class: "dl-dot", "aria-hidden": "true" }), h("span", { class: "dl-name" }, v.label),
      h("span", { class: "dl-status" }, STATUS_LABEL[v.status])));
    });
    this.listEl.replaceChildren(frag);
    this.syncActive();
  }

  syncActive() {
    const items = this.listEl.children;
    for (let i = 0; i < items.length; i++) items[i].classList.toggle("active", i === this.active);
    if (items[this.active]) {
      this.listEl.setAttribute("aria-activedescendant", items[this.active].id);
      if (document.activeElement === this.listEl) items[this.active].scrollIntoView({ block: "nearest" });
    } else {
      this.listEl.removeAttribute("aria-activedescendant");
    }
  }

  onKey(ev) {
    const n = this.ids.length;
    if (!n) return;
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 };
    if (ev.key in moves) this.active = Math.max(0, Math.min(n - 1, this.active + moves[ev.key]));
    else if (ev.key === "Home") this.active = 0;
    else if (ev.key === "End") this.active = n - 1;
    else if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      this.onSelect(this.ids[this.active]);
      return;
    } else return;
    ev.preventDefault();
    this.syncActive();
  }
}
