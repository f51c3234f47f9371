"""Scenarios for RF localisation: sensors on a ring, honest drones and location spoofers.

:func:`sensor_field_scenario` builds the scenario of issue 15's acceptance (6 sensors on a
1 km hexagon, 30 honest drones, 10 spoofers shifted 500 m, 300 s, air-to-ground radio) and the
benchmark's variations (sensors, shadowing, offsets). The built-in ``rf_hexagon`` scenario is
the acceptance one written out as TOML (``python -m dronewatch.sim.sensor_field``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dronewatch.sim.scenario import Scenario, parse_scenario


def ring_sensors(n: int, radius_m: float, alt_m: float = 5.0) -> list[dict[str, Any]]:
    """``n`` sensors evenly on a circle (a hexagon for 6), ids ``rf1``...``rfN``."""
    return [{"id": f"rf{i + 1}", "east": round(radius_m * math.sin(2 * math.pi * i / n), 1),
             "north": round(radius_m * math.cos(2 * math.pi * i / n), 1), "alt_m": alt_m}
            for i in range(n)]


def sensor_field_data(
    *,
    sensors: int = 6,
    radius_m: float = 500.0,
    honest: int = 30,
    spoofers: int = 10,
    offset_m: float = 500.0,
    shadowing_db: float = 4.0,
    duration_s: float = 300.0,
    layout_seed: int = 0,
    tx_spread_db: float = 3.0,
    exponent: float = 2.2,
) -> dict[str, Any]:
    """The scenario as plain data (TOML-able). Drones fly random waypoints inside the ring
    (``layout_seed``); spoofers (named ``spoofer-N``) broadcast positions ``offset_m`` away
    in a random direction."""
    rng = np.random.default_rng([layout_seed, 15])

    def inside() -> dict[str, float]:
        r = radius_m * math.sqrt(float(rng.uniform(0.0, 1.0)))
        a = float(rng.uniform(0.0, 2 * math.pi))
        return {"east": round(r * math.sin(a), 1), "north": round(r * math.cos(a), 1)}

    drones: list[dict[str, Any]] = []
    for k in range(honest + spoofers):
        liar = k >= honest
        name = f"spoofer-{k - honest + 1}" if liar else f"honest-{k + 1}"
        d: dict[str, Any] = {
            "name": name, "kind": "wifi-beacon" if k % 3 else "ble-long-range",
            "speed_mps": round(float(rng.uniform(4.0, 12.0)), 1),
            "height_m": round(float(rng.uniform(30.0, 110.0)), 0),
            "start_s": round(float(rng.uniform(0.0, 10.0)), 1), "ground_s": 2.0,
            "pilot": inside(), "waypoints": [inside() for _ in range(4)], "repeat": True,
            "operator_id": f"FIN{k:013d}",
        }
        if liar:
            a = float(rng.uniform(0.0, 2 * math.pi))
            d["spoof_offset"] = {"east": round(offset_m * math.sin(a), 1),
                                 "north": round(offset_m * math.cos(a), 1)}
        drones.append(d)
    return {
        "name": "rf_hexagon",
        "description": (f"{sensors} sensors on a {2 * radius_m / 1000:g} km ring, {honest} honest "
                        f"drones and {spoofers} location spoofers shifted {offset_m:g} m"),
        "duration_s": duration_s,
        "origin": {"lat": 48.1, "lon": 11.5, "ground_alt_m": 520.0},
        "sensors": ring_sensors(sensors, radius_m),
        "radio": {"tx_power_dbm": 20.0, "exponent": exponent, "shadowing_db": shadowing_db,
                  "decorrelation_m": 50.0, "fading_db": 2.0, "tx_spread_db": tx_spread_db,
                  "sensitivity_dbm": -100.0},
        "drones": drones,
    }


def sensor_field_scenario(**kwargs: Any) -> Scenario:
    """:func:`sensor_field_data` as a validated scenario."""
    return parse_scenario(sensor_field_data(**kwargs))


def scenario_toml(data: dict[str, Any]) -> str:
    """Scenario data as TOML (the built-in rf_hexagon.toml, test scenarios)."""
    def value(v: Any) -> str:
        if isinstance(v, str):
            return '"' + v + '"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = ["# Issue 15 acceptance: written by python -m dronewatch.sim.sensor_field", ""]
    lines += [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict | list)]
    for table in ("origin", "radio"):
        lines += ["", f"[{table}]"] + [f"{k} = {value(v)}" for k, v in data[table].items()]
    for array in ("sensors", "drones"):
        for item in data[array]:
            lines += ["", f"[[{array}]]"] + [f"{k} = {value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    from pathlib import Path

    target = Path(__file__).parent / "scenarios" / "rf_hexagon.toml"
    target.write_text(scenario_toml(sensor_field_data()))
    print(target)
