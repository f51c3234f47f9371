"""``dronewatch decode`` as a user runs it, beside tshark, on one Remote ID beacon capture.

Run: .venv/bin/python bench/cli_throughput.py [--dissector PATH/opendroneid-dissector.lua]
     [--frames 105000] [--repeat 3] [--rebuild] [--no-tshark] [--no-compile]

The capture is written once (cached in $TMPDIR/dronewatch-bench/) by ``dronewatch simulate``
from a generated scenario: 35 drones flying loops over 300 s, each sending a Remote ID message
pack (Basic ID, Location, System, Operator ID) in a Wi-Fi beacon 10 times a second; 105,000
frames, about 21 MB. The drones move, so every Location message is a different one: no
message cache can answer for the decoder.

Then, each through the command line, start-up included, output to /dev/null:

* ``dronewatch decode FILE`` (the table) and ``dronewatch decode --json FILE``, best of
  ``--repeat`` runs;
* start-up: ``dronewatch decode`` of a capture of one Remote ID frame (wall and CPU);
* ``tshark -n -r FILE`` (one summary line per packet) and ``tshark -n -r FILE -V`` (the whole
  protocol tree), plain and, with ``--dissector`` (the public opendroneid Wireshark
  dissector, ``opendroneid-dissector.lua``), with it loaded by ``-X lua_script:``; once each.

Before timing, the ``dronewatch`` package the command imports is byte-compiled (``compileall``,
as ``pip install`` does; ``--no-compile`` skips it): with ``PYTHONDONTWRITEBYTECODE`` set and
no ``__pycache__``, every start would compile every module again (about 0.05 s CPU), which no
installed copy does.

Figures are frames per CPU second of the child process (``RUSAGE_CHILDREN``: robust against
other load on a shared machine), wall seconds beside them; the load average is printed. The
ratio is dronewatch's slower mode against tshark with the dissector's faster run.
"""

from __future__ import annotations

import argparse
import compileall
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
DRONES = 35
RATE_HZ = 10.0
VERSION = 1  # bump when the scenario changes (invalidates the cached capture)


def scenario(frames: int) -> str:
    """A TOML scenario of ``DRONES`` Wi-Fi beacon drones sending ``frames`` frames."""
    duration = frames / (DRONES * RATE_HZ)
    lines = [
        'name = "bench_rid_beacons"',
        'description = "Remote ID beacon throughput benchmark"',
        "start_time = 2026-06-06T09:00:00Z",
        f"duration_s = {duration:g}",
        "[origin]", "lat = 48.1620", "lon = 11.2840", "ground_alt_m = 540",
        "[[sensors]]", 'id = "bench"', "east = 0", "north = 0", "alt_m = 4",
        "[radio]", "sensitivity_dbm = -200", "shadowing_db = 0",  # every frame received
    ]
    for i in range(DRONES):
        a = 2 * math.pi * i / DRONES
        lines += [
            "[[drones]]", f'name = "drone-{i:02d}"', 'kind = "wifi-beacon"',
            f"interval_s = {1 / RATE_HZ:g}", f"speed_mps = {5 + i % 10}", "height_m = 60",
            f'operator_id = "FRA{i:013d}"',
            f"pilot = {{ east = {50 * math.cos(a):.0f}, north = {50 * math.sin(a):.0f} }}",
            "waypoints = ["
            f"{{ east = {400 * math.cos(a):.0f}, north = {400 * math.sin(a):.0f} }}, "
            f"{{ east = {300 * math.cos(a + 1):.0f}, north = {300 * math.sin(a + 1):.0f} }}]",
            "repeat = true",
        ]
    return "\n".join(lines) + "\n"


def cli() -> str:
    exe = Path(sys.executable).parent / "dronewatch"
    return str(exe) if exe.exists() else shutil.which("dronewatch") or "dronewatch"


