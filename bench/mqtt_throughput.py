"""Sensor network throughput: frames -> ``dronewatch sensor``'s publisher -> Mosquitto ->
the server's ``MqttSource``, both ends in this process, over the broker on 127.0.0.1:1883.

Run: .venv/bin/python bench/mqtt_throughput.py [--frames N] [--runs R] [--broker URL]

The frames are those of a real capture, repeated. Prints, for the best of R runs: frames/s
published (until the last batch is acknowledged) and received (until the last frame is out of
the source), and the CPU time per frame of both ends together (this process, all threads).
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from pathlib import Path

import msgspec

from dronewatch.model import Frame
from dronewatch.sinks.mqtt import FramePublisher, publish_frames
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.mqtt import MqttSource
from dronewatch.stats import DecodeStats

CAPTURE = Path(__file__).parents[1] / "tests" / "data" / "odid_wifi_sample.pcap"


def frames(n: int) -> list[Frame]:
    base = list(open_capture(CAPTURE, CaptureOptions(sensor_id="bench")))
    return [
        msgspec.structs.replace(base[i % len(base)], time=1.7e9 + i * 1e-3) for i in range(n)
    ]


def run(url: str, batch: list[Frame]) -> tuple[float, float, float]:
    """(publish wall s, receive wall s, CPU s) for one pass of ``batch``."""
    prefix = f"dronewatch-bench/{uuid.uuid4().hex[:8]}"
    stats = DecodeStats()
    source = MqttSource(url, prefix, stats, queue_batches=100_000)
    received = 0
    done = threading.Event()

    def consume() -> None:
        nonlocal received
        for got in source:
            received += len(got.frames)
            if received == len(batch):
                done.set()

    source.start()
    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    if not source.subscribed.wait(5.0):
        raise SystemExit(f"no broker at {url}")
    publisher = FramePublisher(url, "bench", topic_prefix=prefix)
    publisher.connect()
    cpu0, t0 = time.process_time(), time.perf_counter()
    publish_frames(batch, publisher, pace=False)
    unsent = publisher.close(60.0)
    t_pub = time.perf_counter() - t0
    if not done.wait(60.0) or unsent:
        raise SystemExit(f"lost frames: {received}/{len(batch)} received, {unsent} unsent")
    t_recv = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    source.stop()
    thread.join(5.0)
    return t_pub, t_recv, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    args = ap.parse_args()
    batch = frames(args.frames)
    results = [run(args.broker, batch) for _ in range(args.runs)]
    t_pub = min(r[0] for r in results)
    t_recv = min(r[1] for r in results)
    cpu = min(r[2] for r in results)
    n = len(batch)
    print(f"{n} frames in batches of up to 256, QoS 1, best of {args.runs}:")
    print(f"  published and acknowledged: {n / t_pub:,.0f} frames/s")
    print(f"  received by the source:     {n / t_recv:,.0f} frames/s")
    print(f"  CPU, both ends:             {cpu / n * 1e6:.2f} us/frame ({n / cpu:,.0f} frames/CPU-s)")


if __name__ == "__main__":
    main()
