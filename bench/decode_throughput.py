"""Decode throughput: frames/s of the whole ``dronewatch decode`` path on one core, vs tshark.

Run: .venv/bin/python bench/decode_throughput.py [--frames 200000] [--rebuild] [--no-tshark]
     [--path auto|scanned|reference] [--repeat 3] [--profile]

Builds once (cached in $TMPDIR/dronewatch-bench/) a pcapng of at least ``--frames`` drone
frames covering every link-layer transport, with realistic content made by the encoders:
50 drones flying, each one's Remote ID sent over Wi-Fi beacon (5-message packs), Wi-Fi NAN
(packs), Bluetooth legacy (one message per advert, types in rotation, radiotap/PHDR/Nordic
mix) and Bluetooth long range (packs), DJI DroneID telemetry beacons and French beacons;
plus 10 % ordinary traffic (plain Wi-Fi beacons, NAN sync beacons) and a few BLE packets with
a failed CRC.

Then it measures, single-threaded, best of ``--repeat`` runs:

* read:          the reference pcapng reader only (packets/s)
* read+link:     reader + link-layer parsing (frames/s)
* payload:       payload decoders over frames already in memory (frames/s)
* full decode:   reader + link + payload decoders, i.e. what ``dronewatch decode --json``
                 does before printing (frames/s and messages/s): the figure to compare
* CLI --json:    ``dronewatch decode --json FILE > /dev/null`` as a user runs it

``--path`` picks how captures are read: ``scanned`` (the compiled index and link scan with
the reference parsers as fallback), ``reference`` (the pure-Python parsers only) or ``auto``
(what ``dronewatch decode`` does: scanned for captures of ``FAST_PATH_MIN_BYTES`` or more).
The CLI line always runs ``auto``.

and, when ``tshark`` is installed, ``tshark -r FILE`` (one summary line per packet) and
``tshark -r FILE -V`` (full protocol tree), output to /dev/null, stating whether an
opendroneid dissector is loaded. All times are CPU seconds of one process (``process_time``,
``RUSAGE_CHILDREN`` for tshark), so other load on the machine does not skew them.
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from dronewatch.decode import decode_frames
from dronewatch.model import Frame, Transport
from dronewatch.protocols import ble, dji_wifi, fr_beacon, wifi
from dronewatch.protocols.astm import (
    BasicId,
    IdType,
    Location,
    OperatorId,
    SelfId,
    Status,
    System,
    UaType,
    encode,
    encode_pack,
)
from dronewatch.protocols.link import frames_from_packet, packet_from_frame
from dronewatch.sources import CaptureOptions
from dronewatch.sources import pcap_frames as pcap
from dronewatch.sources.pcap import PcapngWriter, read_packets
from dronewatch.sources.pcap_frames import read_frames
from dronewatch.stats import DecodeStats

VERSION = 1  # bump when the traffic model changes (invalidates the cache)
DRONES = 50
DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _dji_template() -> object:
    for t, lt, d in read_packets(DATA / "dji_wifi_spoofed_single.pcapng"):
        return dji_wifi.decode(frames_from_packet(lt, d, t)[0].payload)[0]
    raise SystemExit("no DJI template")


def build(path: Path, n_frames: int) -> dict[str, int]:
    """Write the benchmark capture; returns frames per transport."""
    dji = _dji_template()
    counts: dict[str, int] = {}
    written = 0
    t0 = 1_700_000_000.0
    step = 0
    tmp = path.with_suffix(".part")
    with PcapngWriter(tmp) as w:
        while written < n_frames:
            for d in range(DRONES):
                now = t0 + step * 0.1 + d * 0.001
                angle = step * 0.01 + d
                lat = 48.85 + 0.01 * math.sin(angle) + d * 1e-3
                lon = 2.35 + 0.01 * math.cos(angle)
                mac = f"02:00:00:00:{d >> 8:02x}:{d & 0xFF:02x}"
                uas = f"1581F{d:010d}"
                loc = Location(
                    status=Status.AIRBORNE,
                    direction=float(step % 360),
                    speed=12.5,
                    vspeed=0.5,
                    lat=lat,
                    lon=lon,
                    alt_baro=120.0,
                    alt_geo=150.0,
                    height=80.0,
                    horiz_accuracy=10.0,
                    vert_accuracy=3.0,
                    speed_accuracy=1.0,
                    timestamp=(step / 10) % 3600,
                    timestamp_accuracy=0.1,
                )
                static = [
                    BasicId(
                        id_type=IdType.SERIAL_NUMBER,
                        ua_type=UaType.HELICOPTER_OR_MULTIROTOR,
                        uas_id=uas,
                    ),
                    SelfId(description="bench flight"),
                    System(
                        operator_lat=48.85 + d * 1e-3,
                        operator_lon=2.35,
                        area_count=1,
                        operator_alt=40.0,
                        system_timestamp=float(int(now)),
                    ),
                    OperatorId(operator_id=f"FRA{d:013d}"),
                ]
                pack = encode_pack([static[0], loc, *static[1:]])
                counter = step & 0xFF
                kind = step % 8
                frames: list[tuple[Frame, int | None]] = []
                if kind in (0, 4):
                    frames.append(
                        (
                            Frame(
                                pack,
                                now,
                                Transport.WIFI_BEACON,
                                mac,
                                -60.0,
                                6,
                                None,
                                "local",
                                counter,
                            ),
                            None,
                        )
                    )
                elif kind == 1:
                    frames.append(
                        (
                            Frame(
                                pack, now, Transport.WIFI_NAN, mac, -65.0, 6, None, "local", counter
                            ),
                            None,
                        )
                    )
                elif kind in (2, 6):
                    msg = encode(loc if step % 2 == 0 else static[(step // 2) % 4])
                    lt = (ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR, ble.LINKTYPE_NORDIC_BLE)[d % 2]
                    frames.append(
                        (
                            Frame(
                                msg,
                                now,
                                Transport.BLE_LEGACY,
                                "c0" + mac[2:],
                                -70.0,
                                37 + step % 3,
                                None,
                                "local",
                                counter,
                            ),
                            lt,
                        )
                    )
                elif kind == 3:
                    lt = (ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR, ble.LINKTYPE_NORDIC_BLE)[d % 2]
                    frames.append(
                        (
                            Frame(
                                pack,
                                now,
                                Transport.BLE_LONG_RANGE,
                                "c0" + mac[2:],
                                -80.0,
                                step % 37,
                                None,
                                "local",
                                counter,
                            ),
                            lt,
                        )
                    )
                elif kind == 5:
                    tel = msgspec.structs.replace(
                        dji,
                        lat=lat,
                        lon=lon,  # type: ignore[type-var]
                        sequence=step & 0xFFFF,
                        serial=f"K6RE0WENAH{d:06d}",
                    )
                    frames.append(
                        (
                            Frame(
                                dji_wifi.encode(tel),
                                now,
                                Transport.DJI_WIFI,
                                "60:60:1f" + mac[8:],
                                -55.0,
                                6,
                            ),
                            None,
                        )
                    )
                else:
                    fb = fr_beacon.FrBeacon(
                        uas_id=f"ILLEGAL_DRONE_APPELEZ_POLIC{d:03d}",
                        lat=lat,
                        lon=lon,
                        alt=150.0,
                        height=80.0,
                        home_lat=48.85,
                        home_lon=2.35,
                        speed=12.0,
                        direction=90.0,
                    )
                    frames.append(
                        (
                            Frame(
                                fr_beacon.encode(fb),
                                now,
                                Transport.FR_BEACON,
                                "6a:5c:35" + mac[8:],
                                -75.0,
                                1,
                            ),
                            None,
                        )
                    )
                for frame, lt in frames:
                    linktype, packet = packet_from_frame(frame, lt)
                    w.write(frame.time, linktype, packet)
                    counts[frame.transport.value] = counts.get(frame.transport.value, 0) + 1
                    written += 1
                # ordinary traffic around the drones (10 %): passed over by the decoder
                if d % 10 == 0:
                    ap = wifi.build_beacon(
                        bytes.fromhex(f"00112233{d:04x}"), [], ssid=b"office-wifi"
                    )
                    w.write(now, 127, wifi.build_radiotap(-50, 2437) + ap)
                if d % 25 == 0 and step % 10 == 0:
                    sync = wifi.build_nan_sync_beacon(bytes.fromhex(f"84cca8{d:06x}"))
                    w.write(now, 127, wifi.build_radiotap(-40, 2437) + sync)
                if d == 7 and step % 20 == 0:  # a BLE advert received with a bad CRC
                    pdu = ble.legacy_pdu(b"\x01" * 6, ble.odid_service_data(0, encode(loc)))
                    w.write(now, 272, ble.nordic_packet(pdu, 37, -90.0, good_crc=False))
            step += 1
    tmp.replace(path)
    return counts


def _best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best = math.inf
    result = None
    for _ in range(repeat):
        # CPU time of this process: one core, robust against other load on the machine
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="print a pyinstrument profile of one full decode run and stop",
    )
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "dronewatch-bench")
    ap.add_argument("--path", choices=("auto", "scanned", "reference"), default="auto")
    args = ap.parse_args()
    if args.path != "auto":
        pcap.FAST_PATH_MIN_BYTES = 0 if args.path == "scanned" else 1 << 62

    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"decode_throughput-v{VERSION}-{args.frames}.pcapng"
    if args.rebuild or not path.exists():
        start = time.perf_counter()
        counts = build(path, args.frames)
        print(f"built {path} in {time.perf_counter() - start:.1f} s: {counts}")
    size = path.stat().st_size
    scanned = size >= pcap.FAST_PATH_MIN_BYTES
    print(f"capture: {path} ({size / 1e6:.1f} MB), read by the {'scanned' if scanned else 'reference'} path")

    def read_only() -> int:
        return sum(1 for _ in read_packets(path))

    def read_link() -> int:
        return sum(1 for _ in read_frames(path, CaptureOptions(), DecodeStats()))

    def full() -> DecodeStats:
        stats = DecodeStats()
        for _ in decode_frames(read_frames(path, CaptureOptions(), stats), stats):
            pass
        return stats

    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        with profiler:
            full()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return

    # The full path first, with nothing else held in memory (as in `dronewatch decode`).
    t_full, stats = _best(full, args.repeat)
    t_read, packets = _best(read_only, args.repeat)
    t_link, frames = _best(read_link, args.repeat)
    extracted = list(read_frames(path, CaptureOptions(), DecodeStats()))
    t_payload, _ = _best(lambda: sum(1 for _ in decode_frames(extracted, DecodeStats())), args.repeat)
    extracted.clear()
    assert isinstance(stats, DecodeStats) and isinstance(packets, int) and isinstance(frames, int)
    print(f"packets: {packets}, drone frames: {frames}, messages: {stats.messages_decoded}")
    print(f"skips: {dict(stats.skipped)}")
    print(f"read only      : {packets / t_read:>12,.0f} packets/s  ({t_read:.2f} s CPU)")
    print(f"read + link    : {frames / t_link:>12,.0f} frames/s   ({t_link:.2f} s CPU)")
    print(
        f"payload decode : {frames / t_payload:>12,.0f} frames/s   ({t_payload:.2f} s CPU; "
        "decode_frames over frames already in memory)"
    )
    print(
        f"full decode    : {stats.frames_read / t_full:>12,.0f} frames/s   ({t_full:.2f} s CPU), "
        f"{stats.messages_decoded / t_full:,.0f} messages/s  <- the figure to compare"
    )
    # What a user runs: the CLI, JSON Lines to /dev/null (CPU of the child process,
    # including interpreter start-up and imports).
    cli = Path(sys.executable).parent / "dronewatch"
    if cli.exists():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [str(cli), "decode", "--json", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        t_cli = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(
            f"CLI --json     : {frames / t_cli:>12,.0f} frames/s   ({t_cli:.2f} s CPU), "
            f"{stats.messages_decoded / t_cli:,.0f} JSON lines/s"
        )

    tshark = shutil.which("tshark")
    if args.no_tshark or tshark is None:
        print("tshark: not run" if tshark else "tshark: not installed")
        return
    protocols = subprocess.run([tshark, "-G", "protocols"], capture_output=True, text=True).stdout
    odid = any(
        "opendroneid" in line.lower() or "remote id" in line.lower()
        for line in protocols.splitlines()
    )
    version = subprocess.run([tshark, "--version"], capture_output=True, text=True).stdout
    print(
        f"{version.splitlines()[0] if version else 'tshark'}: opendroneid dissector "
        f"{'loaded' if odid else 'NOT available: plain 802.11/BLE dissection, a lower bound'}"
    )
    for label, extra in (("tshark -r", []), ("tshark -r -V", ["-V"])):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [tshark, "-n", "-r", str(path), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        t_ts = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"{label:<15}: {packets / t_ts:>12,.0f} packets/s  ({t_ts:.2f} s CPU)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
