"""The selected drone's RF position estimate on the live map (issue 15), in a real browser.

The server replays a capture of six sensors (their sites in it, as in
tests/server/test_rf_api.py) with an honest drone and a position spoofer, at a few times real
time: the operator selects a drone and sees where its signal comes from (a circle of the
estimate's 1-sigma radius and a line from the broadcast position), follows it live, and reads
the estimate in the detail panel. A two-sensor capture cannot be located: the panel says why.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import make_settings, wait_idle
from tests.web.conftest import ADMIN_TOKEN, LiveServer, PageProbe, serve
from tests.web.test_map import metres
from tests.web.test_phone import OVERFLOW_JS, phone  # noqa: F401 (a fixture)
from tests.web.test_selected_in_view import assert_centred_in_view, assert_marker_in_view, placed

from dronewatch.server.settings import Principal, Role
from dronewatch.sim import write_capture
from dronewatch.sim.sensor_field import sensor_field_scenario

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

TOKENS = {ADMIN_TOKEN: Principal("admin", Role.ADMIN)}
ORIGIN = (48.1, 11.5)  # sensor_field_data's origin, the centre of the sensor ring
# sensor_field_data: drone k has the operator ID FIN{k:013d}; the first `honest` ones are honest,
# the others broadcast positions `offset_m` (500 m) away from where they fly.
HONEST = "FIN0000000000000"
SPOOFER = "FIN0000000000001"
SPOOF_OFFSET_M = 500.0
SENSORS = [f"rf{i}" for i in range(1, 7)]
# 600 s of data at 4x: 150 s of live stream, longer than the test runs (once the replay ends,
# the page switches to showing history).
SPEED = 4.0
DURATION_S = 600.0


def js_round(x: float) -> int:
    """Math.round (halves up; Python's round() rounds them to even)."""
    return math.floor(x + 0.5)


@pytest.fixture(scope="module")
def rf_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The server replaying six sensors' capture of an honest drone and a spoofer, paced."""
    tmp = tmp_path_factory.mktemp("rf-web")
    cap = tmp / "six.pcapng"
    write_capture(sensor_field_scenario(honest=1, spoofers=1, duration_s=DURATION_S), cap, seed=1)
    settings = make_settings(tmp, replay=[cap], speed=SPEED, tokens=dict(TOKENS), zones_file=None,
                             center=ORIGIN, zoom=15)
    with serve(settings) as (url, _app):
        yield LiveServer(url=url, settings=settings)


@pytest.fixture(scope="module")
def two_sensors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server that has replayed (to its end) a capture heard by two sensors only."""
    tmp: Path = tmp_path_factory.mktemp("rf-web-two")
    cap = tmp / "two.pcapng"
    write_capture(sensor_field_scenario(sensors=2, honest=1, spoofers=0, duration_s=60.0), cap, seed=1)
    settings = make_settings(tmp, replay=[cap], tokens=dict(TOKENS), zones_file=None,
                             center=ORIGIN, zoom=15)
    with serve(settings) as (url, app):
        wait_idle(app.state.ctx)
        yield url


# The drawn estimate of the selected drone, once it is the one of the track record the page
# holds (the stream brings a new one every few seconds): {shown, est, drone} or null.
# ``arg``: the track id and an estimate time the drawn one must be newer than.
DRAWN_JS = """([id, after]) => {
  const d = window.dronewatch;
  const shown = d.rf();
  const t = d.tracks().find((x) => x.track_id === id);
  const est = t && t.rf_estimate;
  if (!shown || !est || shown.track !== id || shown.time !== est.time || !(est.time > after)) return null;
  return { shown, est, drone: d.positions()[id] ?? null };
}"""

# Where the circle's SVG path is on the screen, and where the map puts the estimate: read at once.
SCREEN_JS = """() => {
  const d = window.dronewatch;
  const shown = d.rf();
  const el = document.querySelector("#map path.rf-circle");
  if (!shown || !el) return null;
  const box = el.getBoundingClientRect();
  const rect = d.map.getContainer().getBoundingClientRect();
  const c = d.map.latLngToContainerPoint([shown.lat, shown.lon]);
  return { shown, zoom: d.map.getZoom(), box: { x: box.x, y: box.y, w: box.width, h: box.height },
           centre: [c.x + rect.left, c.y + rect.top] };
}"""

# The detail panel's rows {label: text}, once it shows the page's current estimate.
PANEL_JS = """(id) => {
  const d = window.dronewatch;
  const t = d.tracks().find((x) => x.track_id === id);
  const est = t && t.rf_estimate;
  const body = document.querySelector("#detail-body");
  if (!est || !body || d.status().selected !== id) return null;
  const rows = {};
  for (const dt of body.querySelectorAll("dt")) rows[dt.textContent] = dt.nextElementSibling.textContent;
  const pos = rows["RF position"] || "";
  if (est.lat != null && !pos.startsWith(est.lat.toFixed(6))) return null;
  return { rows, est };
}"""


def drawn(page: Any, track_id: str, after: float = 0.0) -> dict[str, Any]:
    got: dict[str, Any] = page.wait_for_function(DRAWN_JS, arg=[track_id, after], timeout=30000).json_value()
    return got


def select(page: Any, track_id: str) -> None:
    """Select a drone as a person would: its row in the drone list."""
    page.locator(f'#drone-list li[data-track-id="{track_id}"]').click()
    page.wait_for_function("(id) => window.dronewatch.status().selected === id", arg=track_id)
    page.wait_for_selector("#detail:not([hidden])")


def track_of(page: Any, operator_id: str) -> str:
    """The track id of the drone with this operator ID, once it has an RF position."""
    tid: str = page.wait_for_function(
        "(op) => window.dronewatch.tracks().find((t) => t.operator_id === op && t.rf_lat != null)"
        "?.track_id", arg=operator_id, timeout=60000).json_value()
    return tid


def assert_drawn_as_estimated(got: dict[str, Any]) -> None:
    shown, est = got["shown"], got["est"]
    assert (shown["lat"], shown["lon"]) == (est["lat"], est["lon"])
    assert shown["radius_m"] == est["error_m"] and 0.0 < est["error_m"] < 1000.0  # the ring: 1 km
    # The line runs from where the drone is drawn (its broadcast position) to the estimate.
    assert got["drone"] is not None
    assert shown["line"] == [got["drone"], [est["lat"], est["lon"]]]
    assert est["sensors"] == SENSORS and est["reason"] is None


def test_selected_drone_shows_its_rf_position(
    rf_live: LiveServer, probe: PageProbe, screenshot: Any
) -> None:
    page = probe.page
    page.goto(f"{rf_live.url}/?token={ADMIN_TOKEN}")
    page.wait_for_function("() => window.dronewatch && window.dronewatch.status().live")
    spoofer = track_of(page, SPOOFER)
    honest = track_of(page, HONEST)
    assert page.evaluate("() => window.dronewatch.rf()") is None  # nothing selected, nothing drawn

    # The spoofer: its signal comes from about 500 m from where it says it is.
    select(page, spoofer)
    got = drawn(page, spoofer)
    assert_drawn_as_estimated(got)
    line_m = metres(*got["shown"]["line"])
    assert 0.5 * SPOOF_OFFSET_M < line_m < 1.5 * SPOOF_OFFSET_M, line_m
    assert 0.5 * SPOOF_OFFSET_M < got["est"]["offset_m"] < 1.5 * SPOOF_OFFSET_M

    # The page draws what the server says (the API's estimate of the same refit).
    pair = page.wait_for_function(
        """async (id) => {
          const r = await fetch(`/api/drones/${id}?limit=1`, { headers: {
            Authorization: `Bearer ${sessionStorage.getItem('dronewatch.token')}` } });
          const api = (await r.json()).rf_estimate;
          const shown = window.dronewatch.rf();
          return api && shown && shown.time === api.time ? { api, shown } : null;
        }""", arg=spoofer, polling=250, timeout=30000).json_value()
    api, shown = pair["api"], pair["shown"]
    assert (shown["lat"], shown["lon"], shown["radius_m"]) == (api["lat"], api["lon"], api["error_m"])

    # On the screen: a circle of that radius around that place (zoomed in, centred on it).
    page.evaluate("(p) => window.dronewatch.setView(p, 17)", [shown["lat"], shown["lon"]])
    scr = page.wait_for_function(SCREEN_JS).json_value()
    lat, radius_m = scr["shown"]["lat"], scr["shown"]["radius_m"]
    px_per_m = 256 * 2 ** scr["zoom"] / (2 * math.pi * 6371000.0 * math.cos(math.radians(lat)))
    box = scr["box"]
    assert abs(box["x"] + box["w"] / 2 - scr["centre"][0]) < 2.0, scr
    assert abs(box["y"] + box["h"] / 2 - scr["centre"][1]) < 2.0, scr
    assert abs(box["w"] / 2 - radius_m * px_per_m) < 2.0, (scr, radius_m * px_per_m)
    assert abs(box["h"] / 2 - radius_m * px_per_m) < 2.0, (scr, radius_m * px_per_m)
    assert page.locator("#map path.rf-line").count() == 1
    assert page.locator(".leaflet-tooltip.rf-label").inner_text().startswith("RF ±")

    # The panel: the RF position with its radius and time, the offset, the sensors.
    panel = page.wait_for_function(PANEL_JS, arg=spoofer, timeout=30000).json_value()
    rows, est = panel["rows"], panel["est"]
    at = datetime.fromtimestamp(est["time"], UTC).strftime("%H:%M:%SZ")
    assert rows["RF position"] == (
        f"{est['lat']:.6f}, {est['lon']:.6f} ±\u202f{js_round(est['error_m'])}\u202fm ({at})"
    )
    assert rows["RF offset"] == f"{js_round(est['offset_m'])}\u202fm from broadcast"
    assert rows["RF sensors"] == "rf1, rf2, rf3, rf4, rf5, rf6 (6)"
    screenshot(page, "rf-spoofer")

    # Live: the next refits move the circle with the drone.
    first = got["est"]
    later = drawn(page, spoofer, after=first["time"])
    assert_drawn_as_estimated(later)
    later = drawn(page, spoofer, after=later["est"]["time"])
    assert_drawn_as_estimated(later)
    assert later["est"]["time"] > first["time"]
    assert (later["est"]["lat"], later["est"]["lon"]) != (first["lat"], first["lon"])

    # The honest drone: its signal comes from where it says (well within the spoofer's offset).
    select(page, honest)
    got = drawn(page, honest)
    assert_drawn_as_estimated(got)
    assert metres(*got["shown"]["line"]) < 0.3 * SPOOF_OFFSET_M
    assert got["est"]["offset_m"] < 0.3 * SPOOF_OFFSET_M

    # Deselected: gone from the map.
    page.click("#detail-close")
    page.wait_for_function("() => window.dronewatch.rf() === null")
    # (the label fades out: Leaflet removes it when its fade ends)
    page.wait_for_function("() => !document.querySelector("
                           "'#map path.rf-circle, #map path.rf-line, .leaflet-tooltip.rf-label')")
    assert not probe.errors, probe.errors
    assert not probe.console_errors, probe.console_errors


def test_rf_position_on_a_phone(rf_live: LiveServer, phone: Any, screenshot: Any) -> None:  # noqa: F811
    """On a phone the panel's RF rows fit (no horizontal scrolling), and the drone and its
    circle are in the part of the map above the sheet (the map centres the drone there)."""
    page = phone
    page.goto(f"{rf_live.url}/?token={ADMIN_TOKEN}")
    page.wait_for_function("() => window.dronewatch && window.dronewatch.status().live")
    spoofer = track_of(page, SPOOFER)
    # (the drone list is folded away on a phone: the search box's Enter selects, as a person would)
    page.tap("#filters-toggle")
    page.fill("#filter-q", SPOOFER)
    page.press("#filter-q", "Enter")
    page.wait_for_function("(id) => window.dronewatch.status().selected === id", arg=spoofer)
    assert_drawn_as_estimated(drawn(page, spoofer))
    panel = page.wait_for_function(PANEL_JS, arg=spoofer).json_value()
    assert panel["rows"]["RF sensors"] == "rf1, rf2, rf3, rf4, rf5, rf6 (6)"
    p = placed(page, spoofer)
    assert_marker_in_view(p)
    assert_centred_in_view(p)
    # (the estimate is some 500 m off the spoofer's broadcast position: the circle may reach
    # out of the visible part, but not lie wholly under the sheet)
    box = page.locator("#map path.rf-circle").bounding_box()
    assert box and box["width"] > 4 and box["height"] > 4, box
    assert box["y"] < p["visibleBottom"] and box["y"] + box["height"] > p["top"], (box, p)
    assert box["x"] < p["right"] and box["x"] + box["width"] > p["left"], (box, p)
    page.tap("#filters-toggle")
    o = page.evaluate(OVERFLOW_JS)
    assert o["scroll"] <= o["client"] and not o["wide"], o
    screenshot(page, "rf-phone")
    assert not page.errors, page.errors


def test_not_located_says_why(two_sensors: str, probe: PageProbe) -> None:
    page = probe.page
    page.goto(f"{two_sensors}/?token={ADMIN_TOKEN}")
    # The replay has ended: the page shows its drone at its last time (once the history is
    # loaded: until then it may still show the live snapshot's, then none).
    track_id = page.wait_for_function(
        "() => { const d = window.dronewatch; const r = d && d.replay();"
        " return r && !r.loading && Object.keys(d.positions())[0]; }").json_value()
    select(page, track_id)
    page.wait_for_function(
        "() => document.querySelector('#detail-body').innerText.includes('RF sensors')")
    rows = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#detail-body dt')]
      .map((dt) => [dt.textContent, dt.nextElementSibling.textContent]))""")
    assert rows["RF position"] == "Not located: not enough sensors (2 of 3)"
    assert rows["RF sensors"] == "rf1, rf2 (2)"
    assert "RF offset" not in rows
    assert page.evaluate("() => window.dronewatch.rf()") is None
    assert page.locator("#map path.rf-circle").count() == 0
    assert not probe.errors, probe.errors
