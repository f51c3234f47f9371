"""Capture streams: pcap or pcapng arriving piece by piece (stdin, a FIFO, a TCP stream).

``stream:-`` reads standard input, ``stream:PATH`` a FIFO (or a file, to its end), and
``tcp://HOST:PORT`` connects to a server that sends a capture (``nc -l``, a remote
``dumpcap -w -``...). What arrives is parsed by the capture reader of :mod:`.pcap`
(:class:`~dronewatch.sources.pcap.PacketStream`: the same parser as for files) and every
packet's frames go out as soon as its last byte is in: never at the end of the input.

stdin or a FIFO that closes ends the source (state ``ended``); a TCP stream that closes or
resets is connected again (a new capture, with its own header, is expected on the new
connection). Damage inside a stream (a wrong length, garbage) is counted and ends it too:
nothing after it can be trusted to be framed right, and a TCP source reconnects.
"""

from __future__ import annotations

import os
import select
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from dronewatch.errors import DecodeError
from dronewatch.sources import CaptureOptions
from dronewatch.sources.live import (
    LiveOptions,
    LiveSource,
    SourceEnded,
    SourceError,
    SourceFatal,
)
from dronewatch.sources.pcap import PacketStream
from dronewatch.sources.pcap_frames import parse_packets

READ_BYTES = 1 << 16
POLL_S = 0.25  # how often a blocked read looks at the stop flag
CONNECT_TIMEOUT_S = 5.0


class _StreamBase(LiveSource):
    """What stdin/FIFO and TCP streams share: bytes in, frames of complete packets out."""

    def __init__(self, name: str, options: LiveOptions) -> None:
        super().__init__(name, queue_batches=options.queue_batches)
        self.options = CaptureOptions(sensor_id=options.sensor_id)
        self.bytes_read = 0
        self.packets = 0
        self._stream = PacketStream()

    def detail(self) -> dict[str, Any]:
        return {"bytes": self.bytes_read, "packets": self.packets}

    def _take(self, data: bytes) -> None:
        """Parse the new bytes and hand on the frames of the packets they completed."""
        self.bytes_read += len(data)
        try:
            packets = self._stream.feed(data)
        except DecodeError as exc:
            self.stats.skip(f"pcap: {exc.reason}")
            raise SourceError(f"{self.name}: {exc}") from exc
        if packets:
            self.packets += len(packets)
            self.emit(list(parse_packets(packets, self.options, self.stats)))

    def _finish(self) -> None:
        """The input is over: count a packet cut short, then end."""
        try:
            self._stream.close()
        except DecodeError as exc:
            self.stats.skip(f"pcap: {exc.reason}")
            self.failed(f"{self.name}: {exc}")


class FileStreamSource(_StreamBase):
    """stdin (``-``) or a FIFO/file path, read as it is written; ends when the writer closes."""

    kind = "stream"
    retry = False  # a pipe that closed does not come back

    def __init__(self, target: str, options: LiveOptions) -> None:
        super().__init__("stdin" if target == "-" else target, options)
        self.target = target
        self._fd: int | None = None

    def run(self, stop: threading.Event) -> None:
        fd, own = open_input(self.target, "a capture stream")
        self._fd = fd
        try:
            for data in fd_reads(fd, stop):
                self._take(data)
            if not stop.is_set():
                self._finish()
                raise SourceEnded
        finally:
            self._fd = None
            if own:
                os.close(fd)


class TcpStreamSource(_StreamBase):
    """A capture served over TCP; connected again (a new capture) when it closes or resets."""

    kind = "tcp"

    def __init__(self, target: str, options: LiveOptions) -> None:
        host, port = parse_tcp_target(target)
        super().__init__(f"tcp://{host}:{port}", options)
        self.host, self.port = host, port
        self.connections = 0

    def detail(self) -> dict[str, Any]:
        return {**super().detail(), "connections": self.connections}

    def run(self, stop: threading.Event) -> None:
        sock = connect_tcp(self.host, self.port, self.name)
        self.connections += 1
        self._stream = PacketStream()  # each connection sends a capture of its own
        try:
            for data in socket_reads(sock, stop):
                self._take(data)
            if not stop.is_set():
                self._finish()
                raise SourceError(f"{self.name} closed the stream; connecting again")
        finally:
            sock.close()


# -- reading what every stream source reads (pcap here, IQ, AntSDR reports) ------------------


def open_input(target: str, what: str) -> tuple[int, bool]:
    """``-`` (stdin) or a FIFO/file path, opened non-blocking: (fd, whether to close it).
    ``SourceFatal`` with the reason when it cannot be opened."""
    if target == "-":
        return sys.stdin.fileno(), False
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        raise SourceFatal(f"{target}: no such file or FIFO") from None
    if stat.S_ISDIR(mode):
        raise SourceFatal(f"{target}: is a directory, not {what}")
    try:
        # Non-blocking: opening a FIFO would wait for its writer, deaf to stop().
        return os.open(target, os.O_RDONLY | os.O_NONBLOCK), True
    except PermissionError:
        raise SourceFatal(f"{target}: permission denied") from None


def fd_reads(fd: int, stop: threading.Event, size: int = READ_BYTES) -> Iterator[bytes]:
    """What arrives on ``fd`` until its writer closes it (then return) or ``stop``."""
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if not ready:
            continue
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            continue
        if not data:
            return
        yield data


def fd_reads_into(fd: int, stop: threading.Event, buf: bytearray) -> Iterator[memoryview]:
    """As :func:`fd_reads`, into ``buf`` (reused: each view is valid until the next one is
    asked for): no allocation per read, for streams of hundreds of MB/s."""
    view = memoryview(buf)
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if not ready:
            continue
        try:
            n = os.readv(fd, [view])
        except BlockingIOError:
            continue
        if not n:
            return
        yield view[:n]


def connect_tcp(host: str, port: int, name: str) -> socket.socket:
    """A connected socket; ``SourceError`` (retried) when the server is not there."""
    try:
        return socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        raise SourceError(f"cannot connect to {name}: {exc.strerror or exc}") from exc


def socket_reads(
    sock: socket.socket, stop: threading.Event, size: int = READ_BYTES
) -> Iterator[bytes]:
    """What arrives on ``sock`` until the peer closes it (then return) or ``stop``."""
    sock.settimeout(POLL_S)
    while not stop.is_set():
        try:
            data = sock.recv(size)
        except TimeoutError:
            continue
        if not data:
            return
        yield data


def parse_tcp_target(target: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` (or ``HOST:PORT``) -> (host, port); ``ValueError`` otherwise."""
    url = target if "//" in target else f"tcp://{target}"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError(f"capture stream {target!r}: expected tcp://HOST:PORT")
    return parts.hostname, port


def open_source(target: str, options: LiveOptions) -> LiveSource:
    """``stream:-`` / ``stream:PATH`` (stdin, a FIFO) or ``tcp://HOST:PORT``."""
    if target.startswith("tcp://"):
        return TcpStreamSource(target, options)
    if not target:
        raise ValueError("capture stream: expected stream:- or stream:PATH")
    return FileStreamSource(target, options)
