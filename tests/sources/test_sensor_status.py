"""A live sensor's status: the ``status`` map of its MQTT envelopes (identity, position,
health of each source), as the server reads it back for /api/sensors."""

from __future__ import annotations

import math

from dronewatch.server.sensors import position_of
from dronewatch.sources.live import SourceHealth, SourceState
from dronewatch.sources.mqtt import Envelope, open_message, seal, sensor_status
from dronewatch.sources.position import Position


def _health() -> SourceHealth:
    return SourceHealth("wifi:wlan1", "wifi", SourceState.RUNNING, 120, 3, 1, 0, 12.5, 0.2,
                        "a warning", 0, skipped={"wifi: bad-fcs": 2}, detail={"channel": 6})


def test_status_travels_in_the_envelope() -> None:
    status = sensor_status("roof", [_health()], Position(48.72, 2.37, 95.0, None, "fixed"))
    opened = open_message(seal(Envelope("roof", "s1", 0, 1.0e9, [], status)), "roof")
    assert opened.refused is None and opened.status == status
    back = opened.status
    assert back is not None
    assert (back["lat"], back["lon"], back["alt"], back["position_source"]) == (
        48.72, 2.37, 95.0, "fixed")
    assert position_of(back) == (48.72, 2.37, 95.0)
    (src,) = back["sources"]
    assert (src["name"], src["frames_per_s"], src["drops"], src["detail"]["channel"]) == (
        "wifi:wlan1", 12.5, 3, 6)
    assert src["last_error"] == "a warning"


def test_status_without_position() -> None:
    status = sensor_status("roof", [], None)
    assert "lat" not in status and status["sources"] == [] and status["online"] is True
    assert position_of(status) is None


def test_absurd_positions_are_left_out() -> None:
    for lat, lon, alt in ((123.0, 2.0, 1.0), (1.0, 200.0, None), ("1", 2.0, None),
                          (True, 2.0, None), (1.0, math.inf, None)):
        assert position_of({"lat": lat, "lon": lon, "alt": alt}) is None
    assert position_of({"lat": 1.0, "lon": 2.0, "alt": 1e9}) == (1.0, 2.0, None)
    # a status the wire format refuses (not finite) never reaches the server's sensors
    bad = sensor_status("roof", [], Position(1.0, 2.0, math.nan))
    opened = open_message(seal(Envelope("roof", "s1", 0, 1.0e9, [], bad)), "roof")
    assert opened.status is None or position_of(opened.status) == (1.0, 2.0, None)
