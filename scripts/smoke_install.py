#!/usr/bin/env python3
"""A user's install, proven: build a wheel, install it WITHOUT the test extras into a clean
temporary venv, start ``dronewatch demo`` from there, receive a drone over /api/stream and
read /metrics.

A runtime dependency missing from pyproject.toml (say, the WebSocket library uvicorn needs)
fails this check, while the test suite, which runs with the test extras, would not notice.
``scripts/test`` runs it (and so does CI); alone: ``python3 scripts/smoke_install.py``.

The wheel is built from a copy of the files a source distribution holds (pyproject, README,
src/), so package data left out of pyproject fails here too. Dependencies come from pip's
configured index and its cache: after the first run, the cost is the install (see README).

The client side (``--client URL``) runs inside the temporary venv with that venv's
``websockets`` (a runtime dependency) and the standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 180.0  # demo start-up plus the first drone, on two busy cores


def _run(cmd: list[str], **kw: object) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def _scratch() -> str | None:
    """A memory file system for the throw-away venv (600 MB, 15,000 files: writing and
    deleting them on a busy disk takes a minute) when it has room, else the default."""
    shm = Path("/dev/shm")
    try:
        st = os.statvfs(shm)
    except OSError:
        return None
    if os.access(shm, os.W_OK) and st.f_bavail * st.f_frsize > 4 << 30:
        return str(shm)
    return None


def build_and_install(work: Path) -> Path:
    """The temporary venv's python, with dronewatch installed from a freshly built wheel."""
    src = work / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "src",
        src / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    dist = work / "dist"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(src)])
    wheels = sorted(dist.glob("dronewatch-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"smoke: expected one dronewatch wheel in {dist}, found {wheels}")
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # the wheel by itself: no extras, so exactly what `pip install dronewatch` gives a user
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-compile", str(wheels[0])])
    return python


def client(python: Path, work: Path) -> None:
    """Start the installed ``dronewatch demo`` and wait for a drone on the stream."""
    exe = python.parent / "dronewatch"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the installed package, not the source tree
    env.pop("DRONEWATCH_TOKEN", None)
    log_path = work / "demo.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "demo", "--no-browser", "--port", "0", "--db", str(work / "demo.db")],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=work,
        )
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().decode().strip()  # the demo prints its URL first
            if not url.startswith("http://"):
                raise SystemExit(f"smoke: the demo printed no URL (got {url!r})")
            ws_url = "ws://" + url.removeprefix("http://").replace("/?token=", "/api/stream?token=")
            # the client runs in the installed venv, with its runtime websockets library
            subprocess.run(
                [str(python), __file__, "--client", ws_url],
                check=True,
                env=env,
                timeout=DEADLINE_S + 30,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, SystemExit):
            print("smoke: FAILED; the demo's log:", file=sys.stderr)
            sys.stderr.write(log_path.read_text(errors="replace")[-6000:])
            raise
        finally:
            stop = time.monotonic()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            print(f"smoke: the demo stopped in {time.monotonic() - stop:.1f} s", file=sys.stderr)


def receive_a_drone(ws_url: str) -> None:
    """Connect to /api/stream (retrying while the server starts) until a track arrives."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    deadline = time.monotonic() + DEADLINE_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with connect(ws_url, open_timeout=10) as ws:
                while time.monotonic() < deadline:
                    msg = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
                    if msg.get("kind") == "track":
                        track = msg.get("track") or {}
                        ident = track.get("uas_id") or track.get("serial") or track.get("track_id")
                        print(f"smoke: OK, a drone arrived over the WebSocket: {ident}")
                        check_metrics(ws_url)
                        return
        except (OSError, WebSocketException, TimeoutError) as exc:
            last_error = exc
            time.sleep(0.5)
    raise SystemExit(
        f"smoke: no drone on {ws_url.split('?')[0]} in {DEADLINE_S:.0f} s ({last_error})"
    )


def check_metrics(ws_url: str) -> None:
    """/metrics answers Prometheus text with the token (standard library only)."""
    import urllib.request
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(ws_url)
    token = parse_qs(parts.query)["token"][0]
    request = urllib.request.Request(
        f"http://{parts.netloc}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    if "dronewatch_frames_total" not in text:
        raise SystemExit(f"smoke: /metrics lacks dronewatch_frames_total:\n{text[:500]}")
    print("smoke: OK, /metrics answers Prometheus text")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", metavar="WS_URL", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.client:
        receive_a_drone(args.client)
        return
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="dronewatch-smoke-", dir=_scratch()))
    try:
        python = build_and_install(work)
        t1 = time.monotonic()
        client(python, work)
        t2 = time.monotonic()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"smoke: wheel built and installed in {t1 - t0:.0f} s, demo started, first drone "
        f"received and demo stopped in {t2 - t1:.0f} s (total {time.monotonic() - t0:.0f} s)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
