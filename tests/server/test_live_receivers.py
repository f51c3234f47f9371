"""Acceptance of live reception: a radiotap TUN interface (a monitor card) and bumble's
virtual Bluetooth controllers feed the server; a remote sensor publishes over the real broker.

The times asserted are waited for (busy machines); the latency from the last frame written
to the drone in /api/drones is printed (pytest -s) and measured by bench/live_wifi.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import CAPTURE, OPERATOR_ID, UAS_ID, VIEWER, make_settings
from tests.sources.bumbleutil import CODED_ID, DRONE, LEGACY_ID, PILOT, VirtualAir
from tests.sources.mqttutil import BROKER_URL, require_broker, unique_prefix
from tests.sources.tunutil import RadiotapTun, unique_name

from dronewatch.server.app import create_app
from dronewatch.sources.pcap import read_packets

ORACLE = json.loads(CAPTURE.with_name(CAPTURE.name + ".oracle.json").read_text())
LAST = ORACLE["locations"][-1]  # [time, lat, lon, alt]
PILOT_LAST = ORACLE["operators"][-1]
WAIT_S = 30.0
RATE_FPS = 1000.0
DRONEWATCH = str(Path(sys.executable).parent / "dronewatch")


def _wait_for(what: str, probe: Any, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _write_capture(tun: RadiotapTun, rate: float = RATE_FPS) -> float:
    """Every packet of the capture into the interface at ``rate`` frames/s; the time of the
    last write."""
    packets = [bytes(d) for _t, _lt, d in read_packets(CAPTURE)]
    start = time.monotonic()
    for i, packet in enumerate(packets):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        tun.write(packet)
    return time.monotonic()


def _drone_at_last_position(client: TestClient) -> dict[str, Any] | None:
    for drone in client.get("/api/drones", headers=VIEWER).json():
        if drone.get("uas_id") == UAS_ID and drone.get("lat") == pytest.approx(LAST[1], abs=1e-6):
            return dict(drone)
    return None


def _check_drone(drone: dict[str, Any]) -> None:
    assert drone["lon"] == pytest.approx(LAST[2], abs=1e-6)
    assert drone["operator_id"] == OPERATOR_ID
    assert drone["operator_lat"] == pytest.approx(PILOT_LAST[1], abs=1e-6)
    assert drone["operator_lon"] == pytest.approx(PILOT_LAST[2], abs=1e-6)
    assert drone["state"] == "active"
    assert drone["last_seen"] == pytest.approx(time.time(), abs=60)  # kernel time: now


def test_serve_wifi_interface(tmp_path: Path) -> None:
    """serve --wifi IFACE --position: the capture's drone, last position and pilot; the
    local sensor with its position and live counters."""
    with RadiotapTun(unique_name()) as tun:
        settings = make_settings(
            tmp_path, zones_file=None, live=[f"wifi:{tun.name}"], sensor_id="mast",
            live_extra={"hop": False}, position=(48.72, 2.37, 95.0),
        )
        app = create_app(settings)
        with TestClient(app) as client:
            source = app.state.ctx.live.sources[0]
            _wait_for("the socket", lambda: source._sock is not None)
            last = _write_capture(tun)
            drone = _wait_for("the drone", lambda: _drone_at_last_position(client))
            print(f"\nwifi -> /api/drones: {1000 * (time.monotonic() - last):.0f} ms after the "
                  "last frame written")
            _check_drone(drone)
            assert drone["sensors"] == ["mast"]
            (sensor,) = client.get("/api/sensors", headers=VIEWER).json()
            health = client.get("/health").json()
    assert (sensor["sensor_id"], sensor["lat"], sensor["lon"], sensor["alt"]) == (
        "mast", 48.72, 2.37, 95.0)
    assert sensor["local"] and sensor["online"] and sensor["position_source"] == "fixed"
    assert sensor["frames_per_s"] > 0 and sensor["drops"] == 0
    (src,) = sensor["sources"]
    assert src["name"] == f"wifi:{tun.name}" and src["frames"] == len(list(read_packets(CAPTURE)))
    assert health["sources"][0]["detail"]["interface"] == tun.name


@pytest.mark.parametrize("extended", [False, True], ids=["bt4-legacy", "bt5-long-range"])
def test_serve_bluetooth_controller(tmp_path: Path, extended: bool) -> None:
    """Remote ID adverts through bumble's virtual controllers reach /api/drones."""
    air = VirtualAir(legacy=not extended, coded=extended, scanner_extended=extended)
    try:
        settings = make_settings(tmp_path, zones_file=None, live=[f"bluetooth:{air.target}"])
        app = create_app(settings)
        with TestClient(app) as client:
            want = CODED_ID if extended else LEGACY_ID

            def drone() -> dict[str, Any] | None:
                for d in client.get("/api/drones", headers=VIEWER).json():
                    if d.get("uas_id") == want and (not extended or d.get("lat") is not None):
                        return dict(d)
                return None

            found = _wait_for("the drone", drone)
    finally:
        air.close()
    assert found["transports"] == ["ble-long-range" if extended else "ble-legacy"]
    if extended:
        assert found["lat"] == pytest.approx(DRONE[0], abs=1e-6)
        assert found["operator_lat"] == pytest.approx(PILOT[0], abs=1e-6)


