"""The API's track detail carries the RF position estimate (issue 15): a replayed capture of
six sensors (their sites in the capture) locates the drone by signal; the single-sensor
capture of the other API tests has no estimate."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import VIEWER, make_settings, wait_idle

from dronewatch.server.app import create_app
from dronewatch.sim import write_capture
from dronewatch.sim.sensor_field import sensor_field_scenario
from dronewatch.track.geo import fast_distance_m


@pytest.fixture(scope="module")
def six_sensors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A capture of one drone heard by six sensors whose sites it carries."""
    sc = sensor_field_scenario(honest=1, spoofers=0, duration_s=60.0)
    cap = tmp_path_factory.mktemp("rf") / "six.pcapng"
    write_capture(sc, cap, seed=1)
    return cap


def test_track_detail_has_the_rf_estimate(tmp_path: Path, six_sensors: Path) -> None:
    app = create_app(make_settings(tmp_path, replay=[six_sensors]))
    with TestClient(app) as client:
        wait_idle(app.state.ctx)
        (d,) = client.get("/api/drones", headers=VIEWER).json()
        one = client.get(f"/api/drones/{d['track_id']}", headers=VIEWER).json()
    rf = one["rf_estimate"]
    assert rf is not None and rf["sensors"] == [f"rf{i}" for i in range(1, 7)]
    assert rf["lat"] is not None and 0.0 < rf["error_m"] < 300.0
    assert len(rf["ellipse_m"]) == 3 and rf["reason"] is None
    assert fast_distance_m(rf["lat"], rf["lon"], d["lat"], d["lon"]) < 300.0
    assert (one["rf_lat"], one["rf_lon"], one["rf_error_m"]) == (rf["lat"], rf["lon"], rf["error_m"])


def test_the_rf_estimate_survives_a_restart(tmp_path: Path, six_sensors: Path) -> None:
    """Reviewing an ended track after the server restarted: the stored estimate answers
    (the new pipeline has none), the same as the live one did."""
    app = create_app(make_settings(tmp_path, replay=[six_sensors]))
    with TestClient(app) as client:
        wait_idle(app.state.ctx)
        (d,) = client.get("/api/drones", headers=VIEWER).json()
        tid = d["track_id"]
        before = client.get(f"/api/drones/{tid}", headers=VIEWER).json()
    app.state.ctx.store.close()
    assert before["rf_estimate"] is not None and before["rf_estimate"]["lat"] is not None
    assert d["rf_lat"] == before["rf_estimate"]["lat"]  # the track list has it too

    app = create_app(make_settings(tmp_path))  # the same SQLite file, nothing replayed
    with TestClient(app) as client:
        assert app.state.ctx.rf_estimate(tid) is None  # nothing live
        after = client.get(f"/api/drones/{tid}", headers=VIEWER).json()
        (listed,) = client.get("/api/drones", headers=VIEWER).json()
    app.state.ctx.store.close()
    assert after["state"] == "ended"
    assert after["rf_estimate"] == before["rf_estimate"]
    rf = after["rf_estimate"]
    assert (after["rf_lat"], after["rf_lon"], after["rf_error_m"]) == (
        rf["lat"], rf["lon"], rf["error_m"]
    )
    assert listed["rf_lat"] == rf["lat"] and listed["rf_error_m"] == rf["error_m"]


def test_no_sensor_sites_no_estimate(replayed: TestClient) -> None:
    (d,) = replayed.get("/api/drones", headers=VIEWER).json()
    one = replayed.get(f"/api/drones/{d['track_id']}", headers=VIEWER).json()
    assert one["rf_estimate"] is None


def test_sensor_positions_reported_later_reach_the_pipeline(live: TestClient) -> None:
    """A remote sensor whose status (with its position) arrives after the pipeline started
    is handed to RF localisation; a status without a valid position is not."""
    from types import SimpleNamespace

    from dronewatch.sources.sensors import SensorBook

    ctx = live.app.state.ctx  # type: ignore[attr-defined]
    book = SensorBook()
    book.received("roof", 1, status={"lat": 48.1, "lon": 11.5})
    book.received("mast", 1, status={"lat": 95.0, "lon": 11.5})  # absurd: left out
    saved = ctx.live
    ctx.live = SimpleNamespace(book=book)
    try:
        assert ctx.refresh_sensor_sites() == 1
        assert ctx.refresh_sensor_sites() == 0  # nothing new
        book.received("roof", 1, status={"lat": 48.2, "lon": 11.5})  # it moved
        assert ctx.refresh_sensor_sites() == 1
    finally:
        ctx.live = saved
    rf = ctx.processor.pipeline.rf
    assert rf is not None and rf.sensor_ids == ("roof",)
