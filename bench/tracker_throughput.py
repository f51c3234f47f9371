"""Throughput of tracker + rules: observations/s and per-observation latency.

1,000 simultaneous drones flying at 5-20 m/s over a 1 x 1.5 degree area that holds 5,000 zones
(circles and polygons, some with altitude limits and time windows), one Location observation
per drone per second (with operator position and UAS ID), a whitelist, every rule enabled.

    .venv/bin/python bench/tracker_throughput.py [--drones 1000] [--zones 5000] [--seconds 120]
    .venv/bin/python bench/tracker_throughput.py --profile     # pyinstrument profile

Prints observations/s (target >= 50,000 on one core) and p50/p99/max latency.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import time
from typing import Any

from dronewatch.alerts.pipeline import TrackingPipeline
from dronewatch.alerts.whitelist import Whitelist
from dronewatch.alerts.zones import Zone, ZoneSet
from dronewatch.model import Observation, Severity, Transport
from dronewatch.track.geo import M_PER_DEG

LAT0, LON0 = 51.0, -1.0
SPAN_LAT, SPAN_LON = 1.0, 1.5


def make_zones(n: int, rng: random.Random) -> ZoneSet:
    from shapely.geometry import Polygon

    zones: list[Zone] = []
    for i in range(n):
        lat = LAT0 + rng.random() * SPAN_LAT
        lon = LON0 + rng.random() * SPAN_LON
        sev = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)[i % 3]
        max_alt = 120.0 if i % 4 == 0 else None
        if i % 2 == 0:
            zones.append(
                Zone.make_circle(
                    f"c{i}",
                    f"circle {i}",
                    lat,
                    lon,
                    rng.uniform(100, 600),
                    severity=sev,
                    max_alt_m=max_alt,
                )
            )
        else:
            r = rng.uniform(150, 700)
            k = rng.randint(3, 8)
            coslat = math.cos(math.radians(lat))
            pts = []
            for j in range(k):
                a = 2 * math.pi * j / k + rng.uniform(-0.2, 0.2)
                rr = r * rng.uniform(0.6, 1.0)
                pts.append(
                    (
                        lon + rr * math.sin(a) / (M_PER_DEG * coslat),
                        lat + rr * math.cos(a) / M_PER_DEG,
                    )
                )
            zones.append(
                Zone.make_polygon(
                    f"p{i}", f"polygon {i}", Polygon(pts), severity=sev, max_alt_m=max_alt
                )
            )
    return ZoneSet(zones)


def make_observations(drones: int, seconds: int, rng: random.Random) -> list[Observation]:
    state: list[list[Any]] = []
    pilots = []
    for d in range(drones):
        lat, lon = LAT0 + rng.random() * SPAN_LAT, LON0 + rng.random() * SPAN_LON
        pilots.append((lat + rng.uniform(-0.005, 0.005), lon + rng.uniform(-0.005, 0.005)))
        state.append(
            [
                lat,
                lon,
                rng.uniform(0, 360),
                rng.uniform(5, 20),
                rng.uniform(20, 150),
                f"BENCH{d:010d}",
                f"02:00:00:{d >> 16 & 255:02x}:{d >> 8 & 255:02x}:{d & 255:02x}",
            ]
        )
    obs: list[Observation] = []
    t0 = 1.7e9
    for s in range(seconds):
        for d, st in enumerate(state):
            lat, lon, hdg, spd, h, uas, mac = st
            hdg = (hdg + rng.uniform(-10, 10)) % 360
            b = math.radians(hdg)
            lat += spd * math.cos(b) / M_PER_DEG
            lon += spd * math.sin(b) / (M_PER_DEG * math.cos(math.radians(lat)))
            st[0], st[1], st[2] = lat, lon, hdg
            obs.append(
                Observation(
                    time=t0 + s + d / drones,
                    transport=Transport.BLE_LONG_RANGE,
                    message_type="location",
                    source=mac,
                    rssi_dbm=-70.0,
                    uas_id=uas,
                    id_type="serial_number",
                    serial=uas,
                    lat=lat,
                    lon=lon,
                    alt_geo=h + 50,
                    height=h,
                    speed=spd,
                    direction=hdg,
                    vspeed=0.0,
                    operator_lat=pilots[d][0],
                    operator_lon=pilots[d][1],
                )
            )
    return obs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drones", type=int, default=1000)
    ap.add_argument("--zones", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    t = time.perf_counter()
    zones = make_zones(args.zones, rng)
    t_zones = time.perf_counter() - t
    observations = make_observations(args.drones, args.seconds, rng)
    whitelist = Whitelist(f"BENCH{d:010d}" for d in range(0, args.drones, 2))
    pipeline = TrackingPipeline(zones=zones, whitelist=whitelist)
    print(
        f"{len(zones)} zones indexed in {t_zones * 1000:.0f} ms; "
        f"{len(observations)} observations from {args.drones} drones"
    )

    feed = pipeline.feed_observation
    lat_ns: list[int] = []
    alerts = 0
    gc.collect()
    gc.freeze()
    if args.profile:
        from pyinstrument import Profiler

        prof = Profiler()
        prof.start()
    clock = time.perf_counter_ns
    cpu0 = time.process_time()
    start = clock()
    next_tick = observations[0].time + 1.0
    for o in observations:
        t0 = clock()
        _, a = feed(o)
        lat_ns.append(clock() - t0)
        alerts += len(a)
        if o.time >= next_tick:  # the server ticks once a second
            alerts += len(pipeline.tick(o.time))
            next_tick = o.time + 1.0
    total = (clock() - start) / 1e9
    cpu = time.process_time() - cpu0
    if args.profile:
        prof.stop()
        print(prof.output_text(unicode=True, color=False, show_all=False))
    lat_ns.sort()
    n = len(lat_ns)
    print(
        f"throughput: {n / total:,.0f} observations/s wall ({total:.2f} s for {n}), "
        f"{n / cpu:,.0f} observations/s of CPU time ({cpu:.2f} s)"
    )
    print(
        f"latency per observation: p50 {lat_ns[n // 2] / 1000:.1f} us, "
        f"p99 {lat_ns[int(n * 0.99)] / 1000:.1f} us, max {lat_ns[-1] / 1000:.0f} us, "
        f"mean {statistics.fmean(lat_ns) / 1000:.1f} us"
    )
    print(f"tracks: {len(pipeline.tracks)}, alert events: {alerts}")


if __name__ == "__main__":
    main()
