"""Cheap accessibility checks of the map page (the two axe-core findings of issue 14 and the
basics): one level-one heading, a name for every control, no positive tabindex, readable
acknowledged alerts (contrast at least 4.5:1), one tab stop for all drones."""

from __future__ import annotations

from typing import Any

import pytest
from tests.web.conftest import LiveServer, PageProbe
from tests.web.test_map import open_map

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

UNNAMED_JS = """() => [...document.querySelectorAll('button, select, input, a[href], [role=button], [role=listbox]')]
  .filter((el) => el.offsetParent !== null && el.type !== 'hidden')
  .filter((el) => {
    const byLabel = el.labels && [...el.labels].some((l) => l.textContent.trim());
    const by = (el.getAttribute('aria-labelledby') || '').split(' ').filter(Boolean)
      .some((id) => document.getElementById(id)?.textContent.trim());
    return !(el.getAttribute('aria-label') || byLabel || by || el.textContent.trim() || el.title);
  }).map((el) => el.outerHTML.slice(0, 120))"""

CONTRAST_JS = """(sel) => {
  const el = document.querySelector(sel);
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const v = c.map((x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  // The background: translucent layers blended over the first opaque one below them.
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const m = getComputedStyle(e).backgroundColor.match(/[\\d.]+/g);
    if (!m) continue;
    const a = m.length > 3 ? Number(m[3]) : 1;
    if (a > 0) layers.push([m.slice(0, 3).map(Number), a]);
    if (a >= 1) break;
  }
  let bg = [0, 0, 0];
  for (const [c, a] of layers.reverse()) bg = c.map((x, i) => x * a + bg[i] * (1 - a));
  const fg = rgb(getComputedStyle(el).color);
  const opacity = [...(function* () { let e = el; while (e) { yield Number(getComputedStyle(e).opacity); e = e.parentElement; } })()]
    .reduce((a, b) => a * b, 1);
  const mixed = fg.map((c, i) => c * opacity + bg[i] * (1 - opacity));
  const [a, b] = [lum(mixed), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def test_basic_accessibility(live_server: LiveServer, probe: PageProbe) -> None:
    page: Any = open_map(probe, live_server, live_server.admin_token)
    page.wait_for_selector("#conn.conn-live")
    assert page.locator("h1").count() == 1
    assert page.evaluate(UNNAMED_JS) == []
    assert page.locator("[tabindex]:not([tabindex='0']):not([tabindex='-1'])").count() == 0
    # All drones behind one tab stop (the list), none on the map.
    assert page.locator("#drone-list[tabindex='0']").count() == 1
    assert page.locator("#drone-list li[tabindex]").count() == 0
    # An acknowledged alert stays readable (it used to be dimmed with opacity).
    row = page.locator("#alert-list li.alert .ack-btn").first
    row.wait_for(timeout=60000)
    alert_id = page.locator("#alert-list li.alert:has(.ack-btn)").first.get_attribute("data-alert-id")
    row.click()
    page.locator(f'#alert-list li[data-alert-id="{alert_id}"] .ack-confirm').click()
    sel = f'#alert-list li[data-alert-id="{alert_id}"].acked .alert-msg'
    page.wait_for_selector(sel)
    ratio = page.evaluate(CONTRAST_JS, sel)
    assert ratio >= 4.5, ratio
    meta = page.evaluate(CONTRAST_JS, f'#alert-list li[data-alert-id="{alert_id}"] .alert-meta')
    assert meta >= 4.5, meta
    assert not probe.errors, probe.errors
