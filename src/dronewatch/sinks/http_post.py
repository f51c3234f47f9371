"""HTTP/1.1 POSTs over one kept-alive connection (the webhook sink's transport).

Each request goes out in one write and its answer is parsed by httptools (llhttp, the parser
uvicorn uses). The standard library's ``http.client`` costs about 180 us of CPU per POST on
this path (two writes per request, answer headers parsed by the ``email`` package); this
costs about 40, most of it the system calls. The sink's CPU is what the pipeline loses.

What a receiver may answer is handled as ``http.client`` would: ``Content-Length``,
chunked, or a body up to the end of the connection; ``Connection: close`` and HTTP/1.0
(the connection is not reused); informational 1xx answers before the real one. A reused
connection that the receiver had closed (idle timeout, restart) is noticed before the request
counts as sent, and the request goes again on a new one. Anything else that goes wrong is an
``OSError`` saying what.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import httptools

MAX_ANSWER = 65536  # bytes of an answer's body read; a longer body closes the connection
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")  # in a request line or a header value
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a header name (RFC 9110 token)


class _Answer:
    """httptools' callbacks for one answer."""

    __slots__ = ("body", "complete", "framed", "headers_done", "keep_alive", "parser", "too_long")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.body = 0  # bytes of body seen
        self.headers_done = False
        self.framed = False  # its length is known (else the body ends with the connection)
        self.complete = False
        self.keep_alive = False  # (llhttp forgets it once the message is complete)
        self.too_long = False

    def on_header(self, name: bytes, _value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = self.parser.get_status_code() >= 200

    def on_body(self, data: bytes) -> None:
        self.body += len(data)
        if self.body > MAX_ANSWER:
            self.too_long = True

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() >= 200:  # not a 1xx: the answer
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()


class PostConnection:
    """POSTs to one ``http://`` or ``https://`` URL, one at a time, on a kept-alive
    connection (opened on the first POST, again after the receiver closed it)."""

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, tls: ssl.SSLContext | None = None
    ) -> None:
        p = urlsplit(url)
        if p.scheme not in ("http", "https") or not p.hostname:
            raise ValueError("use http://HOST/PATH or https://HOST/PATH")
        self.host = p.hostname
        self.port = p.port or (443 if p.scheme == "https" else 80)
        self.timeout_s = timeout_s
        self.tls = (tls or ssl.create_default_context()) if p.scheme == "https" else None
        target = p.path or "/"
        if p.query:
            target += "?" + p.query
        host = f"[{self.host}]" if ":" in self.host else self.host
        if p.port is not None:
            host += f":{p.port}"
        if _FORBIDDEN.search(target) or " " in target:
            raise ValueError("the URL's path holds spaces or control characters")
        self._head = f"POST {target} HTTP/1.1\r\nHost: {host}\r\n"
        self._sock: socket.socket | None = None

    @staticmethod
    def header_block(headers: Mapping[str, str]) -> str:
        """``Name: value\\r\\n`` lines (``ValueError`` for a name or value that could split
        the request)."""
        lines = []
        for name, value in headers.items():
            if not _TOKEN.fullmatch(name) or _FORBIDDEN.search(value):
                raise ValueError(f"invalid HTTP header {name!r}")
            lines.append(f"{name}: {value}\r\n")
        return "".join(lines)

    def post(self, body: bytes, headers: Mapping[str, str] | None = None, fixed: str = "") -> int:
        """POST ``body`` with ``headers`` (and ``fixed``: a :meth:`header_block` made once);
        the answer's status. ``OSError`` when there is no answer (connection refused or lost,
        time-out, not HTTP)."""
        request = (
            f"{self._head}{fixed}{self.header_block(headers) if headers else ''}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        reused = self._sock is not None
        try:
            return self._exchange(request)
        except _Stale:
            if not reused:
                raise OSError("the receiver closed the connection without answering") from None
            return self._exchange(request)  # it had closed the kept-alive one: a new one

    def _exchange(self, request: bytes) -> int:
        sock = self._sock
        if sock is None:
            sock = self._sock = self._open()
        answer = _Answer()
        parser = answer.parser
        deadline = time.monotonic() + self.timeout_s
        received = False
        try:
            sock.settimeout(self.timeout_s)
            sock.sendall(request)
            while not answer.complete:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no complete answer within {self.timeout_s:g} s")
                sock.settimeout(left)
                data = sock.recv(65536)
                if not data:
                    if answer.headers_done and not answer.framed:  # a body up to the end
                        break
                    if not received:
                        raise _Stale
                    raise OSError("the receiver closed the connection in its answer")
                received = True
                parser.feed_data(data)
                if answer.too_long:
                    break
        except httptools.HttpParserError as exc:
            self.close()
            raise OSError(f"not an HTTP answer ({exc})") from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            if not received:
                raise _Stale from exc
            raise
        except BaseException:
            self.close()
            raise
        if not answer.complete or answer.too_long or not answer.keep_alive:
            self.close()  # read up to its end, cut short, or the receiver asks
        return int(parser.get_status_code())

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


class _Stale(OSError):
    """The connection was closed before any byte of the answer (a kept-alive one the
    receiver had let go, most likely)."""
