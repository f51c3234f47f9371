"""Simulator throughput: 1,000 drones for 10 minutes written to pcapng.

Run: .venv/bin/python bench/simulate_throughput.py [--drones N] [--duration S] [--profile]

Drones of every link-layer kind (Remote ID over Wi-Fi beacon/NAN/BLE legacy/BLE long range,
DJI Wi-Fi, French beacon) fly random circuits within 3 km of one sensor with a generous radio
(every packet heard), at the broadcast rates real transmitters use. Prints frames, seconds
and frames/s.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from dronewatch.sim import parse_scenario, write_capture

KINDS = ["wifi-beacon", "wifi-nan", "ble-legacy", "ble-long-range", "dji-wifi", "fr-beacon"]


def scenario(n: int, duration: float, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    drones = []
    for i in range(n):
        e, no = rng.uniform(-3000, 3000), rng.uniform(-3000, 3000)
        drones.append(
            {
                "name": f"d{i:04d}",
                "kind": KINDS[i % len(KINDS)],
                "operator_id": f"FRAop{i:08d}",
                "start_s": rng.uniform(0, 30),
                "speed_mps": rng.uniform(4, 15),
                "height_m": rng.uniform(20, 120),
                "pilot": {"east": e, "north": no},
                "waypoints": [
                    {
                        "east": e + rng.uniform(-800, 800),
                        "north": no + rng.uniform(-800, 800),
                        "loiter_s": rng.uniform(0, 30),
                    }
                    for _ in range(4)
                ],
                "repeat": True,
            }
        )
    return {
        "name": "throughput",
        "duration_s": duration,
        "origin": {"lat": 48.7253, "lon": 2.35944, "ground_alt_m": 89},
        "sensors": [{"id": "s1", "east": 0, "north": 0, "alt_m": 10}],
        "radio": {"tx_power_dbm": 20, "exponent": 2.0, "shadowing_db": 3, "sensitivity_dbm": -120},
        "drones": drones,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--drones", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    sc = parse_scenario(scenario(args.drones, args.duration))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "throughput.pcapng"
        t = time.perf_counter()
        if args.profile:
            from pyinstrument import Profiler

            with Profiler() as prof:
                summary = write_capture(sc, out, seed=0)
            prof.print()
        else:
            summary = write_capture(sc, out, seed=0)
        dt = time.perf_counter() - t
    print(f"drones:     {args.drones}")
    print(f"scenario:   {args.duration:.0f} s")
    print(f"frames:     {summary.packets}")
    print(f"by kind:    {dict(summary.by_transport)}")
    print(f"file:       {summary.bytes_written / 1e6:.1f} MB")
    print(f"seconds:    {dt:.2f}")
    print(f"frames/s:   {summary.packets / dt:,.0f}")


if __name__ == "__main__":
    main()
