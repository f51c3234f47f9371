"""DroneID OcuSync receiver throughput: capture seconds per wall second at 50 MS/s.

Writes a long synthetic cf32 capture (default 6 s at 50 MS/s, 2.4 GB in a temp dir): noise
plus several drones, each sending a DroneID burst every ~600 ms on its own hop channel at
10-25 dB in-band SNR. Then times ``dronewatch.sources.iq.read_frames`` over the whole file
(file reading, detection, sync, decoding), start-up (imports, JIT) excluded, and prints the
real-time factor and the decode count.

    .venv/bin/python bench/droneid_speed.py [--seconds 6] [--drones 4] [--keep PATH]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from dronewatch.phy.ocusync.channel import awgn, noise_variance
from dronewatch.phy.ocusync.numerology import Layout
from dronewatch.phy.ocusync.transmitter import transmit
from dronewatch.sources import CaptureOptions
from dronewatch.sources.iq import read_frames
from dronewatch.stats import DecodeStats

FS = 50e6
CHANNELS = (-15e6, -7.5e6, 2.0e6, 12.5e6, -12.46e6, 7.5e6)


def write_capture(path: Path, seconds: float, drones: int, rng: np.random.Generator) -> int:
    """Noise + bursts into ``path`` (cf32); returns the number of complete bursts written."""
    n_total = int(seconds * FS)
    noise_var = noise_variance(1.0, 0.0, FS)  # unit-power burst at 0 dB -> scale below
    events: list[tuple[int, np.ndarray]] = []
    for d in range(drones):
        t = float(rng.uniform(0.0, 0.6))
        chan = CHANNELS[d % len(CHANNELS)]
        layout = Layout.SYM9 if d % 3 else Layout.SYM8
        while True:
            start = int(t * FS)
            payload = bytes(rng.integers(0, 256, 173, dtype=np.uint8))
            snr = float(rng.uniform(10, 25))
            burst = transmit(
                payload,
                sample_rate=FS,
                freq_offset_hz=chan + rng.uniform(-2e4, 2e4),
                layout=layout,
                amplitude=float(np.sqrt(10 ** (snr / 10))),
            )
            if start + len(burst) >= n_total:
                break
            events.append((start, burst))
            t += float(rng.uniform(0.58, 0.64))
    events.sort(key=lambda e: e[0])
    chunk = 1 << 22
    with path.open("wb") as fh:
        for lo in range(0, n_total, chunk):
            hi = min(n_total, lo + chunk)
            x = awgn(hi - lo, noise_var, rng)
            for start, burst in events:
                a, b = max(lo, start), min(hi, start + len(burst))
                if a < b:
                    x[a - lo : b - lo] += burst[a - start : b - start]
            x.tofile(fh)
    return len(events)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--drones", type=int, default=4)
    ap.add_argument("--keep", type=Path, help="write/keep the capture here (reused if present)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    tmp = None
    if args.keep is not None:
        path = args.keep
    else:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "speed.cf32"
    if not path.exists():
        t0 = time.perf_counter()
        n = write_capture(path, args.seconds, args.drones, rng)
        print(
            f"wrote {path} ({os.path.getsize(path) / 1e9:.2f} GB, {n} bursts) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
    seconds = os.path.getsize(path) / 8 / FS
    opts = CaptureOptions(iq_format="cf32", sample_rate_hz=FS)
    # Start-up: imports and JIT compilation on a tiny file.
    with tempfile.TemporaryDirectory() as d:
        small = Path(d) / "warm.cf32"
        warm = np.concatenate(
            [
                np.zeros(20000, np.complex64),
                transmit(bytes(173), sample_rate=FS),
                np.zeros(60000, np.complex64),
            ]
        )
        warm.astype(np.complex64).tofile(small)
        list(read_frames(small, opts, DecodeStats()))
    stats = DecodeStats()
    t0, c0 = time.perf_counter(), time.process_time()
    frames = list(read_frames(path, opts, stats))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"capture {seconds:.2f} s at {FS / 1e6:g} MS/s, {args.drones} drones: "
        f"{len(frames)} frames decoded, {stats.summary()}"
    )
    print(
        f"wall {wall:.2f} s -> real-time factor {seconds / wall:.2f} "
        f"(capture seconds per wall second, {os.cpu_count()} CPUs)"
    )
    print(
        f"CPU {cpu:.2f} s (all threads) -> {seconds / cpu:.2f} capture seconds per CPU second; "
        f"load average now {os.getloadavg()[0]:.1f} (other work on the machine slows the wall "
        "figure)"
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
