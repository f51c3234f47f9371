"""Where a sensor is: a fixed position (``--position LAT,LON[,ALT]``) or gpsd (``--gps``).

:class:`GpsdPosition` speaks gpsd's JSON protocol over TCP: it sends ``?WATCH`` and keeps the
latest TPV report with a 2D/3D fix (``lat``, ``lon``, ``altHAE`` or ``alt``); it reconnects
when gpsd goes away, and reports no position while it has no fix.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

GPSD_PORT = 2947
WATCH = b'?WATCH={"enable":true,"json":true}\n'
RECONNECT_S = 2.0
MAX_LINE = 1 << 16


@dataclass(slots=True, frozen=True)
class Position:
    lat: float
    lon: float
    alt: float | None = None  # metres (WGS84 height where the GPS gives it)
    time: float | None = None  # when it was measured (UTC epoch seconds)
    source: str = "fixed"  # "fixed" or "gpsd"

    def to_json(self) -> dict[str, Any]:
        return {"lat": self.lat, "lon": self.lon, "alt": self.alt, "time": self.time,
                "source": self.source}


def parse_position(text: str) -> tuple[float, float, float | None]:
    """``"48.72,2.37[,120]"`` -> (lat, lon, alt); ``ValueError`` saying what is wrong."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise ValueError(f"position {text!r}: expected LAT,LON or LAT,LON,ALT")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"position {text!r}: not numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"position {text!r}: not finite")
    lat, lon = values[0], values[1]
    if not -90 <= lat <= 90 or not -180 <= lon <= 180:
        raise ValueError(f"position {text!r}: latitude in [-90, 90], longitude in [-180, 180]")
    alt = values[2] if len(values) == 3 else None
    if alt is not None and not -1000 <= alt <= 20000:
        raise ValueError(f"position {text!r}: altitude in metres, -1000..20000")
    return lat, lon, alt


def parse_gpsd_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port or GPSD_PORT
    except ValueError:
        port = 0
    if parts.scheme != "gpsd" or not parts.hostname or not port or parts.path not in ("", "/"):
        raise ValueError(f"GPS {url!r}: expected gpsd://HOST[:PORT]")
    return parts.hostname, port


def position_from_tpv(report: dict[str, Any]) -> Position | None:
    """The position of a gpsd TPV report with a fix (mode 2 or 3); ``None`` otherwise."""
    if report.get("class") != "TPV" or int(report.get("mode") or 0) < 2:
        return None
    lat, lon = report.get("lat"), report.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    alt = report.get("altHAE", report.get("alt")) if int(report["mode"]) >= 3 else None
    when: float | None = None
    text = report.get("time")
    if isinstance(text, str):
        from datetime import datetime

        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            when = None
    return Position(float(lat), float(lon), float(alt) if isinstance(alt, int | float) else None,
                    when, "gpsd")


class GpsdPosition:
    """The latest fix from gpsd, kept by a thread of its own (start/stop); while there is
    none, ``fallback`` (the --position given too, if any)."""

    def __init__(self, url: str, fallback: Position | None = None) -> None:
        self.fallback = fallback
        self.host, self.port = parse_gpsd_url(url)
        self.url = f"gpsd://{self.host}:{self.port}"
        self.position: Position | None = None
        self.reports = 0
        self.last_error: str | None = None
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dronewatch-gpsd", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def current(self) -> Position | None:
        return self.position or self.fallback

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except OSError as exc:
                message = f"gpsd at {self.url}: {exc.strerror or exc}"
                if message != self.last_error:
                    log.warning("%s; trying again", message)
                self.last_error = message
            self.connected.clear()
            self._stop.wait(RECONNECT_S)

    def _session(self) -> None:
        with socket.create_connection((self.host, self.port), timeout=5.0) as sock:
            sock.sendall(WATCH)
            sock.settimeout(0.5)
            self.connected.set()
            pending = b""
            while not self._stop.is_set():
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    raise ConnectionResetError("gpsd closed the connection")
                pending += data
                *lines, pending = pending.split(b"\n")
                if len(pending) > MAX_LINE:
                    pending = b""  # not gpsd: forget the garbage
                for line in lines:
                    self._line(line)

    def _line(self, line: bytes) -> None:
        try:
            report = json.loads(line)
        except ValueError:
            return
        if not isinstance(report, dict):
            return
        position = position_from_tpv(report)
        if position is not None:
            self.reports += 1
            self.position = position
            self.last_error = None


class FixedPosition:
    def __init__(self, lat: float, lon: float, alt: float | None = None) -> None:
        self.position = Position(lat, lon, alt, None, "fixed")

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def current(self) -> Position | None:
        return self.position


def open_position(
    fixed: tuple[float, float, float | None] | None, gps: str | None
) -> FixedPosition | GpsdPosition | None:
    """The position provider of ``--position`` / ``--gps`` (with both, gpsd's fix, and the
    fixed position while gpsd has none)."""
    if gps:
        return GpsdPosition(gps, None if fixed is None else Position(*fixed))
    if fixed is not None:
        return FixedPosition(*fixed)
    return None