@pytest.mark.mqtt
def test_remote_sensor_over_mqtt(tmp_path: Path) -> None:
    """dronewatch sensor --wifi IFACE --position ... -> broker -> serve --mqtt: the drone, and
    /api/sensors lists the sensor at its position with live counters."""
    require_broker()
    prefix = unique_prefix()
    sensor_id = f"roof{os.getpid()}"
    with RadiotapTun(unique_name()) as tun:
        app = create_app(make_settings(tmp_path, zones_file=None, mqtt=BROKER_URL,
                                       mqtt_topic_prefix=prefix))
        with TestClient(app) as client:
            assert app.state.ctx.live.sources[0].subscribed.wait(WAIT_S)
            proc = subprocess.Popen(
                [DRONEWATCH, "sensor", "--wifi", tun.name, "--no-hop", "--broker", BROKER_URL,
                 "--topic-prefix", prefix, "--sensor", sensor_id, "--position", "48.72,2.37"],
                stderr=subprocess.PIPE, text=True,
            )
            try:
                def listed() -> dict[str, Any] | None:
                    for s in client.get("/api/sensors", headers=VIEWER).json():
                        if s["sensor_id"] == sensor_id and s["sources"]:
                            return dict(s)
                    return None

                def listening() -> bool:
                    sensor = listed()
                    return sensor is not None and sensor["sources"][0]["detail"]["listening"]

                _wait_for("the sensor to listen", listening, 120)  # it starts up
                stop = threading.Event()
                last = _write_capture(tun)
                drone = _wait_for("the drone", lambda: _drone_at_last_position(client))
                print(f"\nsensor -> MQTT -> /api/drones: {1000 * (time.monotonic() - last):.0f} "
                      "ms after the last frame written")
                _check_drone(drone)
                assert drone["sensors"] == [sensor_id]
                sensor = _wait_for("live counters", lambda: (s := listed()) and (
                    s["sources"][0]["frames"] > 0 and s))
                stop.set()
            finally:
                proc.terminate()
                _out, err = proc.communicate(timeout=60)
    assert (sensor["lat"], sensor["lon"], sensor["alt"]) == (48.72, 2.37, None)
    assert sensor["online"] and not sensor["local"] and sensor["position_source"] == "fixed"
    assert sensor["sources"][0]["name"] == f"wifi:{tun.name}"
    assert sensor["sources"][0]["state"] == "running"
    assert sensor["frames_per_s"] > 0 and sensor["drops"] == 0
    assert proc.returncode == 0, err
