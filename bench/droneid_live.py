"""Live DroneID reception (issue 11): an IQ stream played by another process, through a pipe
(raw ci16 on a FIFO, as from ``hackrf_transfer``/``rx_sdr``) or GNU Radio ZMQ (ci16, "Complex
Short" items, or cf32 with ``--zmq-format cf32``), into the
``iq:``/``zmq:`` live source (sample counter, bounded DSP queue, the OcuSync receiver).

The player builds the stream as it goes (a noise pool plus bursts): ``--drones`` drones, each
sending one burst every 600 ms from a random start, each burst on a random hop channel inside
the capture and at a random in-band SNR from -2 to 20 dB (distinct payloads). It plays at the
real rate (``--paced``) or as fast as the pipe takes it.

Prints: capture-seconds per wall-second (real-time factor), CPU-seconds of the receiving
process per capture-second, bursts present / decodable (>= 0 dB, overlapping no other burst in
time and frequency) / decoded, false decodes (a CRC-checked payload that was not sent),
samples dropped (whole blocks the receiver could not take), max RSS and RSS sampled every second
(start, end, series, growth of the second half's peak over the first half's), start-up, and the load
average (the machine is shared: figures under load are not the receiver's alone).

    .venv/bin/python bench/droneid_live.py --drones 1 --seconds 10 --via pipe --paced
    .venv/bin/python bench/droneid_live.py --drones 10 --seconds 10 --via zmq
    .venv/bin/python bench/droneid_live.py --drones 10 --seconds 10 --via zmq-push --paced
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

T_START = time.monotonic()
FS_DEFAULT = 50e6
PERIOD_S = 0.6
BLOCK_S = 0.05
NOISE_STD = 200.0  # LSB per component
OFFSETS_HZ = (-15e6, -7.5e6, 0.0, 7.5e6, 15e6)  # hop channels inside a 50 MS/s capture
BURST_S = 650e-6


@dataclass(slots=True, frozen=True)
class Burst:
    start: int
    freq_hz: float
    snr_db: float
    payload: bytes


def schedule(seed: int, seconds: float, drones: int, rate: float) -> list[Burst]:
    rng = np.random.default_rng(seed)
    scale = rate / FS_DEFAULT
    out: list[Burst] = []
    for d in range(drones):
        t = float(rng.uniform(0.0, PERIOD_S))
        seq = 0
        while t + BURST_S < seconds - 0.01:
            body = bytes(rng.integers(0, 256, 168, dtype=np.uint8))
            payload = bytes([0x58, 0x10, d, seq & 0xFF, seq >> 8]) + body
            off = float(rng.choice(OFFSETS_HZ)) * min(1.0, scale) + float(rng.uniform(-3e3, 3e3))
            out.append(Burst(int(t * rate), off, float(rng.uniform(-2.0, 20.0)), payload))
            t += PERIOD_S
            seq += 1
    out.sort(key=lambda b: b.start)
    return out


def decodable(bursts: list[Burst], rate: float) -> list[Burst]:
    n = int(BURST_S * rate)
    out = []
    for b in bursts:
        if b.snr_db < 0:
            continue
        clash = any(o is not b and abs(o.start - b.start) < n and abs(o.freq_hz - b.freq_hz) < 9e6
                    for o in bursts)
        if not clash:
            out.append(b)
    return out


# -- the player (a separate process) --------------------------------------------------------


def stream_blocks(seed: int, seconds: float, drones: int, rate: float, cf32: bool,
                  block: int) -> Iterator[np.ndarray]:
    """The played stream, ``block`` samples at a time: interleaved float32 scaled to +-1
    (``cf32``) or int16 (ci16). Deterministic in its arguments (tests replay it)."""
    from dronewatch.phy.ocusync.transmitter import transmit

    bursts = schedule(seed, seconds, drones, rate)
    rng = np.random.default_rng(seed + 1)
    pool_n = int(0.25 * rate)
    # The noise pool in the output format: a block without a burst is a slice of it.
    noise_f = rng.standard_normal(2 * pool_n) * NOISE_STD
    noise = ((noise_f / 32768.0).astype(np.float32) if cf32
             else np.clip(np.round(noise_f), -32768, 32767).astype(np.int16))
    del noise_f
    in_band = 2 * NOISE_STD**2 * 9e6 / rate  # noise power in 9 MHz
    total = int(seconds * rate)
    waves: dict[int, np.ndarray] = {}

    def wave(i: int) -> np.ndarray:
        b = bursts[i]
        amp = float(np.sqrt(10 ** (b.snr_db / 10) * in_band))
        w = transmit(b.payload, sample_rate=rate, freq_offset_hz=b.freq_hz, amplitude=amp)
        v = np.empty(2 * len(w), np.float32)
        v[0::2], v[1::2] = w.real, w.imag
        if cf32:  # (this scaling once missed the burst's first block: 90 dB strong)
            v /= 32768.0
        return v

    # The first second's bursts (one per drone) before the first block: a player paced from
    # its first block must not fall behind making them, then catch up faster than real time.
    for i, b in enumerate(bursts):
        if b.start < rate:
            waves[i] = wave(i)
    longest = int(1e-3 * rate)
    pos = 0
    k = 0
    lo = 0  # the first burst that may still reach into the stream
    while pos < total:
        n = min(block, total - pos)
        off = (k * 7_919_993) % (pool_n - n)
        x = noise[2 * off : 2 * (off + n)]
        copied = False
        while lo < len(bursts) and bursts[lo].start + longest <= pos:
            waves.pop(lo, None)
            lo += 1
        i = lo
        while i < len(bursts) and bursts[i].start < pos + n:
            b = bursts[i]
            v = waves.get(i)
            if v is None:
                v = waves[i] = wave(i)
            a = max(pos, b.start)
            e = min(pos + n, b.start + len(v) // 2)
            if e > a:
                if not copied:
                    x = x.copy()
                    copied = True
                seg = x[2 * (a - pos) : 2 * (e - pos)]
                add = v[2 * (a - b.start) : 2 * (e - b.start)]
                if cf32:
                    seg += add
                else:
                    seg[:] = np.clip(np.round(seg + add), -32768, 32767).astype(np.int16)
            i += 1
        yield x
        pos += n
        k += 1


def play(args: argparse.Namespace) -> None:
    rate = args.rate
    zmq_via = args.via.startswith("zmq")
    cf32 = zmq_via and args.zmq_format == "cf32"
    # ZMQ: 1-2 MB messages (--zmq-items: GNU Radio sends one per work() call, tens of kB)
    block = (args.zmq_items or int(BLOCK_S / 10 * rate)) if zmq_via else int(BLOCK_S * rate)
    if zmq_via:
        import zmq

        # zmq-push: GNU Radio's ZMQ PUSH Sink (waits for the reader); zmq: its PUB Sink.
        push = args.via == "zmq-push"
        sock = zmq.Context.instance().socket(zmq.PUSH if push else zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, 64)
        sock.bind(args.zmq)
        time.sleep(1.5)  # the subscriber connects (PUB drops before that)

        def write(b: np.ndarray) -> None:
            # zero-copy: ZMQ keeps a reference until sent (the noise pool is never written,
            # a block with a burst is a fresh copy)
            sock.send(memoryview(b), copy=False)
    else:
        out = open(args.out, "wb", buffering=0)  # noqa: SIM115

        def write(b: np.ndarray) -> None:
            out.write(memoryview(b))

    blocks = stream_blocks(args.seed, args.seconds, args.drones, rate, cf32, block)
    first = next(blocks)  # (the transmitter's kernels load here, before the clock starts:
    t0 = time.monotonic()  # a player that starts late must not catch up faster than real time)
    pos = 0
    for x in itertools.chain([first], blocks):
        write(x)
        pos += len(x) // 2
        if args.paced:
            delay = t0 + pos / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    if zmq_via:
        time.sleep(1.0)
    print(json.dumps({"wall_s": round(time.monotonic() - t0, 2)}), file=sys.stderr)


# -- the receiver (this process) ------------------------------------------------------------


def receive(args: argparse.Namespace) -> dict[str, object]:
    from dronewatch.sources.live import LiveOptions, open_live

    rate = args.rate
    tmp = Path(tempfile.mkdtemp(prefix="dw-live-"))
    cmd = [sys.executable, __file__, "--play", "--seconds", str(args.seconds), "--drones",
           str(args.drones), "--seed", str(args.seed), "--rate", str(rate), "--via", args.via,
           "--zmq-format", args.zmq_format, "--zmq-items", str(args.zmq_items)]
    if args.paced:
        cmd.append("--paced")
    # Played as fast as possible: measure how fast the receiver goes (it waits, no drops).
    extra: dict[str, object] = {"sample_rate_hz": rate, "center_freq_hz": 2429.5e6,
                                "iq_backpressure": not args.paced}
    if args.via.startswith("zmq"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        cmd += ["--zmq", url]
        spec = f"zmq:{url}?format={args.zmq_format}"
        if args.via == "zmq-push":
            spec += "&pattern=pull"
    else:
        fifo = tmp / "iq.fifo"
        os.mkfifo(fifo)
        cmd += ["--out", str(fifo)]
        spec = f"iq:{fifo}"
        extra["iq_format"] = "ci16"
    source = open_live(spec, LiveOptions(extra=extra))
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    source.start()
    # Start-up: until the source reads its input (the kernels load in a DSP worker meanwhile,
    # the first samples wait in its queue; warm_up_s says how long that took).
    startup_s = time.monotonic() - T_START
    startup_cpu_s = time.process_time()  # (the same, in CPU time: less sensitive to load)
    player = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    frames = []
    rss_mb: list[int] = []  # sampled every second: flat means bounded
    next_rss = time.monotonic()
    page = os.sysconf("SC_PAGE_SIZE")
    first: float | None = None
    caught: float | None = None
    total = int(args.seconds * rate)
    deadline = time.monotonic() + 10 * args.seconds + 60
    while time.monotonic() < deadline:
        batch = source.get(0.25)
        if batch is not None:
            frames += batch.frames
        d = source.health().detail
        if time.monotonic() >= next_rss:
            with open("/proc/self/statm") as fh:
                rss_mb.append(int(fh.read().split()[1]) * page >> 20)
            next_rss += 1.0
        if first is None and d["samples"]:
            first = time.monotonic()
        if caught is None and d["samples"] >= total and d["queued_samples"] == 0:
            caught = time.monotonic()  # all of it read and analysed (ZMQ has no end of stream)
        if source.done:
            break
        if args.via.startswith("zmq") and player.poll() is not None and d["queued_samples"] == 0:
            time.sleep(1.0)  # the last messages
            if source.health().detail["queued_samples"] == 0:
                break
    end = caught if caught is not None and args.via.startswith("zmq") else time.monotonic()
    source.stop()
    player.wait(30)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    d = source.health().detail
    capture_s = d["samples"] / rate
    sent = schedule(args.seed, args.seconds, args.drones, rate)
    ok = decodable(sent, rate)
    by_payload = {b.payload: b for b in sent}
    got = {f.payload: f for f in frames}
    # Every frame is checked (a payload decoded twice, once at a wrong time, is a false decode).
    false_frames = [f for f in frames if f.payload not in by_payload
                    or abs(f.extra["sample_offset"] - by_payload[f.payload].start) > 200]
    false = [f.payload for f in false_frames]
    duplicates = len(frames) - len(got)
    decoded_ok = [b for b in ok if b.payload in got]
    decoded_all = [b for b in sent if b.payload in got]
    missed_low = sorted(round(b.snr_db, 1) for b in ok if b.payload not in got)
    wall = end - (first or end)
    return {
        "via": args.via + (f" {args.zmq_format}" if args.via.startswith("zmq") else ""),
        "drones": args.drones, "paced": args.paced, "rate_msps": rate / 1e6,
        "capture_s": round(capture_s, 2), "wall_s": round(wall, 2),
        "realtime_factor": round(capture_s / wall, 2) if wall else None,
        "cpu_s_per_capture_s": round(cpu / capture_s, 2) if capture_s else None,
        "bursts_sent": len(sent), "decodable": len(ok), "decodable_decoded": len(decoded_ok),
        "decoded_total": len(decoded_all), "false_decodes": len(false),
        "missed_decodable_snr_db": missed_low[:20],
        # (decoded offset, payload head, where it was sent or None, its SNR)
        "duplicate_decodes": duplicates,
        "duplicate_detail": [(f.extra["sample_offset"], f.payload[:5].hex(),
                              f.extra["freq_offset_hz"], f.extra["snr_db"], f.extra["layout"],
                              f.extra.get("combined_bursts", 1))
                             for f in frames if sum(g.payload == f.payload for g in frames) > 1
                             ][:20],
        "false_detail": [(f.extra["sample_offset"], f.payload[:5].hex(),
                          by_payload[f.payload].start if f.payload in by_payload else None,
                          round(by_payload[f.payload].snr_db, 1)
                          if f.payload in by_payload else None)
                         for f in false_frames][:10],
        "dropped_samples": d["dropped_samples"], "blocks_dropped": d["blocks_dropped"],
        "max_rss_mb": round(ru1.ru_maxrss / 1024),
        # RSS sampled every second from the stream's start: flat means bounded
        "rss_mb_start": rss_mb[0] if rss_mb else None,
        "rss_mb_end": rss_mb[-1] if rss_mb else None,
        "rss_mb_max_sampled": max(rss_mb) if rss_mb else None,
        "rss_mb_series": rss_mb[:: max(1, len(rss_mb) // 12)],
        "rss_mb_growth_second_half": (max(rss_mb[len(rss_mb) // 2 :]) - max(
            rss_mb[: len(rss_mb) // 2 + 1])) if len(rss_mb) > 2 else None,
        "startup_s": round(startup_s, 3), "startup_cpu_s": round(startup_cpu_s, 3),
        "warm_up_s": d.get("warm_up_s"),
        "load_avg": os.getloadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--drones", type=int, default=1)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--rate", type=float, default=FS_DEFAULT)
    ap.add_argument("--via", choices=("pipe", "zmq", "zmq-push"), default="pipe")
    ap.add_argument("--paced", action="store_true", help="play at the real sample rate")
    ap.add_argument("--zmq-format", choices=("ci16", "cf32"), default="ci16",
                    help="ZMQ items: complex shorts (half the bytes) or complex floats")
    ap.add_argument("--zmq-items", type=int, default=0,
                    help="samples per ZMQ message (default 250000; GNU Radio: ~4096-65536)")
    ap.add_argument("--play", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--zmq", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.play:
        play(args)
        return
    print(json.dumps(receive(args)))


if __name__ == "__main__":
    main()
