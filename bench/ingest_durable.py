"""Durable ingest end to end: sensors -> Mosquitto -> ``dronewatch serve --mqtt`` -> committed,
with each broker message acknowledged only after its rows are committed.

Run: .venv/bin/python bench/ingest_durable.py [--db sqlite,postgres] [--drones 40]
     [--seconds 200] [--kill]

A Mosquitto of our own (persistent, on a free port) and the server as a process of its own, as
a deployment runs them; four sensor threads publish a simulated scene (Remote ID drones heard by
every sensor, ending now so the server's time window takes it) as fast as the broker
acknowledges (QoS 1). The default scene (40 drones, 200 s) makes about 100,000 observations.
Per database it prints: observations committed, seconds from the first publish to the last row
committed, observations/s end to end, and the server's CPU seconds.
The issue's target is >= 20,000 observations/s.

``--kill`` runs the acceptance case instead, at its size (>= 100,000 observations): the server
is killed with SIGKILL when a fifth is stored and restarted 3 s later, the broker is restarted
at three fifths, and every observation must be stored exactly once (the same check as
tests/server/test_ingest_kill.py, which runs a smaller scene).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(kind: str, db: str, drones: int, seconds: float, folder: Path) -> None:
    from tests.server.ingestutil import (
        KILL_SENSORS,
        OwnBroker,
        Sensors,
        ServerProcess,
        count_observations,
        scenario_frames,
        subscribed,
        wait_for,
    )
    from tests.sources.mqttutil import unique_prefix

    from dronewatch.store import Store

    frames = scenario_frames(drones, seconds, KILL_SENSORS)
    store = Store.open(db)
    prefix = unique_prefix()
    log = folder / "server.log"
    with OwnBroker(folder / "broker") as broker:
        server = ServerProcess(db, broker.url(), prefix, log).start()
        try:
            wait_for(lambda: server.check_running() or subscribed(log), 120, "the subscription")
            # What the frames make, measured the way the server counts it (rows committed).
            before = count_observations(store)
            assert server.proc is not None
            cpu0 = server_cpu_s(server.proc.pid)
            t0 = time.monotonic()
            sensors = Sensors(broker.url(), prefix, frames, batch_frames=64).start()
            sensors.join(600.0)
            published_s = time.monotonic() - t0
            # Everything published is acknowledged by the broker; wait for the commits.
            last, still = -1, time.monotonic()
            while True:
                n = count_observations(store) - before
                if n != last:
                    last, still = n, time.monotonic()
                elif time.monotonic() - still > 5.0:
                    break  # nothing more for 5 s: all in
                time.sleep(0.05)
            done_s = still - t0
            cpu = server_cpu_s(server.proc.pid) - cpu0
        finally:
            server.stop()
            store.close()
    print(
        f"{kind:>10}: {len(frames):,} frames -> {last:,} observations committed; "
        f"published in {published_s:.1f} s, committed in {done_s:.1f} s: "
        f"{last / done_s:,.0f} obs/s end to end; server CPU {cpu:.1f} s "
        f"({cpu / max(last, 1) * 1e6:.0f} us/obs)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    ap.add_argument("--drones", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=200.0, help="scene length")
    ap.add_argument("--kill", action="store_true", help="the SIGKILL acceptance case instead")
    args = ap.parse_args()

    from tests.server.ingestutil import run_kill_case
    from tests.store.pgutil import pg_databases

    print(f"load average {os.getloadavg()[0]:.1f} (2 cores: figures under load are indicative)")
    for kind in args.db.split(","):
        with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            db = str(folder / "dw.db") if kind == "sqlite" else stack.enter_context(pg_databases())()
            if args.kill:
                total = run_kill_case(db, folder, drones=args.drones, seconds=args.seconds)
                print(f"{kind:>10}: {total:,} observations, each stored exactly once")
            else:
                throughput(kind, db, args.drones, args.seconds, folder)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
