"""Sinks benchmark: what CoT, webhooks, syslog and MQTT out deliver with 1,000 live drones,
and what they cost the pipeline.

    .venv/bin/python bench/sinks.py [--drones 1000] [--seconds 20] [--no-mqtt] [--runs 1]
        [--mode paced|unpaced|both] [--sinks on|off|both] [--only cot|webhook|syslog|mqtt_out]

(``--sinks on`` alone: to profile the sinks, e.g. under ``py-spy record --threads``.)

Frames come from the scenario simulator (N Remote ID drones around a zone, as in
bench/server_ingest.py). The receivers run in a separate process: a UDP socket for CoT
(``--cot udp://``), a threaded HTTP/1.1 server (keep-alive, as web servers answer) checking
each webhook's signature, a UDP socket for syslog; MQTT out goes to the Mosquitto broker on
127.0.0.1:1883 (under a bench prefix, cleaned up afterwards).

Two measurements, each with all sinks off and on:

* paced: the frames at their recorded pace (``speed 1``, real time, a live server's load):
  CPU time of the pipeline thread, of the writer thread and of the whole process per
  observation (``time.thread_time`` / ``pthread_getcpuclockid``, ``time.process_time``), so
  the figure means something on a busy machine; each sink worker's CPU time; and what was
  delivered: alerts/s POSTed (signature checked), CoT events/s received, syslog messages,
  MQTT messages published, drops;
* unpaced: the frames as fast as possible: observations/s of the pipeline.

The load average is printed with the figures: on a shared machine wall-clock figures move
with it, CPU-time ones much less.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

SECRET = b"bench-webhook-secret"


# -- receivers (a child process) --------------------------------------------------------------


def receivers(ports: Any, counts: Any, ready: Any, stop: Any) -> None:
    """UDP (CoT), UDP (syslog) and HTTP (webhook) receivers counting what they get."""
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from dronewatch.sinks.webhook import SIGNATURE_HEADER, verify

    def udp(index: int, count: int) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)
        ports[index] = s.getsockname()[1]
        while not stop.is_set():
            try:
                data = s.recv(65536)
            except TimeoutError:
                continue
            with counts.get_lock():
                counts[count] += 1
                counts[count + 1] += len(data)

    class Hook(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as web servers answer by default

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ok = verify(SECRET, body, self.headers.get(SIGNATURE_HEADER))
            with counts.get_lock():
                counts[4 if ok else 5] += 1
            self.send_response(204 if ok else 401)
            if not ok:
                self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.daemon_threads = True
    ports[2] = server.server_address[1]
    threads = [
        threading.Thread(target=udp, args=(0, 0), daemon=True),  # CoT: counts[0], bytes [1]
        threading.Thread(target=udp, args=(1, 2), daemon=True),  # syslog: counts[2], [3]
        threading.Thread(target=server.serve_forever, daemon=True),  # hooks: [4] ok, [5] bad
    ]
    for t in threads:
        t.start()
    while not all(ports[:3]):
        time.sleep(0.01)
    ready.set()
    stop.wait()
    server.shutdown()


# -- one run ----------------------------------------------------------------------------------


def thread_cpu(thread: Any) -> float:
    if thread is None or thread.ident is None or not thread.is_alive():
        return 0.0
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def run(
    frames: list[Any],
    sinks_on: bool,
    speed: float,
    ports: list[int],
    mqtt_prefix: str | None,
    only: str | None = None,
    own_process: bool = True,
) -> dict[str, Any]:
    from dronewatch.alerts.pipeline import TrackingPipeline
    from dronewatch.alerts.zones import ZoneSet, parse_features
    from dronewatch.server.bus import EventBus
    from dronewatch.server.service import Counters, PipelineService, Processor, Writer
    from dronewatch.sinks.base import SinkSet
    from dronewatch.sinks.settings import SinkSettings, open_sinks
    from dronewatch.store import Store
    from server_ingest import ZONE

    tmp = tempfile.mkdtemp(prefix="dw-bench-sinks-")
    store = Store.open(os.path.join(tmp, "dw.db"))
    settings = SinkSettings(
        cot=[f"udp://127.0.0.1:{ports[0]}"],
        syslog=[f"udp://127.0.0.1:{ports[1]}"],
        webhook=[f"http://127.0.0.1:{ports[2]}/hook"],
        webhook_secret=SECRET.decode(),
        mqtt_out=[f"mqtt://127.0.0.1:1883/{mqtt_prefix}"] if mqtt_prefix else [],
        mqtt_out_discovery=f"{mqtt_prefix}/ha" if mqtt_prefix else None,
    )
    if only is not None:  # one kind of sink alone: what it costs
        for name in ("cot", "syslog", "webhook", "mqtt_out"):
            if name != only:
                setattr(settings, name, [])
        if only != "webhook":
            settings.webhook_secret = None
    # As `dronewatch serve` runs them: the streaming sinks in a process of their own.
    sinks = open_sinks(settings, store, own_process=own_process) if sinks_on else SinkSet()
    sinks.start()
    child = sinks.remote.pid if sinks.remote is not None else None
    if sinks.remote is not None:  # its start (imports) is not the cost of sending
        assert sinks.remote.wait_ready(60), "the sinks' process did not start"
    child_cpu0 = process_cpu(child)
    counters = Counters()
    proc = Processor(TrackingPipeline(zones=ZoneSet(parse_features(ZONE))), counters=counters)
    writer = Writer(store, counters)
    writer.start()
    # gc_freeze as `dronewatch serve` runs: no full collections over every live track
    service = PipelineService(
        proc, writer, EventBus(), [], speed=speed, sinks=sinks, gc_freeze=True
    )
    cpu0, pipe0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    service.run_frames(frames)  # in this thread: its CPU time is the pipeline's
    pipe_cpu = time.thread_time() - pipe0
    writer.flush(600)
    wall = time.perf_counter() - wall0
    writer_cpu = thread_cpu(writer._thread)
    # Let the sinks deliver what is queued (at most 60 s), then read their counters.
    end = time.monotonic() + 60
    while time.monotonic() < end and any(s.queue_depth for s in sinks.stats()):
        time.sleep(0.05)
    drained = time.perf_counter() - wall0
    import threading

    sink_cpu = {s.kind: thread_cpu(s._thread) for s in sinks.sinks}
    if child is not None:
        sink_cpu["sinks' process"] = process_cpu(child) - child_cpu0
    threads_cpu = {
        t.name: thread_cpu(t) for t in threading.enumerate() if t is not threading.main_thread()
    }
    total_cpu = time.process_time() - cpu0
    sinks.stop()  # what a worker holds in hand is sent before the counters are read
    stats = {s.kind: s for s in sinks.stats()}
    messages = {s.kind: s.sent for s in stats.values()}  # on the wire: CoT events, MQTT messages
    writer.stop()
    store.close()
    obs = max(counters.observations, 1)
    return {
        "observations": counters.observations,
        "alerts": counters.alerts,
        "wall_s": wall,
        "drained_s": drained,
        "obs_per_s": counters.observations / wall,
        "pipeline_us_per_obs": pipe_cpu / obs * 1e6,
        "writer_us_per_obs": writer_cpu / obs * 1e6,
        "process_us_per_obs": total_cpu / obs * 1e6,
        "sink_cpu_s": sink_cpu,
        # Every thread and process that runs only for the sinks (their workers, paho's
        # thread where it has one, the streaming sinks' process).
        "sinks_us_per_obs": (
            sum(v for k, v in threads_cpu.items() if k.startswith(("dronewatch-sink-", "paho-")))
            + sink_cpu.get("sinks' process", 0.0)
        )
        / obs
        * 1e6,
        "threads_cpu_s": threads_cpu,
        "stats": stats,
        "messages": messages,
    }


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used (0 if it is gone or unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid() -> int | None:
    """The local Mosquitto's process id, if this machine runs it (to count its CPU time)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "mosquitto":
                    return int(entry.name)
            except OSError:
                continue
    return None


