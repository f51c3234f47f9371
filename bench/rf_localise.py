"""RF localisation and location-spoof detection (issue 15): error and detection vs false alarms.

Simulated sensor fields (:mod:`dronewatch.sim.sensor_field`): N sensors on a 1 km ring
(500 m radius), honest drones and location spoofers flying random waypoints inside it,
air-to-ground radio (20 dBm, exponent 2.2, Gudmundson shadowing with 50 m decorrelation,
2 dB fast fading, 3 dB per-transmitter power spread, -100 dBm sensitivity). Frames go through
the decoders and the tracking pipeline with the RF locator, as ``dronewatch analyze`` does.

Tables:

1. localisation error of honest drones (RF estimate vs true position, every refit after the
   first 60 s): median / p90 metres, and the median 1-sigma radius the locator claims, for
   3, 6 and 12 sensors x shadowing 2, 4 and 6 dB;
2. spoof detection: per offset (100 .. 1,000 m) and number of sensors, the share of spoofers
   and of honest drones for which ``spoof_position_rf`` fires (default threshold), and a ROC
   over the threshold of the likelihood-ratio statistic; GhostBuster (CCNC 2024, 12 receivers,
   real flights) caught 95 % of spoofers at 364 m.

    PYTHONPATH=src .venv/bin/python bench/rf_localise.py            # full (~10 min CPU)
    PYTHONPATH=src .venv/bin/python bench/rf_localise.py --quick    # 6 sensors, 4 dB only

A run is deterministic for ``--seeds``; the false alarm rate is over every honest drone of
every run (``--seeds 3`` gives 3 x 20 of them per cell).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from dronewatch.alerts.pipeline import TrackingPipeline
from dronewatch.alerts.rulebook.spoof_position_rf import SpoofPositionRf
from dronewatch.decode import decode_frames
from dronewatch.sim import iter_frames
from dronewatch.sim.engine import prepare, sensor_sites
from dronewatch.sim.sensor_field import sensor_field_scenario
from dronewatch.stats import DecodeStats
from dronewatch.track.geo import fast_distance_m
from dronewatch.track.rf_locate import RfConfig, RfEstimate

DEFAULT = SpoofPositionRf.Settings()
THRESHOLDS = (10.0, 15.0, 20.0, 25.0, 35.0, 50.0, 80.0)
GHOSTBUSTER = "GhostBuster (CCNC 2024): 95 % of spoofers at 364 m with 12 receivers"


@dataclass
class Run:
    errors: list[float] = field(default_factory=list)  # honest: RF estimate vs truth, m
    sigmas: list[float] = field(default_factory=list)  # honest: claimed 1-sigma radius, m
    honest_stat: list[float] = field(default_factory=list)  # per honest drone: decision stat
    spoof_stat: list[float] = field(default_factory=list)  # per spoofer


def decision_stat(history: list[RfEstimate]) -> float:
    """The largest threshold at which the rule (``confirm`` refits in a row above it, with
    the minimum offset) fires for this track: the ROC's per-track score."""
    best = 0.0
    run: list[float] = []
    for est in history:
        ok = est.lr_stat is not None and (est.offset_m or 0.0) >= DEFAULT.min_offset_m
        run = [*run, est.lr_stat or 0.0][-DEFAULT.confirm:] if ok else []
        if len(run) == DEFAULT.confirm:
            best = max(best, min(run))
    return best


def one_run(sensors: int, shadowing_db: float, offset_m: float, seed: int, honest: int,
            spoofers: int, duration_s: float, exponent: float = 2.2) -> Run:
    sc = sensor_field_scenario(sensors=sensors, shadowing_db=shadowing_db, offset_m=offset_m,
                               honest=honest, spoofers=spoofers, duration_s=duration_s,
                               layout_seed=seed, exponent=exponent)
    pipe = TrackingPipeline(rf_config=RfConfig(sensors=sensor_sites(sc)))
    history: dict[str, list[RfEstimate]] = defaultdict(list)
    for d in decode_frames(iter_frames(sc, seed=seed), DecodeStats()):
        track, _ = pipe.feed(d)
        if track is None:
            continue
        est = pipe.rf_estimate(track.track_id)
        h = history[track.track_id]
        if est is not None and (not h or h[-1] is not est):
            h.append(est)
    frame, runtimes = prepare(sc, seed)
    by_operator = {rt.operator_id: rt for rt in runtimes}
    out = Run()
    t0 = sc.start_epoch
    for tid, track in pipe.tracks.items():
        rt = by_operator.get(track.operator_id)
        if rt is None:
            continue
        liar = rt.drone.spoof_offset is not None
        stat = decision_stat([e for e in history[tid] if e.lat is not None])
        (out.spoof_stat if liar else out.honest_stat).append(stat)
        if liar:
            continue
        for est in history[tid]:
            if est.lat is None or est.lon is None or est.time - t0 < 60.0:
                continue
            s = rt.track.sample(np.array([est.time - t0]))
            lat, lon = frame.to_latlon(s.east, s.north)
            out.errors.append(fast_distance_m(est.lat, est.lon, float(lat[0]), float(lon[0])))
            if est.error_m is not None:
                out.sigmas.append(est.error_m)
    return out


