"""The webhook's HTTP transport against real sockets: the answers receivers really give
(chunked, up to the end of the connection, 1xx first, HTTP/1.0, too long, not HTTP), receivers
that hang, trickle or close, HTTPS, and requests that must not be sent."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.server.test_serve_tls import self_signed
from tests.sinks.receivers import HookReceiver, alert, wait_for

from dronewatch.sinks.base import SinkError, SinkSet
from dronewatch.sinks.http_post import MAX_ANSWER, PostConnection
from dronewatch.sinks.webhook import WebhookSink
from dronewatch.store import Store, WriteBatch

#: What the scripted receiver does with one request: bytes to answer (then it reads the
#: next request on the same connection), or a function of the connection.
Action = bytes | Callable[[socket.socket], None]


def close(conn: socket.socket) -> None:
    conn.close()


class ScriptedReceiver:
    """A TCP server answering the n-th request it reads with ``script[n]`` (the last action
    repeats); records every request (head, body) and counts connections."""

    def __init__(self, script: list[Action], tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(buf) < length:
                    buf += conn.recv(65536)
                body, buf = buf[:length], buf[length:]
                self.requests.append((head, body))
                action = self.script[min(len(self.requests), len(self.script)) - 1]
                if isinstance(action, bytes):
                    conn.sendall(action)
                else:
                    action(conn)
                    return
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes accept(): the port stops listening now
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


def test_kept_alive_answers_of_every_framing() -> None:
    """Content-Length, chunked and 1xx-first answers keep the connection; each status is
    read; the request goes out whole, with the headers given."""
    rx = ScriptedReceiver(
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nthanks",
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4\r\nqueu\r\n2\r\ned\r\n0\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            NO_CONTENT,
        ]
    )
    http = PostConnection(rx.url("/hook?token=t1"))
    fixed = PostConnection.header_block({"Content-Type": "application/json"})
    try:
        statuses = [http.post(b'{"n":%d}' % i, {"Idempotency-Key": f"k{i}"}, fixed) for i in range(4)]
    finally:
        http.close()
        rx.close()
    assert statuses == [200, 202, 201, 204] and rx.connections == 1
    head, body = rx.requests[1]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /hook?token=t1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{rx.port}" in lines and "Content-Type: application/json" in lines
    assert "Idempotency-Key: k1" in lines and "Content-Length: 7" in lines
    assert body == b'{"n":1}'


def test_connection_reused_until_the_receiver_says_close() -> None:
    rx = ScriptedReceiver(
        [
            NO_CONTENT,
            NO_CONTENT,
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            NO_CONTENT,
        ]
    )
    http = PostConnection(rx.url())
    try:
        assert [http.post(b"x") for _ in range(3)] == [204, 204, 200]
        assert rx.connections == 1
        assert http.post(b"x") == 204  # "Connection: close" honoured: a new one
        assert rx.connections == 2
    finally:
        http.close()
        rx.close()


def test_http10_body_up_to_the_end_of_the_connection() -> None:
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok, got it")
        conn.close()

    rx = ScriptedReceiver([answer])
    http = PostConnection(rx.url())
    try:
        assert http.post(b"a") == 200 and http.post(b"b") == 200
        assert rx.connections == 2  # not reused
    finally:
        http.close()
        rx.close()


def test_an_answer_too_long_is_cut_short() -> None:
    big = b"x" * (MAX_ANSWER * 4)

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % len(big))
        with contextlib.suppress(OSError):
            conn.sendall(big)  # the client stops reading

    rx = ScriptedReceiver([answer, NO_CONTENT])
    http = PostConnection(rx.url(), timeout_s=5.0)
    try:
        t0 = time.monotonic()
        assert http.post(b"a") == 500
        assert time.monotonic() - t0 < 5.0
        assert http.post(b"b") == 204 and rx.connections == 2
    finally:
        http.close()
        rx.close()


def test_not_http_hanging_trickling_and_closing_receivers_are_errors() -> None:
    released = threading.Event()

    def trickle(conn: socket.socket) -> None:  # a valid answer whose headers never end
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        while not released.wait(0.1):
            conn.sendall(b"a")

    def hang(conn: socket.socket) -> None:
        released.wait(30)

    def half(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")

    cases: list[tuple[Action, str]] = [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP answer"),
        (close, "closed the connection without answering"),
        (half, "closed the connection in its answer"),
    ]
    for action, message in cases:
        rx = ScriptedReceiver([action])
        http = PostConnection(rx.url(), timeout_s=2.0)
        try:
            with pytest.raises(OSError, match=message):
                http.post(b"x")
        finally:
            http.close()
            rx.close()
    for action in (trickle, hang):
        rx = ScriptedReceiver([action])
        http = PostConnection(rx.url(), timeout_s=1.0)
        t0 = time.monotonic()
        try:
            with pytest.raises(TimeoutError):
                http.post(b"x")
        finally:
            http.close()
            rx.close()
        assert time.monotonic() - t0 < 3.0  # the whole answer's deadline, not per read
    released.set()
    with pytest.raises(ConnectionRefusedError):
        PostConnection(rx.url(), timeout_s=1.0).post(b"x")  # nobody listens there now


def test_requests_that_could_be_split_are_refused() -> None:
    http = PostConnection("http://127.0.0.1:9/hook")
    with pytest.raises(ValueError, match="invalid HTTP header"):
        http.post(b"x", {"X-Key": "a\r\nInjected: yes"})
    with pytest.raises(ValueError, match="invalid HTTP header"):
        http.post(b"x", {"Bad Name": "a"})
    with pytest.raises(ValueError, match="http://HOST"):
        PostConnection("ftp://127.0.0.1/hook")


def test_webhook_over_https_with_basic_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTTPS receiver whose certificate the system trusts (``SSL_CERT_FILE``, as for a
    private CA): alerts arrive signed, with the URL's user and password as basic auth; a
    receiver the system does not trust is a counted failure, retried, nothing lost."""
    cert, key = self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    rx = ScriptedReceiver([NO_CONTENT], tls=tls)
    store = Store.open(str(tmp_path / "dw.db"))
    untrusted = WebhookSink(f"https://127.0.0.1:{rx.port}/other", store, retry_first_s=0.2)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    sink = WebhookSink(
        f"https://ops:p%40ss@127.0.0.1:{rx.port}/hook", store, secret=b"k", retry_first_s=0.2
    )
    sinks = SinkSet([sink, untrusted])
    sinks.start()
    try:
        recs = [alert(n=i) for i in range(3)]
        store.write(WriteBatch(alerts=recs, outbox=sinks.outbox_rows(recs)))
        sinks.publish([], recs)
        wait_for(lambda: sink.stats().delivered == 3, what="three alerts over HTTPS")
        wait_for(lambda: untrusted.stats().failed >= 1, what="the untrusted receiver counted")
        st = untrusted.stats()
        assert st.delivered == 0 and "CERTIFICATE_VERIFY_FAILED" in (st.last_error or "")
        assert st.queue_depth == 3  # still owed, in the outbox
    finally:
        sinks.stop()
        store.close()
        rx.close()
    assert rx.connections >= 1 and len(rx.requests) == 3
    for head, _ in rx.requests:
        lines = head.decode().split("\r\n")
        assert lines[0] == "POST /hook HTTP/1.1"
        assert "Authorization: Basic b3BzOnBAc3M=" in lines  # ops:p@ss
        assert any(line.startswith("X-Dronewatch-Signature: sha256=") for line in lines)


def test_bad_webhook_urls_are_clear(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "dw.db"))
    try:
        with pytest.raises(SinkError, match="spaces or control characters"):
            WebhookSink("http://127.0.0.1/a b", store)
    finally:
        store.close()


def test_hook_receiver_still_answered_by_http_server(tmp_path: Path) -> None:
    """The standard library's server (HTTP/1.0, closing after each answer): every alert
    delivered once, on a connection each."""
    rx = HookReceiver(b"k")
    store = Store.open(str(tmp_path / "dw.db"))
    sink = WebhookSink(rx.url, store, secret=b"k")
    sinks = SinkSet([sink])
    sinks.start()
    try:
        recs = [alert(n=i) for i in range(4)]
        store.write(WriteBatch(alerts=recs, outbox=sinks.outbox_rows(recs)))
        sinks.publish([], recs)
        wait_for(lambda: sink.stats().delivered == 4, what="four alerts")
    finally:
        sinks.stop()
        store.close()
        rx.close()
    assert len(rx.keys()) == 4 and len(rx.connections) == 4 and sink.stats().failed == 0