def clean_mqtt(prefix: str) -> int:
    """Clear every retained message the bench left under ``prefix`` (until none is left)."""
    total = 0
    for _ in range(5):
        n = _clean_mqtt_once(prefix)
        total += n
        if not n:
            break
    return total


def _clean_mqtt_once(prefix: str) -> int:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    topics: set[str] = set()
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"dw-bench-clean-{uuid.uuid4().hex[:6]}")
    c.on_message = lambda _c, _u, m: topics.add(m.topic) if m.retain and m.payload else None
    c.connect("127.0.0.1", 1883)
    c.subscribe(f"{prefix}/#")
    c.loop_start()
    time.sleep(2.0)
    c.unsubscribe(f"{prefix}/#")
    last = None
    for t in sorted(topics):
        last = c.publish(t, b"", retain=True, qos=1)
    if last is not None:
        last.wait_for_publish(30)
    c.disconnect()
    c.loop_stop()
    return len(topics)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--drones", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20.0, help="scenario length (paced run)")
    ap.add_argument("--no-mqtt", action="store_true", help="leave MQTT out of the sinks")
    ap.add_argument("--runs", type=int, default=1, help="repeat each measurement")
    ap.add_argument(
        "--only", choices=["cot", "webhook", "syslog", "mqtt_out"], help="one kind of sink"
    )
    ap.add_argument("--mode", choices=["paced", "unpaced", "both"], default="both")
    ap.add_argument(
        "--sinks", choices=["off", "on", "both"], default="both", help="which runs (profiling)"
    )
    ap.add_argument(
        "--threads-too",
        action="store_true",
        help="also run the streaming sinks as threads of the server's process (as before "
        "they had a process of their own): a third arm, 'on, threads'",
    )
    args = ap.parse_args()

    import logging

    logging.basicConfig(level=logging.ERROR)
    from server_ingest import make_frames

    ports = mp.Array("i", 3)
    counts = mp.Array("q", 6)
    ready, stop = mp.Event(), mp.Event()
    child = mp.Process(target=receivers, args=(ports, counts, ready, stop), daemon=True)
    child.start()
    assert ready.wait(30), "receivers did not start"
    port_list = list(ports[:3])
    mosquitto = broker_pid()
    prefix = None if args.no_mqtt else f"dronewatch-bench/{uuid.uuid4().hex[:10]}"
    print(f"load average before: {os.getloadavg()}  (2 cores shared: see the CPU-time figures)")

    def delivered() -> list[int]:
        with counts.get_lock():
            return list(counts[:6])

    results: dict[str, list[dict[str, Any]]] = {}
    try:
        for _ in range(args.runs):
            modes = [("paced", 1.0), ("unpaced", 0.0)]
            for mode, speed in [m for m in modes if args.mode in (m[0], "both")]:
                arms = [(o, True) for o in (False, True) if args.sinks in ("both", ("off", "on")[o])]
                if args.threads_too:
                    arms.append((True, False))
                for on, own_process in arms:
                    name = f"{mode} sinks {'on' if on else 'off'}" + ("" if own_process else ", threads")
                    frames = make_frames(args.drones, args.seconds, time.time() + 1.0)
                    before = delivered()
                    # The receivers share this machine's cores: their CPU time, to tell it
                    # from the pipeline's (in a deployment they run elsewhere).
                    rx0 = process_cpu(child.pid), process_cpu(mosquitto)
                    r = run(
                        frames, on, speed, port_list, prefix if on else None, args.only,
                        own_process,
                    )
                    after = delivered()
                    r["receivers_cpu_s"] = (
                        process_cpu(child.pid) - rx0[0],
                        process_cpu(mosquitto) - rx0[1],
                    )
                    r["received"] = [a - b for a, b in zip(after, before, strict=True)]
                    r["load"] = os.getloadavg()
                    results.setdefault(name, []).append(r)
                    show(name, r)
    finally:
        stop.set()
        child.join(5)
        if prefix:
            print(f"cleared {clean_mqtt(prefix)} retained MQTT topics under {prefix}")
    summary(results)


