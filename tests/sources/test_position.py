"""Sensor positions: --position parsing and a GPS through gpsd (a fake gpsd on a free port
speaking its JSON protocol: VERSION, then TPV reports after ?WATCH)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from dronewatch.sources.position import (
    GpsdPosition,
    Position,
    open_position,
    parse_gpsd_url,
    parse_position,
)

WAIT_S = 30.0


class FakeGpsd:
    """Accepts clients; after ?WATCH sends the queued lines (TPV, SKY...) to each."""

    def __init__(self, lines: list[dict[str, object] | bytes]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.lines = lines
        self.watches: list[bytes] = []
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(conn)
            conn.sendall(b'{"class":"VERSION","release":"3.25","proto_major":3,"proto_minor":15}\n')
            self.watches.append(conn.recv(1024))
            for line in self.lines:
                conn.sendall(line if isinstance(line, bytes) else json.dumps(line).encode() + b"\n")

    def drop_clients(self) -> None:
        for conn in self.clients:
            conn.close()
        self.clients.clear()

    def close(self) -> None:
        self.drop_clients()
        self.sock.close()


def _wait(cond: object) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.02)


TPV_3D = {"class": "TPV", "device": "/dev/ttyACM0", "mode": 3, "time": "2026-05-01T10:00:00.000Z",
          "lat": 48.7262, "lon": 2.3652, "altHAE": 131.5, "alt": 85.0}


def test_gpsd_fix_and_garbage() -> None:
    gpsd = FakeGpsd([
        {"class": "TPV", "mode": 1},  # no fix yet
        b"this is not json\n",
        {"class": "SKY", "satellites": []},
        {"class": "TPV", "mode": 3, "lat": 123.0, "lon": 2.0},  # absurd: ignored
        TPV_3D,
    ])
    gps = GpsdPosition(f"gpsd://127.0.0.1:{gpsd.port}", fallback=Position(1.0, 2.0))
    assert gps.current() == Position(1.0, 2.0)  # before any fix: the fixed one
    gps.start()
    try:
        _wait(lambda: gps.reports == 1)
        where = gps.current()
        assert where is not None and where.source == "gpsd"
        assert (where.lat, where.lon, where.alt) == (48.7262, 2.3652, 131.5)  # WGS84 height
        assert where.time == pytest.approx(1777629600.0)
        assert gpsd.watches[0].startswith(b'?WATCH={"enable":true,"json":true}')
        # gpsd restarts: the client connects again and keeps the last fix meanwhile
        gpsd.drop_clients()
        _wait(lambda: len(gpsd.watches) == 2)
        _wait(lambda: gps.reports == 2)
    finally:
        gps.stop()
        gpsd.close()


def test_gpsd_away_is_retried_quietly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    gps = GpsdPosition(f"gpsd://127.0.0.1:{port}")
    gps.start()
    try:
        _wait(lambda: gps.last_error is not None)
        assert gps.current() is None
        assert "refused" in (gps.last_error or "").lower()
    finally:
        gps.stop()


def test_position_option() -> None:
    assert parse_position("48.72,2.37") == (48.72, 2.37, None)
    assert parse_position(" 48.72 , 2.37 , 120 ") == (48.72, 2.37, 120.0)
    for bad in ("48.72", "91,0", "0,181", "a,b", "1,2,3,4", "nan,1", "1,2,1e9"):
        with pytest.raises(ValueError):
            parse_position(bad)
    assert parse_gpsd_url("gpsd://127.0.0.1") == ("127.0.0.1", 2947)
    for bad in ("http://x:1", "gpsd://", "gpsd://h:1/path"):
        with pytest.raises(ValueError):
            parse_gpsd_url(bad)
    assert open_position(None, None) is None
    fixed = open_position((1.0, 2.0, None), None)
    assert fixed is not None and fixed.current() == Position(1.0, 2.0, None, None, "fixed")
