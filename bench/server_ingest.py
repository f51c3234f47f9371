"""Server ingest benchmark: sustained observations/s through the whole service into SQLite and
PostgreSQL, and the p99 latency from a frame to its WebSocket alert, with N live drones.

    .venv/bin/python bench/server_ingest.py [--drones 1000] [--seconds 20] [--pg URL|--no-pg]

Frames come from the scenario simulator (N Remote ID drones around one point). Throughput:
the frames go as fast as possible through decode -> tracking pipeline -> batched writer ->
store (and the live bus), timed until the last row is committed. Latency: a real server
(uvicorn, SQLite) plays the frames in real time; a WebSocket client measures, for every alert,
the time from the frame's (scheduled) arrival to the alert's receipt.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dronewatch.model import Frame

CENTER = (48.7253, 2.35944)
VERBOSE = False
BENCH_TOKEN = "bench-admin-token-1234"  # tokens are at least 16 characters


def scenario(
    n: int,
    seconds: float,
    start: float,
    sensors: tuple[str, ...] = ("s1",),
    name: str = "bench",
    id_prefix: str = "BENCH",
) -> Any:
    """``n`` Remote ID drones flying loops around one point from ``start`` (epoch seconds),
    heard by ``sensors`` (spread 250 m apart). Also the durable-ingest tests' scene."""
    from dronewatch.sim import parse_scenario

    drones = []
    for i in range(n):
        ang = 2 * math.pi * i / n
        r = 300 + (i % 40) * 120
        east, north = r * math.cos(ang), r * math.sin(ang)
        drones.append(
            {
                "name": f"d{i}",
                "kind": "wifi-beacon" if i % 2 else "ble-legacy",
                "uas_id": f"{id_prefix}{i:0{20 - len(id_prefix)}d}",
                "operator_id": f"OP{i:010d}",
                "start_s": (i * 7.3) % max(1.0, seconds * 0.8),
                "speed_mps": 8 + i % 7,
                "height_m": 40 + i % 60,
                "ground_s": 0,
                "pilot": {"east": east, "north": north},
                "waypoints": [
                    {"east": east * 0.2, "north": north * 0.2},
                    {"east": -north * 0.3, "north": east * 0.3},
                ],
                "repeat": True,
            }
        )
    import datetime as dt

    return parse_scenario(
        {
            "name": name,
            "duration_s": seconds,
            "start_time": dt.datetime.fromtimestamp(start, dt.UTC),
            "origin": {"lat": CENTER[0], "lon": CENTER[1]},
            "sensors": [
                {"id": s, "east": 200.0 * k, "north": -150.0 * k} for k, s in enumerate(sensors)
            ],
            "radio": {"loss": 0.0, "shadowing_db": 0, "sensitivity_dbm": -200},
            "drones": drones,
        }
    )


ZONE = {
    "type": "Feature",
    "id": "bench-zone",
    "geometry": {"type": "Point", "coordinates": [CENTER[1], CENTER[0]]},
    "properties": {"name": "Bench zone", "radius_m": 1500, "severity": "critical"},
}


def make_frames(n: int, seconds: float, start: float) -> list[Frame]:
    from dronewatch.sim import iter_frames

    return list(iter_frames(scenario(n, seconds, start), seed=1))