def merge(runs: list[Run]) -> Run:
    out = Run()
    for r in runs:
        out.errors += r.errors
        out.sigmas += r.sigmas
        out.honest_stat += r.honest_stat
        out.spoof_stat += r.spoof_stat
    return out


def rate(stats: list[float], threshold: float) -> float:
    return sum(s >= threshold for s in stats) / len(stats) if stats else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 sensors, 4 dB, two offsets")
    ap.add_argument("--seeds", type=int, default=1, help="runs per cell (layouts and radio)")
    ap.add_argument("--honest", type=int, default=20)
    ap.add_argument("--spoofers", type=int, default=10)
    ap.add_argument("--duration", type=float, default=240.0)
    ap.add_argument("--sim-exponent", type=float, default=2.2,
                    help="the radio's true path-loss exponent (the locator assumes 2.2): "
                         "model mismatch")
    args = ap.parse_args()
    sensor_counts = (6,) if args.quick else (3, 6, 12)
    shadowings = (4.0,) if args.quick else (2.0, 4.0, 6.0)
    offsets = (364.0, 500.0) if args.quick else (100.0, 250.0, 364.0, 500.0, 1000.0)
    cpu0 = time.process_time()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (CPU time is what counts)")
    print(f"{args.honest} honest + {args.spoofers} spoofers per run, {args.duration:.0f} s, "
          f"{args.seeds} seed(s) per cell; true exponent {args.sim_exponent:g} "
          f"(assumed 2.2); rule: LR >= {DEFAULT.lr_threshold:g} "
          f"{DEFAULT.confirm}x in a row, offset >= {DEFAULT.min_offset_m:g} m\n")
    cells: dict[tuple[int, float, float], Run] = {}
    for n in sensor_counts:
        for sh in shadowings:
            for off in offsets:
                if sh != 4.0 and off != 500.0:
                    continue  # shadowing varies at 500 m only
                cells[(n, sh, off)] = merge([
                    one_run(n, sh, off, seed, args.honest, args.spoofers, args.duration,
                            args.sim_exponent)
                    for seed in range(1, args.seeds + 1)])

    print("1. Localisation error of honest drones (RF estimate vs truth, after 60 s)")
    print(f"{'sensors':>8} {'shadow dB':>9} {'median m':>9} {'p90 m':>7} {'sigma med m':>11} "
          f"{'n':>6}")
    for (n, sh, off), r in sorted(cells.items()):
        if off != 500.0 or not r.errors:
            continue
        q = np.percentile(r.errors, [50, 90])
        sig = statistics.median(r.sigmas) if r.sigmas else float("nan")
        print(f"{n:>8} {sh:>9.0f} {q[0]:>9.0f} {q[1]:>7.0f} {sig:>11.0f} {len(r.errors):>6}")

    print("\n2. Spoof detection (shadowing 4 dB): detection / false alarm at the default "
          "threshold")
    print(f"{'sensors':>8} {'offset m':>9} {'detected':>9} {'false al.':>9} {'spoofers':>9} "
          f"{'honest':>7}")
    for (n, sh, off), r in sorted(cells.items()):
        if sh != 4.0:
            continue
        print(f"{n:>8} {off:>9.0f} {rate(r.spoof_stat, DEFAULT.lr_threshold):>9.0%} "
              f"{rate(r.honest_stat, DEFAULT.lr_threshold):>9.0%} {len(r.spoof_stat):>9} "
              f"{len(r.honest_stat):>7}")
    print(f"{'':>8} {GHOSTBUSTER}")

    print("\n3. ROC over the LR threshold (shadowing 4 dB): detected / false alarm")
    print(f"{'sensors':>8} {'offset m':>9} " + " ".join(f"{t:>11g}" for t in THRESHOLDS))
    for (n, sh, off), r in sorted(cells.items()):
        if sh != 4.0:
            continue
        print(f"{n:>8} {off:>9.0f} " + " ".join(
            f"{rate(r.spoof_stat, t):>5.0%}/{rate(r.honest_stat, t):<5.0%}" for t in THRESHOLDS))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\nCPU {time.process_time() - cpu0:.0f} s, max RSS {usage.ru_maxrss / 1024:.0f} MB, "
          f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
