"""The selected drone is where the operator can see it: on a phone in the middle of the map's
part above the bottom sheet (the detail panel covers the lower half of the screen), on a desktop
in the middle of the map, as before."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from tests.web.conftest import LiveServer, PageProbe
from tests.web.test_phone import phone  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

MARKER_PX = 14  # the drone icon's half-size (drones.js HIT_PX): its box on the screen
CENTRE_TOLERANCE_PX = 12  # the drone flies on (4x real time) while the map pans

# Once the app has placed the selected drone (status().centred) and the canvas has drawn the
# map's new view: where the marker is on the screen, the map's box and the top of what covers
# the map's lower part (the sheet on a phone; the map's bottom on a desktop).
PLACED_JS = """(id) => {
  const d = window.dronewatch;
  const spot = d.drawn()[id];
  if (d.status().centred !== id || !spot || spot.cluster) return null;
  const box = d.map.getContainer().getBoundingClientRect();
  const now = d.map.latLngToContainerPoint([spot.lat, spot.lon]);
  if (Math.abs(now.x + box.left - spot.pageX) > 1 || Math.abs(now.y + box.top - spot.pageY) > 1) {
    return null; // (the frame after the move is not drawn yet)
  }
  const sheet = document.querySelector('.sidebar').getBoundingClientRect();
  const overSheet = sheet.left < box.right && sheet.right > box.left && sheet.top < box.bottom;
  return { x: spot.pageX, y: spot.pageY, left: box.left, right: box.right, top: box.top,
           bottom: box.bottom, visibleBottom: overSheet ? sheet.top : box.bottom,
           centre: [d.map.getCenter().lat, d.map.getCenter().lng] };
}"""


def placed(page: Any, track_id: str) -> dict[str, Any]:
    got: dict[str, Any] = page.wait_for_function(PLACED_JS, arg=track_id).json_value()
    return got


def assert_marker_in_view(p: dict[str, Any]) -> None:
    """The marker's box lies inside the map's visible part (above the sheet)."""
    assert p["left"] <= p["x"] - MARKER_PX and p["x"] + MARKER_PX <= p["right"], p
    assert p["top"] <= p["y"] - MARKER_PX and p["y"] + MARKER_PX <= p["visibleBottom"], p


def assert_centred_in_view(p: dict[str, Any]) -> None:
    assert abs(p["x"] - (p["left"] + p["right"]) / 2) < CENTRE_TOLERANCE_PX, p
    assert abs(p["y"] - (p["top"] + p["visibleBottom"]) / 2) < CENTRE_TOLERANCE_PX, p


def tap_drone(page: Any, track_id: str, *, touch: bool) -> float:
    """Tap (click) the drone where it is drawn until it is selected, as a person would (it flies
    on at 4x while a busy machine taps): the page y where it was tapped."""
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline, f"a tap on {track_id} did not select it"
        spot = page.wait_for_function(
            "(id) => { const d = window.dronewatch.drawn()[id]; return d && !d.cluster && d; }",
            arg=track_id).json_value()
        if touch:
            page.touchscreen.tap(spot["pageX"], spot["pageY"])
        else:
            page.mouse.click(spot["pageX"], spot["pageY"])
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function("(id) => window.dronewatch.status().selected === id",
                                   arg=track_id, timeout=2000)
            return float(spot["pageY"])


def open_live(page: Any, live_server: LiveServer) -> list[str]:
    page.goto(f"{live_server.url}/?token={live_server.admin_token}")
    page.wait_for_function(
        "() => window.dronewatch && window.dronewatch.status().live && "
        "window.dronewatch.status().drones >= 2")
    ids: list[str] = page.evaluate("() => Object.keys(window.dronewatch.positions())")
    return ids


# Zoom 15 with the drone at ``arg[1]`` of the map's height from its top.
PUT_LOW_JS = """([id, f]) => {
  const d = window.dronewatch, m = d.map;
  const p = m.project(d.positions()[id], 15);
  return d.setView(m.unproject(p.subtract([0, (f - 0.5) * m.getSize().y]), 15), 15);
}"""


def test_phone_selected_drone_above_the_sheet(live_server: LiveServer, phone: Any,  # noqa: F811
                                              screenshot: Any) -> None:
    page = phone
    first, second = open_live(page, live_server)[:2]

    # A drone low on the map, in view; tapped, its detail panel opens over the map's lower half.
    page.evaluate(PUT_LOW_JS, [first, 0.72])
    tapped_y = tap_drone(page, first, touch=True)
    page.wait_for_selector("#detail:not([hidden])")
    p = placed(page, first)
    assert p["visibleBottom"] < tapped_y, p  # the sheet covers where it was: the map moved it
    assert_marker_in_view(p)
    assert_centred_in_view(p)
    screenshot(page, "phone-selected-above-sheet")

    # The search's Enter selects and centres a drone: above the sheet too.
    page.tap("#filters-toggle")
    page.fill("#filter-q", second)
    page.press("#filter-q", "Enter")
    page.wait_for_function("(id) => window.dronewatch.status().selected === id", arg=second)
    p = placed(page, second)
    assert p["visibleBottom"] < p["bottom"] - 100, p  # the sheet is up, over the map
    assert_marker_in_view(p)
    assert_centred_in_view(p)
    assert not page.errors, page.errors


def test_desktop_selected_drone_centred(live_server: LiveServer, probe: PageProbe) -> None:
    page = probe.page
    first, second = open_live(page, live_server)[:2]

    # Picked in the list: centred on the whole map (the panels are beside it).
    page.locator(f'#drone-list li[data-track-id="{first}"]').click()
    p = placed(page, first)
    assert p["visibleBottom"] == p["bottom"], p
    assert_marker_in_view(p)
    assert_centred_in_view(p)

    # Clicked on the map, low down: selected where it is, the map stays put.
    page.evaluate(PUT_LOW_JS, [second, 0.85])
    before = page.evaluate("() => window.dronewatch.map.getCenter()")
    tap_drone(page, second, touch=False)
    p = placed(page, second)
    assert p["centre"] == [before["lat"], before["lng"]], (p, before)
    assert p["y"] > (p["top"] + p["bottom"]) / 2 + 100, p
    assert not probe.errors, probe.errors
