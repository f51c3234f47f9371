"""An AntSDR E200 / WarDragon DJI DroneID feed: ``antsdr:HOST:PORT`` (port 41030 by default).

The AntSDR's firmware decodes DroneID itself and serves reports over TCP
(:mod:`dronewatch.protocols.antsdr` has the frame layout). This source connects, splits the
stream into frames and hands each report on as a frame of transport ``antsdr-droneid``
(payload: the report; time: when it arrived; frequency and RSSI from the report), decoded
like any other frame. Frames of other types are counted as skips; a length no frame can have
is damage: the connection is dropped and made again (counted), as when the device reboots.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from dronewatch.errors import DecodeError
from dronewatch.model import Frame, Transport
from dronewatch.protocols.antsdr import DEFAULT_PORT, TYPE_REPORT, decode, split_frames
from dronewatch.sources.live import LiveOptions, LiveSource, SourceError
from dronewatch.sources.stream import connect_tcp, socket_reads

READ_BYTES = 1 << 14


class AntsdrSource(LiveSource):
    kind = "antsdr"

    def __init__(self, target: str, options: LiveOptions) -> None:
        self.host, self.port = parse_target(target)
        super().__init__(f"antsdr:{self.host}:{self.port}", queue_batches=options.queue_batches)
        self.sensor_id = options.sensor_id
        self.connections = 0
        self.reports = 0
        self.bytes_read = 0

    def detail(self) -> dict[str, Any]:
        return {"connections": self.connections, "reports": self.reports,
                "bytes": self.bytes_read}

    def run(self, stop: threading.Event) -> None:
        sock = connect_tcp(self.host, self.port, self.name)
        self.connections += 1
        buf = bytearray()
        try:
            for data in socket_reads(sock, stop, READ_BYTES):
                self.bytes_read += len(data)
                buf += data
                try:
                    frames, used = split_frames(buf)
                except DecodeError as exc:
                    self.stats.skip(f"antsdr: {exc.reason}")
                    raise SourceError(f"{self.name}: {exc}; connecting again") from exc
                del buf[:used]
                out = [f for f in (self._frame(t, p) for t, p in frames) if f is not None]
                if out:
                    self.emit(out)
            if not stop.is_set():
                raise SourceError(f"{self.name} closed the connection; connecting again")
        finally:
            sock.close()

    def _frame(self, ftype: int, payload: bytes) -> Frame | None:
        self.stats.packets_read += 1
        if ftype != TYPE_REPORT:
            self.stats.skip(f"antsdr: frame type 0x{ftype:02x}")
            return None
        try:
            (report,) = decode(payload)
        except DecodeError as exc:
            self.stats.skip(f"antsdr: {exc.reason}")
            return None
        self.reports += 1
        return Frame(
            payload=payload,
            time=time.time(),
            transport=Transport.ANTSDR_DRONEID,
            frame_kind="report",
            rssi_dbm=float(getattr(report, "rssi", 0)),
            frequency_hz=getattr(report, "frequency_hz", None),
            sensor_id=self.sensor_id,
        )


def parse_target(target: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (port 41030 by default) -> (host, port); ``ValueError`` otherwise."""
    host, sep, port_text = target.rpartition(":")
    if not sep:
        host, port_text = target, str(DEFAULT_PORT)
    if not host:
        raise ValueError(f"AntSDR feed {target!r}: expected antsdr:HOST[:PORT]")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"AntSDR feed {target!r}: port {port_text!r} is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"AntSDR feed {target!r}: port {port} out of range")
    return host, port


def open_source(target: str, options: LiveOptions) -> LiveSource:
    return AntsdrSource(target, options)
