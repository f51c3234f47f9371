"""Capture streams: how long after a frame arrives ``dronewatch decode --json -`` prints its
messages, as a user pipes a live capture into it.

Run (root, /dev/net/tun, dumpcap for the second case): .venv/bin/python bench/stream_latency.py
     [--frames 200] [--rate 20]

Two pipelines, each started once (start-up not counted), then fed the real Remote ID beacons of
tests/data/odid_wifi_bcn_sample.pcap one frame at a time, ``--rate`` frames a second:

* ``cat capture.pcap | dronewatch decode --json -``: this process writes the pcap header, then
  each packet record into the pipe;
* ``dumpcap -i IFACE -w - | dronewatch decode --json -`` and the same with ``tcpdump -U
  --immediate-mode -w -``: each radiotap frame is written into a TUN interface of the radiotap
  link type (a monitor card, see tests/sources/tunutil.py) and the capture tool takes it from
  the kernel. dumpcap (Wireshark 4.0) hands libpcap's packets on in blocks, every 250 ms at a
  low rate (its libpcap timeout, no immediate mode): that delay is dumpcap's, not decode's.

Per frame: the time from the write to the last of its messages read from decode's stdout.
Prints p50/p99/max in milliseconds per pipeline (the issue's bound: 100 ms) and the load.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CAPTURE = ROOT / "tests" / "data" / "odid_wifi_bcn_sample.pcap"
DRONEWATCH = str(Path(sys.executable).parent / "dronewatch")


def packets_with_messages() -> tuple[int, list[tuple[bytes, int]]]:
    """The capture's link type and its packets that carry drone messages, each with how many
    JSON lines decode prints for it."""
    from dronewatch.decode import decode_frames
    from dronewatch.sources import CaptureOptions
    from dronewatch.sources.pcap import read_packets
    from dronewatch.sources.pcap_frames import parse_packets
    from dronewatch.stats import DecodeStats

    out = []
    linktype = 0
    for packet in read_packets(CAPTURE):
        linktype = packet[1]
        frames = list(parse_packets([packet], CaptureOptions(), DecodeStats()))
        n = len(list(decode_frames(frames)))
        if n:
            out.append((bytes(packet[2]), n))
    return linktype, out


class Lines:
    """Counts the lines a process prints (read unbuffered: select() sees only the pipe)."""

    def __init__(self, stdout: IO[bytes]) -> None:
        self.fd = stdout.fileno()
        self.ready = 0

    def wait(self, n: int, timeout: float) -> None:
        """Until ``n`` more lines have been printed (raises after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while self.ready < n:
            ready, _, _ = select.select([self.fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                raise TimeoutError("decode printed nothing")
            self.ready += os.read(self.fd, 1 << 20).count(b"\n")
        self.ready -= n


def percentiles(values: list[float]) -> str:
    v = sorted(values)
    p = lambda q: v[min(len(v) - 1, int(q * len(v)))] * 1e3  # noqa: E731
    return f"p50 {p(0.5):6.1f} ms   p99 {p(0.99):6.1f} ms   max {v[-1] * 1e3:6.1f} ms"


def run(feed: list[tuple[bytes, int]], write: Callable[[bytes], None], stdout: IO[bytes],
        rate: float, frames: int) -> list[float]:
    # The first frame waits for the interpreter to start; it is not counted.
    lines = Lines(stdout)
    data, n = feed[0]
    write(data)
    lines.wait(n, 120.0)
    lat = []
    for i in range(frames):
        data, n = feed[1 + i % (len(feed) - 1)]
        t0 = time.monotonic()
        write(data)
        lines.wait(n, 10.0)
        lat.append(time.monotonic() - t0)
        time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - t0)))
    return lat


def pipe_case(linktype: int, feed: list[tuple[bytes, int]], rate: float, frames: int) -> None:
    proc = subprocess.Popen([DRONEWATCH, "decode", "--json", "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin
    stdin.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))

    def write(data: bytes) -> None:
        t = time.time()
        sec = int(t)
        stdin.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(data), len(data)) + data)
        stdin.flush()

    try:
        lat = run(feed, write, proc.stdout, rate, frames)
    finally:
        proc.kill()
    print(f"{'cat capture | decode --json -':<37}{percentiles(lat)}")


def capture_case(label: str, command: list[str], feed: list[tuple[bytes, int]], rate: float,
                 frames: int) -> None:
    """``command`` (with IFACE in it) captures from a radiotap TUN interface into decode."""
    from tests.sources.tunutil import RadiotapTun, unique_name

    if shutil.which(command[0]) is None:
        print(f"{command[0]} not found: {label} not run")
        return
    with RadiotapTun(unique_name("dwlat")) as tun:
        cap = subprocess.Popen([tun.name if a == "IFACE" else a for a in command],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        proc = subprocess.Popen([DRONEWATCH, "decode", "--json", "-"], stdin=cap.stdout,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        try:
            time.sleep(1.0)  # the capture opens the interface
            lat = run(feed, tun.write, proc.stdout, rate, frames)
        finally:
            proc.kill()
            cap.kill()
    print(f"{label:<37}{percentiles(lat)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0, help="frames per second")
    args = ap.parse_args()
    linktype, feed = packets_with_messages()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{args.frames} frames at {args.rate:g}/s")
    pipe_case(linktype, feed, args.rate, args.frames)
    capture_case("dumpcap -w - | decode --json -", ["dumpcap", "-q", "-i", "IFACE", "-w", "-"],
                 feed, args.rate, args.frames)
    capture_case("tcpdump -U --immediate-mode -w - | ..",
                 ["tcpdump", "-q", "-U", "--immediate-mode", "-i", "IFACE", "-w", "-"],
                 feed, args.rate, args.frames)


if __name__ == "__main__":
    main()
