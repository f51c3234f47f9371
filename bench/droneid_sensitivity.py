"""DroneID OcuSync receiver sensitivity: frame success vs in-band SNR.

Synthetic 50 MS/s captures, one burst each (random 173-byte payload, 9- or 8-symbol layout),
on a random hop channel inside the capture, CFO uniform in +-25 kHz, random carrier phase and
fractional timing, AWGN at the given in-band SNR (burst power / noise power in 601 x 15 kHz).
Success = the receiver returns exactly the transmitted 173-byte block with CRC-24A ok.

    .venv/bin/python bench/droneid_sensitivity.py                 # 100 bursts per point
    .venv/bin/python bench/droneid_sensitivity.py --bursts 20     # quick check
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dronewatch.phy.ocusync.channel import Impairments, apply
from dronewatch.phy.ocusync.numerology import Layout
from dronewatch.phy.ocusync.receiver import receive
from dronewatch.phy.ocusync.transmitter import transmit

FS = 50e6
CHANNELS_HZ = (-15e6, -7.5e6, 0.0, 2.0e6, 12.5e6)


def trial(
    snr_db: float, layout: Layout, rng: np.random.Generator, extra: Impairments, cfo_hz: float
) -> bool:
    payload = bytes(rng.integers(0, 256, 173, dtype=np.uint8))
    chan = float(rng.choice(CHANNELS_HZ))
    burst = transmit(payload, sample_rate=FS, freq_offset_hz=chan, layout=layout)
    imp = Impairments(
        snr_db=snr_db,
        cfo_hz=float(rng.uniform(-cfo_hz, cfo_hz)),
        phase_rad=float(rng.uniform(0, 2 * np.pi)),
        delay_samples=float(rng.uniform(0, 1)),
        clock_ppm=extra.clock_ppm,
        taps=extra.taps,
    )
    pad = int(rng.integers(int(0.5e-3 * FS), int(1.5e-3 * FS)))
    x = apply(burst, FS, imp, rng, pad_before=pad, pad_after=int(1e-3 * FS))
    return any(r.crc_ok and r.payload == payload for r in receive(x, FS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bursts", type=int, default=100, help="bursts per SNR point")
    ap.add_argument(
        "--snr",
        type=float,
        nargs="*",
        default=[-5.0, -4.0, -3.0, -2.5, -2.0, -1.0, 0.0, 2.0, 5.0, 10.0],
    )
    ap.add_argument("--layout", choices=["9", "8", "mixed"], default="mixed")
    ap.add_argument("--ppm", type=float, default=0.0, help="sample clock offset")
    ap.add_argument("--multipath", action="store_true", help="3-tap channel (0, 0.3 us, 1 us)")
    ap.add_argument("--cfo-khz", type=float, default=25.0, help="CFO uniform in +-this")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    taps: tuple[tuple[float, complex], ...] = ()
    if args.multipath:
        taps = ((0.0, 1.0 + 0j), (15.0, 0.5 * np.exp(1j)), (50.0, 0.25 * np.exp(2j)))
    extra = Impairments(clock_ppm=args.ppm, taps=taps)
    receive(transmit(bytes(173), sample_rate=FS), FS)  # warm-up (JIT)
    print(
        f"DroneID sensitivity, {FS / 1e6:g} MS/s, layout {args.layout}, "
        f"{args.bursts} bursts/point, CFO +-{args.cfo_khz:g} kHz, ppm {args.ppm}, multipath {args.multipath}"
    )
    print(f"{'SNR dB':>7} {'success':>8} {'ok/n':>9} {'s/burst':>8}")
    for snr in args.snr:
        t0 = time.perf_counter()
        ok = 0
        for i in range(args.bursts):
            if args.layout == "mixed":
                layout = Layout.SYM9 if i % 2 == 0 else Layout.SYM8
            else:
                layout = Layout(int(args.layout))
            ok += trial(snr, layout, rng, extra, args.cfo_khz * 1e3)
        dt = (time.perf_counter() - t0) / args.bursts
        print(f"{snr:7.1f} {ok / args.bursts:8.2f} {ok:4d}/{args.bursts:<4d} {dt:8.3f}", flush=True)


if __name__ == "__main__":
    main()
