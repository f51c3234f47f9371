"""The network end the CoT and syslog sinks share: udp://, tcp:// or tls:// HOST:PORT.

A :class:`Link` opens lazily, sends whole messages (one datagram each over UDP, written in
one go over a stream) with a timeout, and is closed after a failure (the sink reconnects with
back-off). Multicast UDP destinations (224.0.0.0/4) get a TTL.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from dronewatch.sinks.base import SinkError

SEND_TIMEOUT_S = 5.0
MULTICAST_TTL = 8
TLS_SETTLE_S = 0.3  # after a TLS handshake: time for the server to refuse our certificate


@dataclass(slots=True, frozen=True)
class Endpoint:
    scheme: str  # udp, tcp, tls
    host: str
    port: int
    interface: str | None = None  # multicast: the local address to send from (?interface=)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        via = f"?interface={self.interface}" if self.interface else ""
        return f"{self.scheme}://{host}:{self.port}{via}"

    @property
    def multicast(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_multicast
        except ValueError:
            return False


def parse_endpoint(url: str, what: str, default_port: dict[str, int]) -> Endpoint:
    """``scheme://HOST[:PORT]`` -> :class:`Endpoint`; ``SinkError`` saying what is wrong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in default_port:
        raise SinkError(
            f"{what} {url!r}: use " + ", ".join(f"{s}://HOST:PORT" for s in default_port)
        )
    try:
        port = parts.port or default_port[scheme]
    except ValueError as exc:
        raise SinkError(f"{what} {url!r}: bad port ({exc})") from exc
    if not parts.hostname:
        raise SinkError(f"{what} {url!r}: no host")
    interface = parse_qs(parts.query).get("interface", [None])[0]
    ep = Endpoint(scheme, parts.hostname, port, interface)
    if interface is not None:
        try:
            ipaddress.IPv4Address(interface)
        except ValueError:
            raise SinkError(f"{what} {url!r}: interface= takes a local IPv4 address") from None
        if not ep.multicast:
            raise SinkError(f"{what} {url!r}: interface= is for multicast groups")
    return ep


def tls_context(
    ca: Path | None, cert: Path | None = None, key: Path | None = None, what: str = "TLS"
) -> ssl.SSLContext:
    """A client context: the server checked against ``ca`` (default: the system's CAs), with
    a client certificate if given. ``SinkError`` if the files do not load."""
    if (cert is None) != (key is None):
        raise SinkError(f"{what}: a client certificate and its key go together")
    try:
        ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
        if cert is not None and key is not None:
            ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise SinkError(f"{what}: cannot use the certificate files: {exc}") from exc
    return ctx


class Link:
    """A connection to one endpoint (not thread-safe: the sink's worker owns it)."""

    def __init__(
        self,
        endpoint: Endpoint,
        tls: ssl.SSLContext | None = None,
        timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        self.endpoint = endpoint
        self.tls = tls
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._addr: tuple[str, int] | None = None

    @property
    def stream(self) -> bool:
        return self.endpoint.scheme != "udp"

    def _open(self) -> socket.socket:
        ep = self.endpoint
        if ep.scheme == "udp":
            info = socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(info[0], socket.SOCK_DGRAM)
            if ep.multicast:
                level = socket.IPPROTO_IP if info[0] == socket.AF_INET else socket.IPPROTO_IPV6
                opt = (
                    socket.IP_MULTICAST_TTL
                    if info[0] == socket.AF_INET
                    else (socket.IPV6_MULTICAST_HOPS)
                )
                sock.setsockopt(level, opt, MULTICAST_TTL)
                if ep.interface is not None:
                    sock.setsockopt(
                        socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ep.interface)
                    )
            self._addr = (str(info[4][0]), int(info[4][1]))
            sock.settimeout(self.timeout_s)
            return sock
        sock = socket.create_connection((ep.host, ep.port), timeout=self.timeout_s)
        if ep.scheme == "tls":
            assert self.tls is not None
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=ep.host)
            except BaseException:
                sock.close()
                raise
        sock.settimeout(self.timeout_s)
        if ep.scheme == "tls":
            # TLS 1.3: a server that refuses our certificate says so after the handshake.
            try:
                self._drain(sock, TLS_SETTLE_S)
            except BaseException:
                sock.close()
                raise
        return sock

    def _drain(self, sock: socket.socket, wait_s: float = 0.0) -> None:
        """Read and discard what the receiver sent (a TAK server streams other clients'
        events to us; TLS 1.3 servers send session tickets); ``ConnectionError`` if it closed
        the connection, ``ssl.SSLError`` if it refused us."""
        sock.settimeout(0.0)
        try:
            while select.select([sock], [], [], wait_s)[0]:
                wait_s = 0.0
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    return
                if not data:
                    raise ConnectionError("the receiver closed the connection")
        finally:
            sock.settimeout(self.timeout_s)

    def send(self, messages: list[bytes]) -> None:
        """Send every message; ``OSError`` (the link is then closed) if the network fails."""
        if self._sock is None:
            self._sock = self._open()
        sock = self._sock
        try:
            if self.stream:
                self._drain(sock)
                sock.sendall(b"".join(messages))
            else:
                assert self._addr is not None
                for m in messages:
                    sock.sendto(m, self._addr)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
