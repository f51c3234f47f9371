"""Acceptance: ``dronewatch serve`` in a subprocess, then restarted on the same database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import CAPTURE, UAS_ID

AUTH = {"Authorization": "Bearer s3cret"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(*args: str) -> Iterator[str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-c",
        "from dronewatch.cli import main; main()",
        "serve",
        "--port",
        str(port),
        *args,
    ]
    env = dict(os.environ, DRONEWATCH_TOKENS="")
    env.pop("DRONEWATCH_TOKEN", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # start-up on two busy cores
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()  # then its output ends and can be read
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"server did not start: {out}")
            time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_replay_then_restart(tmp_path: Path) -> None:
    db = tmp_path / "dw.db"
    with serving(
        "--replay", str(CAPTURE), "--db", str(db), "--token", "s3cret", "--speed", "0"
    ) as base:
        assert httpx.get(base + "/api/drones").status_code == 401
        deadline = time.monotonic() + 20
        drones: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            drones = httpx.get(base + "/api/drones", headers=AUTH).json()
            if drones and drones[0]["operator_id"]:
                break
            time.sleep(0.2)
        assert [d["uas_id"] for d in drones] == [UAS_ID]
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        history = httpx.get(base + "/api/history", headers=AUTH).json()
        n_points = len(history["tracks"][0]["points"])
        assert n_points > 10
    with serving("--db", str(db), "--token", "s3cret") as base:
        drones = httpx.get(base + "/api/drones", headers=AUTH).json()
        assert [d["uas_id"] for d in drones] == [UAS_ID]
        assert drones[0]["state"] == "ended"  # nothing is live after a restart
        history = httpx.get(base + "/api/history", headers=AUTH).json()
        assert len(history["tracks"][0]["points"]) == n_points
        assert httpx.get(base + "/api/drones").status_code == 401


def test_generated_token_is_printed(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ)
    env.pop("DRONEWATCH_TOKEN", None)
    env.pop("DRONEWATCH_TOKENS", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from dronewatch.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--db",
            str(tmp_path / "x.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        token = None
        deadline = time.monotonic() + 30
        while token is None and time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            if "admin token (generated):" in line:
                token = line.rsplit(":", 1)[1].strip()
        assert token
        while time.monotonic() < deadline:
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/me",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=1,
                )
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert r.json()["role"] == "admin"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)