def throughput(db: str, frames: list[Frame]) -> dict[str, float]:
    from dronewatch.alerts.pipeline import TrackingPipeline
    from dronewatch.alerts.zones import ZoneSet, parse_features
    from dronewatch.server.bus import EventBus
    from dronewatch.server.service import Counters, PipelineService, Processor, Writer
    from dronewatch.store import Store

    store = Store.open(db)
    counters = Counters()
    pipeline = TrackingPipeline(zones=ZoneSet(parse_features(ZONE)))
    proc = Processor(pipeline, counters=counters)
    writer = Writer(store, counters)
    writer.start()
    service = PipelineService(proc, writer, EventBus(), [], speed=0.0)
    t0 = time.perf_counter()
    service.run_frames(frames)
    writer.flush(600)
    elapsed = time.perf_counter() - t0
    writer.stop()
    counts = store.counts()
    store.close()
    return {
        "frames": len(frames),
        "observations": counters.observations,
        "rows_written": counters.rows_written,
        "db_observations": counts["observations"],
        "alerts": counters.alerts,
        "seconds": elapsed,
        "obs_per_s": counters.observations / elapsed,
        "db_errors": counters.db_errors,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def latency(n: int, seconds: float, tmp: Path, track_rate_hz: float = 2.0) -> dict[str, float]:
    import uvicorn
    from websockets.sync.client import connect

    from dronewatch.server.app import create_app
    from dronewatch.server.settings import Principal, Role, Settings

    t_gen = time.perf_counter()
    frames = make_frames(n, seconds, time.time())
    gen_s = time.perf_counter() - t_gen
    t0 = frames[0].time
    played: list[float] = []  # wall time at which the first frame was played

    def source() -> Iterable[Frame]:
        time.sleep(1.0)  # let the WebSocket client connect first
        for i, f in enumerate(frames):
            if i == 0:
                played.append(time.time())
            yield f

    zones = tmp / "zones.geojson"
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [ZONE]}))
    settings = Settings(
        db=str(tmp / "lat.db"),
        tokens={BENCH_TOKEN: Principal("admin", Role.ADMIN)},
        zones_file=zones,
        speed=1.0,
        ws_queue_size=100_000,
        track_rate_hz=track_rate_hz,
        gc_freeze=True,  # as `dronewatch serve` does
    )
    app = create_app(settings)
    ctx = app.state.ctx
    ctx.sources = lambda: [source]  # the pre-generated frames, played in real time
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)  # type: ignore[no-untyped-call]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    lat: list[float] = []
    worst: list[tuple[float, float, str]] = []
    n_tracks = 0
    end = time.time() + 1.0 + (frames[-1].time - t0) + 2.0
    with connect(f"ws://127.0.0.1:{port}/api/stream?token={BENCH_TOKEN}", max_size=None) as ws:
        while time.time() < end:
            try:
                text = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            now = time.time()
            msg = json.loads(text)
            if msg["kind"] == "alert":  # from the frame's scheduled arrival to receipt
                lat.append(now - (played[0] + msg["alert"]["time"] - t0))
                worst.append((lat[-1], msg["alert"]["time"] - t0, msg["alert"]["rule"]))
            elif msg["kind"] == "track":
                n_tracks += 1
    live = sum(1 for t in ctx.processor.pipeline.tracks.values() if t.state == "active")
    obs = ctx.counters.observations
    server.should_exit = True
    thread.join(15)
    lat.sort()
    if VERBOSE:
        for d, at, rule in sorted(worst, reverse=True)[:15]:
            print(f"  {d * 1000:7.1f} ms  at +{at:5.2f} s  {rule}")

    def q(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {
        "alerts": len(lat),
        "track_updates": n_tracks,
        "live_tracks": live,
        "observations": obs,
        "p50_ms": q(0.50),
        "p99_ms": q(0.99),
        "max_ms": q(1.0),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        "gen_s": gen_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drones", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20.0, help="scenario length")
    ap.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server; a throwaway database is created on it",
    )
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument(
        "--track-rate",
        type=float,
        default=2.0,
        help="live track updates per track per second (the server default: 2)",
    )
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the slowest alerts")
    args = ap.parse_args()
    sys.setswitchinterval(0.001)  # as `dronewatch serve` does
    global VERBOSE
    VERBOSE = args.verbose

    t = time.perf_counter()
    frames = make_frames(args.drones, args.seconds, time.time())
    print(
        f"simulated {len(frames)} frames of {args.drones} drones over {args.seconds:g} s "
        f"in {time.perf_counter() - t:.1f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        r = throughput(str(Path(tmp) / "bench.db"), frames) if not args.no_throughput else {}
        if r:
            print(
                f"SQLite:     {r['obs_per_s']:9.0f} observations/s  ({r['observations']} obs, "
                f"{r['alerts']} alerts, {r['rows_written']} rows in {r['seconds']:.2f} s, "
                f"db errors {r['db_errors']})"
            )
        if not args.no_pg and not args.no_throughput:
            import uuid

            import psycopg

            name = f"dronewatch_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.pg, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
                try:
                    url = args.pg.rsplit("/", 1)[0] + "/" + name
                    r = throughput(url, frames)
                    print(
                        f"PostgreSQL: {r['obs_per_s']:9.0f} observations/s  "
                        f"({r['observations']} obs, {r['rows_written']} rows in "
                        f"{r['seconds']:.2f} s, db errors {r['db_errors']})"
                    )
                finally:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        if not args.no_latency:
            r = latency(args.drones, args.seconds, Path(tmp), args.track_rate)
            print(
                f"latency frame -> WebSocket alert, real time, {r['live_tracks']} live tracks, "
                f"{r['observations']} obs: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                f"max {r['max_ms']:.1f} ms over {r['alerts']} alerts "
                f"({r['track_updates']} track updates received)"
            )


if __name__ == "__main__":
    main()
