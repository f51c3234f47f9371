"""Time travel on the data's clock: a recording replayed by the server has ended long ago (its
data is from 2021); the page shows its drones at its last time, the picker reaches its start,
and an export of a chosen window holds exactly that window's rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.conftest import CAPTURE, make_settings, wait_idle
from tests.web.conftest import ADMIN_TOKEN, PageProbe, serve

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def ended(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from dronewatch.server.settings import Principal, Role

    tmp: Path = tmp_path_factory.mktemp("ended-replay")
    settings = make_settings(tmp, replay=[CAPTURE], tokens={ADMIN_TOKEN: Principal("a", Role.ADMIN)})
    with serve(settings) as (url, app):
        wait_idle(app.state.ctx)  # the recording has been replayed to its end
        yield url


def test_after_a_replay_the_page_follows_the_data_clock(ended: str, probe: PageProbe) -> None:
    page = probe.page
    page.goto(f"{ended}/?token={ADMIN_TOKEN}")
    # Nothing is live: the page shows the recording's drones at its last time, in replay.
    page.wait_for_function(
        "() => window.dronewatch && window.dronewatch.status().replay && "
        "window.dronewatch.status().drones >= 1"
    )
    rng = page.evaluate("() => window.dronewatch.range()")
    rep = page.evaluate("() => window.dronewatch.replay()")
    assert rng["first"] < rng["last"] < 1.7e9  # the capture's time (2021), not the browser's
    assert abs(rep["t"] - rng["last"]) < 1.0
    assert page.inner_text("#conn .conn-text") == "Replay"
    assert page.inner_text("#clock") in page.inner_text("#time-label")  # header shows data time
    last_pos = page.evaluate("() => window.dronewatch.positions()")

    # The picker reaches the start of the recording (min is its first second, in UTC).
    pick = page.locator("#time-pick")
    first_value = pick.get_attribute("min")
    assert first_value.startswith("2021-05-21T")
    t_pick = rng["first"] + 7
    value = page.evaluate("(t) => new Date(Math.round(t) * 1000).toISOString().slice(0, 19)", t_pick)
    pick.fill(value)
    pick.dispatch_event("change")
    page.wait_for_function("(t) => Math.abs(window.dronewatch.replay().t - t) < 1", arg=round(t_pick))
    page.wait_for_function(
        "(before) => { const p = window.dronewatch.positions(); const id = Object.keys(before)[0];"
        " return p[id] && (p[id][0] !== before[id][0] || p[id][1] !== before[id][1]); }",
        arg=last_pos,
    )

    # Export one minute up to the time shown: exactly that window's rows.
    page.select_option("#export-span", "60")
    win = page.evaluate("() => window.dronewatch.exportWindow()")
    assert win[1] == pytest.approx(round(t_pick), abs=1.0) and win[1] - win[0] == pytest.approx(60)
    with page.expect_download() as dl:
        page.select_option("#export", "csv")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    assert rows, "the window holds rows"
    times = [float(r["time"]) for r in rows]
    assert all(win[0] <= t <= win[1] for t in times), (win, min(times), max(times))
    everything = page.evaluate(
        "async ([a, b]) => (await (await fetch(`/api/export.csv?from=${a}&to=${b}`, { headers: "
        "{ Authorization: `Bearer ${sessionStorage.getItem('dronewatch.token')}` } })).text())",
        [rng["first"] - 60, rng["last"] + 60],
    )
    all_rows = list(csv.DictReader(io.StringIO(everything)))
    inside = [r for r in all_rows if win[0] <= float(r["time"]) <= win[1]]
    assert len(rows) == len(inside) < len(all_rows)

    # Before the recording: the time stops at its start (no empty time before the data).
    page.evaluate("(t) => window.dronewatch.setReplayTime(t)", rng["first"] - 3600)
    page.wait_for_function("(t) => window.dronewatch.replay().t === t", arg=rng["first"])
    assert not probe.errors, probe.errors
    assert not probe.console_errors, probe.console_errors
