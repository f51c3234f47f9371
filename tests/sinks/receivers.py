"""Real receivers for the sink tests: UDP and TCP sockets, a hanging TCP peer, a sink record."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any


def wait_for(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``cond`` until true (generous deadline: two busy cores)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class UdpReceiver:
    """Datagrams received on 127.0.0.1 (a thread collects them)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.datagrams.append(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class TcpReceiver:
    """A TCP server on 127.0.0.1 collecting the bytes of every connection; ``hang``: accept
    and never read (the sender's buffers fill up)."""

    def __init__(self, hang: bool = False, port: int = 0) -> None:
        self.hang = hang
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hang:
            self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(8)
        self.server.settimeout(0.2)
        self.port: int = self.server.getsockname()[1]
        self.data = bytearray()
        self.connections = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            if not self.hang:
                threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        while not self._stop.is_set():
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.data += chunk

    def text(self) -> str:
        with self._lock:
            return self.data.decode()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for c in self._conns:
            c.close()
        self.server.close()


def track(tid: str = "T1", **kw: Any) -> dict[str, Any]:
    """A track record as the pipeline hands it to sinks (``store.records.track_record``)."""
    rec: dict[str, Any] = {
        "track_id": tid,
        "first_seen": 1.7e9,
        "last_seen": 1.7e9 + 10,
        "uas_id": "MFG1A0123456789",
        "serial": "1581F4XFC123",
        "operator_id": "GBR-OP-123ABCD",
        "ua_type": "helicopter_or_multirotor",
        "product": None,
        "transports": ["wifi_beacon"],
        "sensors": ["local"],
        "sources": [],
        "lat": 45.5457,
        "lon": -122.968,
        "alt": 120.5,
        "height": 80.0,
        "speed": 5.5,
        "direction": 90.0,
        "vspeed": 0.0,
        "operator_lat": 45.54,
        "operator_lon": -122.97,
        "operator_alt": 40.0,
        "home_lat": 45.541,
        "home_lon": -122.971,
        "takeoff_time": None,
        "max_alt": 130.0,
        "rssi_by_sensor": {"local": -60.0},
        "state": "active",
        "positions": 3,
    }
    rec.update(kw)
    return rec


def alert(tid: str = "T1", n: int = 1, **kw: Any) -> dict[str, Any]:
    """An alert record (``store.records.alert_record``)."""
    rec: dict[str, Any] = {
        "alert_id": f"A{n}",
        "rule": "zone",
        "severity": "critical",
        "status": "open",
        "track_id": tid,
        "time": 1.7e9 + n,
        "message": f"drone in zone Test field ({n})",
        "uas_id": "MFG1A0123456789",
        "serial": "1581F4XFC123",
        "zone": "test-zone",
        "lat": 45.5457,
        "lon": -122.968,
        "alt": 120.5,
        "operator_lat": 45.54,
        "operator_lon": -122.97,
        "details": {"zone_name": "Test field"},
    }
    rec.update(kw)
    return rec


class HookReceiver:
    """A real HTTP server (threaded ``http.server``) that checks each POST's signature and
    records (idempotency key, body). ``mode``: ``ok``, ``500`` (answers 500), ``400``, or
    ``hang`` (never answers until closed). Can be taken down and brought back on its port."""

    def __init__(
        self, secret: bytes | None, port: int = 0, mode: str = "ok", keepalive: bool = False
    ) -> None:
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from dronewatch.sinks.webhook import KEY_HEADER, SIGNATURE_HEADER, verify

        self.secret = secret
        self.mode = mode
        self.received: list[tuple[str, dict[str, Any]]] = []  # answered 2xx
        self.attempts = 0
        self.bad_signatures = 0
        self.connections: list[socket.socket] = []  # every connection accepted
        self.released = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            # keepalive: HTTP/1.1 (connections stay open, as web servers answer); else 1.0
            protocol_version = "HTTP/1.1" if keepalive else "HTTP/1.0"

            def setup(self) -> None:
                super().setup()
                outer.connections.append(self.connection)

            def send_response(self, code: int, message: str | None = None) -> None:
                super().send_response(code, message)
                if code != 204:  # no body (HTTP/1.1 clients would wait for one)
                    self.send_header("Content-Length", "0")

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.attempts += 1
                if outer.mode == "hang":
                    outer.released.wait(30)
                    return
                if outer.secret is not None and not verify(
                    outer.secret, body, self.headers.get(SIGNATURE_HEADER)
                ):
                    outer.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if outer.mode in ("500", "400"):
                    self.send_response(int(outer.mode))
                    self.end_headers()
                    return
                doc = json.loads(body)
                key = self.headers.get(KEY_HEADER) or ""
                if "idempotency_key" in doc:  # a webhook: header and body agree
                    assert doc["idempotency_key"] == key
                outer.received.append((key, doc))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def keys(self) -> set[str]:
        return {k for k, _ in self.received}

    def drop_connections(self) -> None:
        """Close every open connection (as a server does with idle kept-alive ones)."""
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class TlsReceiver(TcpReceiver):
    """A TLS server (like a TAK Server's streaming port) that requires a client certificate
    signed by ``client_ca``; collects what arrives; counts refused handshakes."""

    def __init__(self, cert: Any, key: Any, client_ca: Any) -> None:
        import ssl

        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.load_verify_locations(client_ca)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.refused = 0
        super().__init__()

    def _read(self, conn: socket.socket) -> None:
        import ssl

        try:
            conn.settimeout(5)
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            self.refused += 1
            conn.close()
            return
        super()._read(tls)