def build(path: Path, frames: int) -> None:
    toml = path.with_suffix(".toml")
    toml.write_text(scenario(frames))
    command = [cli(), "simulate", str(toml), "-o", str(path), "--no-iq", "-q"]
    print("building:", " ".join(command))
    subprocess.run(command, check=True)


def byte_compile() -> str:
    """Byte-compile the ``dronewatch`` package the command imports (same interpreter and
    environment); its folder."""
    where = subprocess.run(
        [sys.executable, "-c", "import dronewatch, os; print(os.path.dirname(dronewatch.__file__))"],
        capture_output=True, text=True, check=True).stdout.strip()
    compileall.compile_dir(where, quiet=1)
    return where


def run(command: list[str]) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, exit code) of ``command``, output to /dev/null."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, done.returncode


def best(command: list[str], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        cpu, wall, code = run(command)
        if code:
            raise SystemExit(f"{' '.join(command)} exited with {code}")
        runs.append((cpu, wall))
    return min(runs)


def line(label: str, frames: int, cpu: float, wall: float) -> None:
    print(f"{label:<34} {frames / cpu:>10,.0f} frames/s  ({cpu:6.2f} s CPU, {wall:6.2f} s wall)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=105_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not byte-compile the dronewatch package first")
    ap.add_argument("--dissector", type=Path, default=os.environ.get("ODID_DISSECTOR"),
                    help="opendroneid-dissector.lua (default: $ODID_DISSECTOR)")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "dronewatch-bench")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"cli_throughput-v{VERSION}-{args.frames}.pcapng"
    if args.rebuild or not path.exists():
        build(path, args.frames)
    print(f"capture: {path} ({path.stat().st_size / 1e6:.1f} MB, {args.frames} frames)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
    dw = cli()
    if not args.no_compile:
        print(f"byte-compiled: {byte_compile()} (as an install does)")
    elif sys.flags.dont_write_bytecode:
        print("note: PYTHONDONTWRITEBYTECODE is set: modules without __pycache__ are compiled "
              "at every start")
    small = DATA / "odid_wifi_sample.pcap"
    cpu0, wall0 = best([dw, "decode", str(small)], args.repeat)
    print(f"{'start-up (dronewatch decode, 42 frames)':<34} {wall0:6.2f} s wall, {cpu0:.2f} s CPU")
    table = best([dw, "decode", str(path)], args.repeat)
    line("dronewatch decode (table)", args.frames, *table)
    as_json = best([dw, "decode", "--json", str(path)], args.repeat)
    line("dronewatch decode --json", args.frames, *as_json)
    slower = max(table[0], as_json[0])
    tshark = shutil.which("tshark")
    if args.no_tshark or tshark is None:
        print("tshark: not run" if tshark else "tshark: not installed (apt-get install tshark)")
        return
    version = subprocess.run([tshark, "--version"], capture_output=True, text=True).stdout
    print(version.splitlines()[0] if version else "tshark")
    dissector_runs = []
    variants: list[tuple[str, list[str]]] = [("tshark -r", []), ("tshark -r -V", ["-V"])]
    if args.dissector is not None:
        if not args.dissector.is_file():
            raise SystemExit(f"{args.dissector}: no such dissector file")
        lua = ["-X", f"lua_script:{args.dissector}"]
        variants += [("tshark+dissector -r", lua), ("tshark+dissector -r -V", [*lua, "-V"])]
    for label, extra in variants:
        cpu, wall, _ = run([tshark, "-n", "-r", str(path), *extra])
        line(label, args.frames, cpu, wall)
        if "dissector" in label:
            dissector_runs.append(cpu)
    if dissector_runs:
        print(f"dronewatch (slower mode) vs tshark + opendroneid dissector (faster run): "
              f"{min(dissector_runs) / slower:.1f}x; vs its -V run: "
              f"{max(dissector_runs) / slower:.1f}x")
    else:
        print("no --dissector given: tshark without the Remote ID dissector only")


if __name__ == "__main__":
    main()
