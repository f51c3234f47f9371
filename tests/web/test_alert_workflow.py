"""The alert panel with a busy sky: 400 "unknown drone" warnings fold into one group row,
critical zone entries stay pinned on top, filters by severity, rule and zone, repeats of one
rule for one drone are one row, and a closed approach reads as such."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.web.conftest import ADMIN_TOKEN, PageProbe, serve

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def alert(i: int, rule: str, severity: str, t: float, **kw: Any) -> dict[str, Any]:
    return {"alert_id": f"a-{rule}-{i}", "track_id": f"t{i:04d}", "rule": rule,
            "severity": severity, "status": "open", "time": t, "first_time": t,
            "message": f"{rule} for drone {i}", "acknowledged": False, **kw}


@pytest.fixture()
def busy(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    from dronewatch.server.settings import Principal, Role, Settings

    settings = Settings(db=str(tmp_path / "dw.sqlite"), run_pipeline=False,
                        tokens={ADMIN_TOKEN: Principal("a", Role.ADMIN)})
    with serve(settings) as (url, app):
        yield url, app.state.ctx.bus


def test_busy_alert_list(busy: tuple[str, Any], probe: PageProbe) -> None:
    from dronewatch.server.bus import event

    url, bus = busy
    page = probe.page
    page.goto(f"{url}/?token={ADMIN_TOKEN}")
    page.wait_for_function("() => window.dronewatch && window.dronewatch.status().live")
    now = time.time()
    events = [event("alert", alert=alert(i, "zone_entry", "critical", now - 100 - i,
                                         zone="LFPO runway")) for i in range(3)]
    # Later, 400 warnings: newer than the critical ones, they must not push them out.
    events += [event("alert", alert=alert(i, "unknown_drone", "warning", now - 50 + i * 0.01))
               for i in range(400)]
    # The same drone approached a zone twice (two episodes): one row, x2; the last is over.
    events += [event("alert", alert=alert(7, "zone_approach", "warning", now - 30, zone="Fuel farm",
                                          alert_id="ap-1")),
               event("alert", alert=alert(7, "zone_approach", "warning", now - 20, zone="Fuel farm",
                                          alert_id="ap-2", status="closed",
                                          message="Drone 7 approach to zone 'Fuel farm' over"))]
    bus.publish_threadsafe(events)
    page.wait_for_function("() => Number(document.querySelector('#alert-count').textContent) >= 403")

    rows = page.locator("#alert-list > li")
    first3 = [rows.nth(i).get_attribute("data-severity") for i in range(3)]
    assert first3 == ["critical"] * 3, first3  # pinned on top
    group = page.locator('#alert-list > li.alert-group[data-rule="unknown_drone"]')
    assert group.get_attribute("data-count") == "400"
    assert "×400" in group.inner_text()
    assert page.locator("#alert-list > li").count() < 20  # not 400 rows
    approach = page.locator('#alert-list > li.alert[data-rule="zone_approach"]')
    assert approach.count() == 1 and approach.get_attribute("data-count") == "2"
    text = approach.inner_text()
    assert "approach over" in text and "entered" not in text and "ended" not in text

    # Opening the group lists its drones; closing folds it again.
    group.locator(".group-btn").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#alert-list .alert-group li.alert').length === 50")
    page.locator('#alert-list > li.alert-group .group-btn').click()

    # Filters: severity, rule, zone; the search box filters alerts too.
    page.select_option("#alert-sev", "critical")
    page.wait_for_function("() => document.querySelectorAll('#alert-list > li').length === 3")
    page.select_option("#alert-sev", "")
    page.select_option("#alert-rule", "zone_approach")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#alert-list > li')].every((li) => "
        "li.dataset.rule === 'zone_approach')")
    page.select_option("#alert-rule", "")
    page.select_option("#alert-zone", "LFPO runway")
    page.wait_for_function("() => document.querySelectorAll('#alert-list > li').length === 3")
    page.select_option("#alert-zone", "")
    page.fill("#filter-q", "t0007")
    page.wait_for_function(
        "() => { const r = [...document.querySelectorAll('#alert-list > li')];"
        " return r.length && r.every((li) => li.dataset.trackId === 't0007' || "
        "li.classList.contains('alert-group')); }")
    assert not probe.errors, probe.errors
