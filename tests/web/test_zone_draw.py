"""Drawing zones in the page: an admin draws, names and saves a zone, redraws and deletes it; a
self-intersecting zone is refused with the server's reason; a viewer has no drawing tool and
the server refuses a viewer's zone."""

from __future__ import annotations

from typing import Any

import pytest
from tests.web.conftest import LiveServer, PageProbe
from tests.web.test_map import open_map

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def click_at(page: Any, points: list[tuple[int, int]]) -> None:
    box = page.locator("#map").bounding_box()
    for x, y in points:
        page.mouse.click(box["x"] + x, box["y"] + y)


def draw(page: Any, corners: list[tuple[int, int]], name: str) -> None:
    page.click(".zone-draw-btn")
    page.wait_for_selector(".leaflet-container.drawing")
    click_at(page, corners)
    page.click(".zone-draw-btn")  # finish
    page.fill("#zone-name", name)
    page.click(".zone-form button[type=submit]")


def test_admin_draws_and_deletes_a_zone(live_server: LiveServer, probe: PageProbe) -> None:
    page = open_map(probe, live_server, live_server.admin_token)
    page.wait_for_selector("#conn.conn-live")
    page.wait_for_function("() => window.dronewatch.zoneCount() >= 1")
    before = page.evaluate("() => window.dronewatch.zoneCount()")

    # A bow tie crosses itself: refused, with the server's reason; nothing saved.
    draw(page, [(120, 120), (260, 260), (260, 120), (120, 260)], "Bow tie")
    page.wait_for_function(
        "() => document.querySelector('.zone-form .zone-draw-msg').textContent.includes('422')")
    assert "self-intersection" in page.inner_text(".zone-form .zone-draw-msg").lower()
    page.click(".zone-cancel")
    assert page.evaluate("() => window.dronewatch.zoneCount()") == before

    # A triangle: saved, drawn with its name.
    draw(page, [(120, 120), (420, 130), (260, 380)], "Drawn in test")
    page.wait_for_function("(n) => window.dronewatch.zoneCount() === n + 1", arg=before)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.leaflet-tooltip.zone-label')]"
        ".some((e) => e.textContent === 'Drawn in test')")

    # Redrawn from its popup: a new outline, the form keeps its name until changed.
    click_at(page, [(205, 175)])
    page.locator(".leaflet-popup .zone-edit").click()
    page.wait_for_selector(".leaflet-container.drawing")
    page.wait_for_selector(".leaflet-popup", state="detached")  # (it fades out)
    # (the first corner inside the old outline: a click on a zone is a corner while drawing)
    click_at(page, [(330, 200), (460, 110), (460, 330), (300, 330)])
    page.click(".zone-draw-btn")
    assert page.input_value("#zone-name") == "Drawn in test"
    page.fill("#zone-name", "Redrawn in test")
    page.click(".zone-form button[type=submit]")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.leaflet-tooltip.zone-label')]"
        ".some((e) => e.textContent === 'Redrawn in test')")
    assert page.evaluate("() => window.dronewatch.zoneCount()") == before + 1
    ring = page.evaluate(
        """async () => { const fc = await (await fetch('/api/zones', { headers: { Authorization:
        `Bearer ${sessionStorage.getItem('dronewatch.token')}` } })).json();
        return fc.features.find((f) => f.properties.name === 'Redrawn in test').geometry
          .coordinates[0].length; }""")
    assert ring == 5  # four corners, closed

    # Deleted from its popup (after a confirmation).
    page.on("dialog", lambda d: d.accept())
    click_at(page, [(420, 280)])
    page.locator(".leaflet-popup .zone-delete").click()
    page.wait_for_function("(n) => window.dronewatch.zoneCount() === n", arg=before)
    assert not probe.errors, probe.errors


def test_a_viewer_cannot_draw(live_server: LiveServer, probe: PageProbe) -> None:
    page = open_map(probe, live_server, live_server.viewer_token)
    page.wait_for_selector("#conn.conn-live")
    assert page.locator(".zone-draw-btn").count() == 0
    status = page.evaluate(
        """async () => (await fetch('/api/zones', { method: 'POST', headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${sessionStorage.getItem('dronewatch.token')}` },
          body: JSON.stringify({ type: 'Feature', properties: { name: 'x' }, geometry: {
            type: 'Polygon', coordinates: [[[2, 48], [2.01, 48], [2.01, 48.01], [2, 48]]] } }) })).status""")
    assert status == 403
    assert not probe.errors, probe.errors