def show(name: str, r: dict[str, Any]) -> None:
    rec = r["received"]
    print(f"\n== {name}  (load {r['load'][0]:.2f} {r['load'][1]:.2f} {r['load'][2]:.2f})")
    print(
        f"  observations {r['observations']}, alerts {r['alerts']}, wall {r['wall_s']:.2f} s "
        f"({r['obs_per_s']:.0f} obs/s), all delivered after {r['drained_s']:.2f} s"
    )
    print(
        f"  CPU per observation: pipeline thread {r['pipeline_us_per_obs']:.1f} us, writer "
        f"thread {r['writer_us_per_obs']:.1f} us, whole process {r['process_us_per_obs']:.1f} us"
    )
    if r["stats"]:
        secs = r["drained_s"]
        print(
            f"  received: CoT {rec[0]} events ({rec[0] / secs:.0f}/s, {rec[1] / 1e6:.1f} MB), "
            f"webhook {rec[4]} alerts ({rec[4] / secs:.1f}/s; bad signatures {rec[5]}), "
            f"syslog {rec[2]} messages"
        )
        cpu = ", ".join(f"{k} {v:.2f} s" for k, v in r["sink_cpu_s"].items())
        print(f"  sink worker CPU: {cpu}")
        bench_rx, broker = r["receivers_cpu_s"]
        print(
            f"  receivers' CPU on this machine: the bench's UDP and HTTP receivers "
            f"{bench_rx:.2f} s, Mosquitto {broker:.2f} s (in {r['drained_s']:.2f} s)"
        )
        other = ", ".join(f"{k} {v:.2f} s" for k, v in r["threads_cpu_s"].items() if v > 0.05)
        print(f"  every thread over 0.05 s CPU: {other}")
        print(
            "  messages sent: "
            + ", ".join(f"{k} {v}" for k, v in r["messages"].items())
        )
        for kind, st in r["stats"].items():
            print(
                f"  {kind:8s} queued {st.queued} delivered {st.delivered} skipped {st.skipped} "
                f"dropped {st.dropped} failed {st.failed}"
            )


