"""The deployment files: systemd units (systemd-analyze), the example configurations, the
compose file's references."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dronewatch.server.config import load_config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = ["dronewatch.service", "dronewatch-sensor.service"]


def _units(tmp_path: Path) -> list[Path]:
    """The units with their ExecStart binary replaced by one that exists here."""
    out = []
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text()
        path = tmp_path / name
        path.write_text(text.replace("/opt/dronewatch/bin/dronewatch", sys.executable))
        out.append(path)
    return out


def test_systemd_units_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze not found: install Debian's 'systemd' (scripts/test does)"
    units = _units(tmp_path)
    done = subprocess.run(
        [tool, "verify", *map(str, units)], capture_output=True, text=True, timeout=60
    )
    # verify prints every unknown key or bad value (and exits 0 for some of them)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        done.stdout + done.stderr
    )
    for unit in units:
        sec = subprocess.run(
            [tool, "security", "--offline=yes", str(unit)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        m = re.search(r"Overall exposure level for \S+: ([\d.]+)", sec.stdout + sec.stderr)
        assert m is not None, sec.stdout + sec.stderr
        assert float(m.group(1)) <= 3.0, sec.stdout  # "OK" on systemd's scale (0 to 10)


def test_only_the_sensor_has_capabilities() -> None:
    server = (DEPLOY / "systemd" / "dronewatch.service").read_text()
    sensor = (DEPLOY / "systemd" / "dronewatch-sensor.service").read_text()
    assert re.search(r"^AmbientCapabilities=$", server, re.M)
    assert re.search(r"^CapabilityBoundingSet=$", server, re.M)
    assert re.search(r"^AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN$", sensor, re.M)
    for unit in (server, sensor):
        assert "User=dronewatch" in unit and "ProtectSystem=strict" in unit


@pytest.mark.parametrize(
    ("config", "prefixes"),
    [
        ("dronewatch.toml", ["/run/credentials/dronewatch.service/", "/etc/dronewatch/"]),
        ("compose/dronewatch.toml", ["/run/secrets/", "/etc/dronewatch/"]),
    ],
)
def test_example_configurations_are_valid(tmp_path: Path, config: str, prefixes: list[str]) -> None:
    text = (DEPLOY / config).read_text()
    for prefix in prefixes:
        for name in re.findall(re.escape(prefix) + r"(\w[\w.-]*\w)", text):
            (tmp_path / name).write_text("x 00\n" if "keys" in name else "viewer:" + "t" * 20)
        text = text.replace(prefix, f"{tmp_path}/")
    (tmp_path / "zones.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    path = tmp_path / "dronewatch.toml"
    path.write_text(text)
    load_config(path)


def test_compose_services_and_files() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert set(compose["services"]) == {"dronewatch", "postgres", "mosquitto"}
    assert (
        DEPLOY / compose["services"]["dronewatch"]["build"]["dockerfile"].removeprefix("deploy/")
    ).is_file()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and "/compose/" not in source + "/":
                assert (DEPLOY / source).exists(), source  # shipped files (not the secrets)
    assert (DEPLOY / "compose" / "dronewatch.toml").is_file()
