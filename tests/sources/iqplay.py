"""Play a live-like IQ stream at the real sample rate (a test helper and a script).

``python iqplay.py FORMAT RATE SECONDS PERIOD (--out PATH | --zmq URL)``: noise with one
DroneID burst (the real Mavic Air 2 blocks, alternating) every PERIOD seconds, at
``BURST_AT_S`` into each period, written paced to the wall clock to PATH (a FIFO, ``-`` for
stdout) or published on a ZMQ PUB socket as complex64 (GNU Radio's ZMQ PUB Sink). Prints a
JSON summary on stderr when done.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "data"
BURST_AT_S = 0.1
BURST_FREQ_HZ = 1.5e6
SNR_DB = 12.0
WRITE_S = 0.02  # paced in pieces this long


def blocks() -> list[bytes]:
    data = json.loads((DATA / "mavic_air_2.expected.json").read_text())
    return [bytes.fromhex(b["block_hex"])[:173] for b in data]


def period_samples(rate: float, period_s: float, payload: bytes, seed: int) -> np.ndarray:
    from dronewatch.phy.ocusync.transmitter import transmit

    rng = np.random.default_rng(seed)
    n = int(period_s * rate)
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    # noise power 2 over the whole rate; burst in-band SNR over its 9 MHz
    noise_in_band = 2.0 * 9e6 / rate
    amp = float(np.sqrt(noise_in_band * 10 ** (SNR_DB / 10)))
    b = transmit(payload, sample_rate=rate, freq_offset_hz=BURST_FREQ_HZ, amplitude=amp)
    s = int(BURST_AT_S * rate)
    x[s : s + len(b)] += b.astype(np.complex64)
    return x * np.complex64(0.02)


def encode(x: np.ndarray, fmt: str) -> bytes:
    if fmt == "cf32":
        return x.astype(np.complex64).tobytes()
    scale, dtype, offset = {"ci16": (32767, np.int16, 0), "ci8": (127, np.int8, 0),
                            "cu8": (127, np.uint8, 128)}[fmt]
    v = np.empty(2 * len(x), np.float32)
    v[0::2], v[1::2] = x.real, x.imag
    lim = np.iinfo(dtype)
    return np.clip(np.round(v * scale) + offset, lim.min, lim.max).astype(dtype).tobytes()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("format")
    ap.add_argument("rate", type=float)
    ap.add_argument("seconds", type=float)
    ap.add_argument("period", type=float)
    ap.add_argument("--out")
    ap.add_argument("--zmq")
    ap.add_argument("--push", action="store_true", help="ZMQ PUSH (back-pressure) not PUB")
    args = ap.parse_args()
    payloads = blocks()[:2]
    fmt = args.format  # (GNU Radio's ZMQ sinks send Complex Float or Complex Short items)
    periods = [encode(period_samples(args.rate, args.period, p, i), fmt)
               for i, p in enumerate(payloads)]
    n_periods = round(args.seconds / args.period)
    piece = int(WRITE_S * args.rate) * (8 if fmt == "cf32" else 2 * np.dtype(
        {"ci16": np.int16, "ci8": np.int8, "cu8": np.uint8}[fmt]).itemsize)
    if args.zmq:
        import zmq

        sock = zmq.Context.instance().socket(zmq.PUSH if args.push else zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, 100000)
        sock.bind(args.zmq)
        time.sleep(1.0)  # let the subscriber connect (PUB drops before that)

        def write(b: bytes) -> None:
            sock.send(b)
    else:
        out = sys.stdout.buffer if args.out in (None, "-") else open(args.out, "wb")  # noqa: SIM115

        def write(b: bytes) -> None:
            out.write(b)
            out.flush()
    t0 = time.monotonic()
    due = t0
    for k in range(n_periods):
        data = periods[k % len(periods)]
        for i in range(0, len(data), piece):
            write(data[i : i + piece])
            # Real rate, no catching up after a blocked write (the reader was not ready).
            due = max(due, time.monotonic() - WRITE_S) + WRITE_S
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    if args.zmq:
        time.sleep(0.5)
    print(json.dumps({"periods": n_periods, "bursts": n_periods,
                      "wall_s": round(time.monotonic() - t0, 3)}), file=sys.stderr)


if __name__ == "__main__":
    main()