def summary(results: dict[str, list[dict[str, Any]]]) -> None:
    """Best and median of the runs (off and on alternate, so a change of the machine's load
    falls on both): on a shared machine one run says little."""

    def pick(name: str, key: str, low: bool = True) -> tuple[float, float]:
        vals = [r[key] for r in results[name]]
        return (min(vals) if low else max(vals)), statistics.median(vals)

    def line(mode: str, key: str, off: tuple[float, float], on: tuple[float, float]) -> None:
        figures = "  ".join(
            f"{label} off {a:8.1f} on {b:8.1f} ({(b / a - 1) * 100:+5.1f}%)"
            for label, a, b in (("best", off[0], on[0]), ("median", off[1], on[1]))
        )
        print(f"  {mode:8s} {key:24s} {figures}")

    runs = max((len(v) for v in results.values()), default=0)
    print(f"\n== summary ({runs} runs each; best and median)")
    for mode, on_arm in [
        (m, arm) for m in ("paced", "unpaced") for arm in ("on", "on, threads")
    ]:
        off, on = f"{mode} sinks off", f"{mode} sinks {on_arm}"
        if off not in results or on not in results:
            continue
        if on_arm != "on":
            print(f"  -- {mode}: the streaming sinks as threads of the server's process")
        for key in ("pipeline_us_per_obs", "process_us_per_obs"):
            line(mode, key, pick(off, key), pick(on, key))
        line(mode, "obs_per_s", pick(off, "obs_per_s", False), pick(on, "obs_per_s", False))
        # The sinks' own threads and process: the part of the cost that does not move with
        # the load of the machine as much as the difference of two whole-process figures.
        base = pick(off, "process_us_per_obs")
        own = pick(on, "sinks_us_per_obs")
        print(
            f"  {mode:8s} {'sinks_own_us_per_obs':24s} best {own[0]:.1f} us "
            f"({own[0] / base[0] * 100:.1f}% of the server's CPU with sinks off), median "
            f"{own[1]:.1f} us ({own[1] / base[1] * 100:.1f}%)"
        )
    print(f"  load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
