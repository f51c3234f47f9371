"""TDOA localisation of DJI DroneID bursts: accuracy versus sensor clock error (issue 15).

SDR sensors with GPS-disciplined clocks timestamp the arrival of each DroneID burst (design:
docs/rf-localisation.md). This simulation shows how well a burst is located from those
times, as a function of the clock error between sensors: N sensors on a ring of 500 m radius
(a 1 km field), a transmitter anywhere within 600 m of the centre at 30-120 m height, each
sensor's arrival time = emission time + distance / c + its clock error N(0, sigma_clock) +
the measurement error of the burst's arrival N(0, sigma_toa) (10 ns: cross-correlation with
the known Zadoff-Chu symbols of a 10 MHz burst at good SNR). The fit: position and emission
time by least squares (Gauss-Newton, the height taken from the drone's own broadcast, as the
design says), from the centre of the field.

    PYTHONPATH=src .venv/bin/python bench/tdoa_clock.py [--trials 400] [--toa-ns 10]

Prints the median and p90 horizontal error (m) per clock error and sensor count. 1 ns of
clock error is 30 cm of range; a GPS timing receiver's 1PPS is good to 10-30 ns (5-10 m),
a GPSDO holds that between pulses; NTP (milliseconds) is useless for TDOA.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
from scipy.optimize import least_squares

C = 299_792_458.0
CLOCK_NS = (0.0, 5.0, 10.0, 20.0, 50.0, 100.0, 300.0, 1000.0)
SENSORS = (4, 6, 12)


def ring(n: int, radius: float = 500.0) -> np.ndarray:
    a = 2 * np.pi * np.arange(n) / n
    return np.stack([radius * np.sin(a), radius * np.cos(a), np.full(n, 5.0)], axis=1)


def locate(sensors: np.ndarray, toa_s: np.ndarray, height: float) -> np.ndarray:
    """(east, north) of the transmitter from arrival times (emission time also solved)."""

    def resid(x: np.ndarray) -> np.ndarray:
        d = np.sqrt((sensors[:, 0] - x[0]) ** 2 + (sensors[:, 1] - x[1]) ** 2
                    + (sensors[:, 2] - height) ** 2)
        out: np.ndarray = d - (toa_s - x[2] / C) * C  # metres
        return out

    x0 = np.array([0.0, 0.0, (toa_s.min() - 0.5e-6) * C])
    return np.asarray(least_squares(resid, x0, method="lm").x[:2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--toa-ns", type=float, default=10.0, help="arrival time measurement error")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    cpu0 = time.process_time()
    print(f"load average: {os.getloadavg()[0]:.2f}; {args.trials} bursts per cell, arrival "
          f"time error {args.toa_ns:g} ns, sensors on a 1 km ring")
    print("horizontal error, median / p90 metres")
    print(f"{'clock ns':>9} " + " ".join(f"{f'{n} sensors':>16}" for n in SENSORS))
    for clock_ns in CLOCK_NS:
        cells = []
        for n in SENSORS:
            s = ring(n)
            errors = []
            for _ in range(args.trials):
                r = 600.0 * math.sqrt(rng.uniform())
                a = rng.uniform(0, 2 * math.pi)
                p = np.array([r * math.sin(a), r * math.cos(a), rng.uniform(30, 120)])
                t0 = rng.uniform(0, 1e-3)
                d = np.linalg.norm(s - p, axis=1)
                toa = (t0 + d / C + rng.normal(0, clock_ns * 1e-9, n)
                       + rng.normal(0, args.toa_ns * 1e-9, n))
                est = locate(s, toa, float(p[2]))
                errors.append(float(np.hypot(*(est - p[:2]))))
            q = np.percentile(errors, [50, 90])
            cells.append(" / ".join(f"{v:.1f}" if v < 10_000 else ">10 km" for v in q))
        print(f"{clock_ns:>9g} " + " ".join(f"{c:>16}" for c in cells))
    print(f"CPU {time.process_time() - cpu0:.1f} s")


if __name__ == "__main__":
    main()
