"""The map on a phone (390x844): no horizontal scrolling; connection state, alerts and export
within reach; screenshots for the docs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.web.conftest import RECORD_CSP_VIOLATIONS, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

OVERFLOW_JS = """() => {
  const w = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter((el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && s.visibility !== 'hidden' && r.right > w + 1 &&
      !el.closest('.leaflet-pane, .leaflet-control-container');
  }).map((el) => el.id || el.className || el.tagName);
  return { scroll: document.documentElement.scrollWidth, client: w, wide };
}"""


@pytest.fixture()
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(30000)
    page.errors = errors
    try:
        yield page
    finally:
        context.close()


def in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return bool(box) and box["x"] >= 0 and box["x"] + box["width"] <= 391 and \
        box["y"] >= 0 and box["y"] + box["height"] <= 845


def test_phone_layout(live_server: LiveServer, phone: Any, screenshot: Any) -> None:
    page = phone
    page.goto(f"{live_server.url}/?token={live_server.admin_token}")
    page.wait_for_function(
        "() => window.dronewatch && window.dronewatch.status().live && "
        "window.dronewatch.status().drones >= 2"
    )
    page.wait_for_selector("#alert-list li.alert", state="attached", timeout=60000)
    o = page.evaluate(OVERFLOW_JS)
    assert o["scroll"] <= o["client"], o
    assert not o["wide"], o
    # Always visible: the connection state, the alert count, the export and the time controls.
    for sel in ("#conn", "#sheet-toggle", "#export", "#live-btn", "#time-slider"):
        assert page.is_visible(sel) and in_view(page, sel), sel
    assert "live" in page.inner_text("#conn").lower()
    screenshot(page, "phone-map")

    # The alerts open as a bottom sheet; a tap on one opens that drone's details.
    assert not page.is_visible("#alert-list")
    page.tap("#sheet-toggle")
    page.wait_for_selector("#alert-list", state="visible")
    row = page.locator("#alert-list li.alert").first
    assert in_view(page, "#alert-list li.alert >> nth=0")
    track = row.get_attribute("data-track-id")
    screenshot(page, "phone-alerts")
    row.tap()
    page.wait_for_function("(id) => window.dronewatch.status().selected === id", arg=track)
    page.wait_for_selector("#detail:not([hidden])")

    # Filters fold away; opened, they fit.
    assert not page.is_visible("#filter-q")
    page.tap("#filters-toggle")
    page.wait_for_selector("#filter-q", state="visible")
    o = page.evaluate(OVERFLOW_JS)
    assert o["scroll"] <= o["client"] and not o["wide"], o
    assert not page.errors, page.errors
