"""The API's track detail carries the RF position estimate (issue 15): a replayed capture of
six sensors (their sites in the capture) locates the drone by signal; the single-sensor
capture of the other API tests has no estimate."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from tests.server.conftest import VIEWER, make_settings, wait_idle

from dronewatch.server.app import create_app
from dronewatch.sim import write_capture
from dronewatch.sim.sensor_field import sensor_field_scenario
from dronewatch.track.geo import fast_distance_m


def test_track_detail_has_the_rf_estimate(tmp_path: Path) -> None:
    sc = sensor_field_scenario(honest=1, spoofers=0, duration_s=60.0)
    cap = tmp_path / "six.pcapng"
    write_capture(sc, cap, seed=1)
    app = create_app(make_settings(tmp_path, replay=[cap]))
    with TestClient(app) as client:
        wait_idle(app.state.ctx)
        (d,) = client.get("/api/drones", headers=VIEWER).json()
        one = client.get(f"/api/drones/{d['track_id']}", headers=VIEWER).json()
    rf = one["rf_estimate"]
    assert rf is not None and rf["sensors"] == [f"rf{i}" for i in range(1, 7)]
    assert rf["lat"] is not None and 0.0 < rf["error_m"] < 300.0
    assert len(rf["ellipse_m"]) == 3 and rf["reason"] is None
    assert fast_distance_m(rf["lat"], rf["lon"], d["lat"], d["lon"]) < 300.0


def test_no_sensor_sites_no_estimate(replayed: TestClient) -> None:
    (d,) = replayed.get("/api/drones", headers=VIEWER).json()
    one = replayed.get(f"/api/drones/{d['track_id']}", headers=VIEWER).json()
    assert one["rf_estimate"] is None
