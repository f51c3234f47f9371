"""Live Wi-Fi reception: the frame rate a monitor interface source sustains, and the latency
from a frame's arrival to its observation being stored.

Run (root, /dev/net/tun): .venv/bin/python bench/live_wifi.py [--rates 2000,5000,8000]
     [--seconds 60] [--noise 0] [--no-bpf] [--compare-capture]

A child process creates a radiotap TUN interface (a monitor card, see tests/sources/tunutil.py)
and writes the real capture's radiotap frames (tests/data/odid_wifi_bcn_sample.pcap, Remote ID
beacons) into it at each rate for ``--seconds``, plus ``--noise`` ordinary 802.11 data frames
per drone frame (what the kernel BPF filter drops). This process runs what ``dronewatch serve
--wifi IFACE`` runs without HTTP: the Wi-Fi source, decoding, the tracking pipeline and the
SQLite writer. Per rate it prints: frames written, frames stored, drops (queue and kernel),
latency p50/p99/max from the kernel's receive time of a frame (it is stamped in the write to
the TUN device) to the commit of its observation, the CPU time of this process per second
of stream and per frame written (us/frm: the figure to compare on a loaded machine), and the
kernel's share of it (sys).

``--compare-capture`` measures the receiving alone (no decoding) through the raw AF_PACKET
socket dronewatch uses and through libpcap (pcapy-ng, if installed): CPU microseconds per
frame at a fixed rate, the figure that chose AF_PACKET.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CAPTURE = ROOT / "tests" / "data" / "odid_wifi_bcn_sample.pcap"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _sys_cpu() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def writer(name: str, rate: float, seconds: float, noise: int, ready: Any, go: Any,
           done: Any) -> None:
    """Child: the TUN interface; frames at ``rate`` drone frames/s once ``go`` is set."""
    from tests.sources.tunutil import RadiotapTun

    from dronewatch.protocols import wifi
    from dronewatch.sources.pcap import read_packets

    packets = [bytes(d) for _t, _lt, d in read_packets(CAPTURE)]
    data_frame = wifi.build_radiotap(-40, 2437) + b"\x08\x02" + b"\x00" * 22 + b"\xaa" * 200
    tun = RadiotapTun(name)
    ready.set()
    go.wait()
    n = 0
    start = time.monotonic()
    end = start + seconds
    chunk = max(1, int(rate / 1000))  # write in ~1 ms steps
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - start) * rate)
        while n < due:
            for _ in range(min(chunk, due - n)):
                tun.write(packets[n % len(packets)])
                for _ in range(noise):
                    tun.write(data_frame)
                n += 1
        time.sleep(0.0005)
    done.put(n)
    time.sleep(2.0)  # let the reader finish before the interface disappears
    tun.close()


def run_rate(rate: float, seconds: float, noise: int, bpf: bool) -> dict[str, float]:
    from tests.sources.tunutil import unique_name

    from dronewatch.alerts.pipeline import TrackingPipeline
    from dronewatch.server.bus import EventBus
    from dronewatch.server.service import PipelineService, Processor, Writer
    from dronewatch.sources.live import LiveOptions, LiveSet
    from dronewatch.sources.wifi import WifiSource
    from dronewatch.store import Store

    name = unique_name("dwb")
    ctx = mp.get_context("spawn")
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Queue()
    child = ctx.Process(target=writer, args=(name, rate, seconds, noise, ready, go, done))
    child.start()
    ready.wait(60)
    tmp = tempfile.mkdtemp(prefix="dronewatch-bench-")
    store = Store.open(str(Path(tmp) / "bench.db"))
    source = WifiSource(name, LiveOptions(sensor_id="bench", extra={"hop": False, "bpf": bpf}))
    latencies: list[float] = []
    lock = threading.Lock()
    emit = source.emit

    def emit_with_ack(frames: list[Any], ack: Any = None) -> bool:
        times = [f.time for f in frames]

        def stored() -> None:
            now = time.time()
            with lock:
                latencies.extend(now - t for t in times)

        return emit(frames, stored)

    source.emit = emit_with_ack  # type: ignore[method-assign]
    processor = Processor(TrackingPipeline())
    writer_thread = Writer(store, processor.counters)
    writer_thread.start()
    bus = EventBus(1000)
    service = PipelineService(processor, writer_thread, bus, [], live=LiveSet([source]),
                              speed=0.0, realtime_clock=True, gc_freeze=True)
    sys.setswitchinterval(0.001)  # as `dronewatch serve` runs
    service.start()
    while source._sock is None:
        time.sleep(0.01)
    cpu0, sys0, wall0 = _cpu(), _sys_cpu(), time.monotonic()
    go.set()
    written = done.get(timeout=seconds + 60)
    deadline = time.monotonic() + 10
    while len(latencies) < written and time.monotonic() < deadline:
        time.sleep(0.05)
    cpu = _cpu() - cpu0
    sys_cpu = _sys_cpu() - sys0
    wall = time.monotonic() - wall0
    service.stop()
    writer_thread.stop()
    health = source.health()
    source.stop()
    child.join(10)
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return 1000 * lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

    return {
        "rate": rate, "written": written, "stored": len(lat), "drops": health.drops,
        "kernel_drops": health.detail["kernel_drops"], "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        "max_ms": 1000 * lat[-1] if lat else float("nan"), "cpu_per_s": cpu / wall,
        "us_per_frame": 1e6 * cpu / max(written, 1), "sys_share": sys_cpu / cpu if cpu else 0.0,
    }


def compare_capture(rate: float, seconds: float, noise: int) -> None:
    """CPU per drone frame written: AF_PACKET recvmsg (dronewatch), with and without its BPF
    filter, vs libpcap (pcapy-ng); ``noise`` data frames per drone frame."""
    import select
    import socket

    from tests.sources.tunutil import unique_name

    from dronewatch.sources.wifi import (
        _CMSG_SPACE,
        ETH_P_ALL,
        MGMT_FILTER,
        SO_TIMESTAMPNS,
        attach_filter,
    )

    def af_packet(name: str, bpf: bool = False) -> int:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        if bpf:
            attach_filter(sock, MGMT_FILTER)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((name, ETH_P_ALL))
        sock.setblocking(False)
        n = 0
        try:  # until the writer's interface goes away
            while True:
                select.select([sock], [], [], 0.25)
                try:
                    while True:
                        sock.recvmsg(4096, _CMSG_SPACE)
                        n += 1
                except BlockingIOError:
                    pass
        except OSError:
            sock.close()
        return n

    def libpcap(name: str) -> int:
        import pcapy  # pcapy-ng

        cap = pcapy.open_live(name, 4096, 1, 250)
        n = 0
        try:  # until the writer's interface goes away
            while True:
                header, _data = cap.next()
                if header is not None and header.getlen():
                    n += 1
        except pcapy.PcapError:
            return n

    readers: dict[str, Any] = {
        "AF_PACKET recvmsg": af_packet,
        "AF_PACKET + BPF": lambda name: af_packet(name, True),
    }
    try:
        import pcapy  # noqa: F401

        readers["libpcap (pcapy-ng)"] = libpcap
    except ImportError:
        print("libpcap: pcapy-ng is not installed (pip install pcapy-ng) - skipped")
    ctx = mp.get_context("spawn")
    for label, read in readers.items():
        name = unique_name("dwc")
        ready, go, done = ctx.Event(), ctx.Event(), ctx.Queue()
        child = ctx.Process(target=writer, args=(name, rate, seconds, noise, ready, go, done))
        child.start()
        ready.wait(60)
        result: dict[str, int] = {}
        thread = threading.Thread(target=lambda r=read, m=name, o=result: o.update(n=r(m)))
        cpu0 = _cpu()
        thread.start()
        time.sleep(0.5)
        go.set()
        written = done.get(timeout=seconds + 60)
        thread.join()
        cpu = _cpu() - cpu0
        child.join(10)
        n = result.get("n", 0)
        print(f"{label:22s} {n} frames received of {written} drone frames written "
              f"(+{noise} data frames each): {1e6 * cpu / max(written, 1):.1f} us CPU per drone frame")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", default="2000,5000,8000", help="drone frames/s, comma-separated")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--noise", type=int, default=0, help="data frames per drone frame")
    ap.add_argument("--no-bpf", action="store_true", help="receive without the kernel filter")
    ap.add_argument("--compare-capture", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0 or not Path("/dev/net/tun").exists():
        sys.exit("needs root and /dev/net/tun (a TUN interface stands in for the card)")
    print(f"load: {os.getloadavg()} on {os.cpu_count()} cores")
    if a.compare_capture:
        compare_capture(float(a.rates.split(",")[0]), min(a.seconds, 10.0), a.noise)
        return
    print(f"{'rate/s':>7} {'written':>8} {'stored':>8} {'drops':>6} {'kdrops':>6} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'CPU/s':>6} {'us/frm':>6} {'sys':>4}  (BPF {'off' if a.no_bpf else 'on'}"
          f", {a.noise} data frames per drone frame)")
    for rate in (float(r) for r in a.rates.split(",")):
        r = run_rate(rate, a.seconds, a.noise, not a.no_bpf)
        print(f"{r['rate']:7.0f} {r['written']:8.0f} {r['stored']:8.0f} {r['drops']:6.0f} "
              f"{r['kernel_drops']:6.0f} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} {r['max_ms']:7.1f} "
              f"{r['cpu_per_s']:6.2f} {r['us_per_frame']:6.1f} {r['sys_share']:4.0%}", flush=True)


if __name__ == "__main__":
    main()
