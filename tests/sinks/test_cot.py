"""Cursor-on-Target to real receivers: pytak's UDP client, a TCP server, bad receivers."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import CAPTURE, UAS_ID, make_settings, wait_idle
from tests.sinks.receivers import (
    TcpReceiver,
    TlsReceiver,
    UdpReceiver,
    alert,
    free_port,
    track,
    wait_for,
)

from dronewatch.server.app import create_app
from dronewatch.sinks.base import SinkError
from dronewatch.sinks.cot import DRONE_TYPE, PILOT_TYPE, CotSink
from dronewatch.sinks.settings import SinkSettings


def events(blob: bytes | str) -> list[ET.Element]:
    text = blob.decode() if isinstance(blob, bytes) else blob
    text = text.replace('<?xml version="1.0" encoding="UTF-8"?>', "")
    return list(ET.fromstring(f"<all>{text}</all>"))


def parse_time(s: str) -> float:
    from datetime import datetime

    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def test_drone_pilot_home_events_over_udp() -> None:
    rx = UdpReceiver()
    sink = CotSink(f"udp://127.0.0.1:{rx.port}", stale_s=45.0)
    sink.start()
    try:
        sink.offer([("alert", alert()), ("track", track())])
        wait_for(lambda: len(rx.datagrams) >= 3, what="three CoT events")
    finally:
        sink.stop()
        rx.close()
    got = {e.get("uid"): e for d in rx.datagrams for e in events(d)}
    drone, pilot, home = got["dronewatch-T1"], got["dronewatch-T1-pilot"], got["dronewatch-T1-home"]
    assert drone.get("type") == DRONE_TYPE == "a-u-A-M-F-Q-r"
    assert pilot.get("type") == PILOT_TYPE and home.get("type") == "b-m-p-s-m"
    stale = parse_time(drone.get("stale", "")) - parse_time(drone.get("time", ""))
    assert stale == pytest.approx(45.0, abs=0.01)
    point = drone.find("point")
    assert point is not None and float(point.get("lat", 0)) == pytest.approx(45.5457)
    assert float(point.get("hae", 0)) == pytest.approx(120.5)
    remarks = drone.findtext("detail/remarks") or ""
    assert "Serial: 1581F4XFC123" in remarks and "Operator ID: GBR-OP-123ABCD" in remarks
    assert "Alert: drone in zone Test field (1)" in remarks
    assert drone.find("detail/contact").get("callsign") == "1581F4XFC123"  # type: ignore[union-attr]
    link = pilot.find("detail/link")
    assert link is not None and link.get("uid") == "dronewatch-T1"
    assert sink.stats().delivered == 1 and sink.stats().skipped == 1  # the alert: remarks


def test_rate_limit_per_track_and_ended_goes_at_once() -> None:
    rx = UdpReceiver()
    sink = CotSink(f"udp://127.0.0.1:{rx.port}", interval_s=30.0)
    sink.start()
    try:
        updates = [
            ("track", track(f"T{i % 5}", lat=45.0 + j * 1e-4)) for j in range(40) for i in range(5)
        ]
        sink.offer(updates)  # type: ignore[arg-type]
        wait_for(lambda: sink.stats().delivered + sink.stats().skipped == 200, what="handled")
        assert sink.stats().delivered == 5  # one per track in the interval
        sink.offer([("track", track("T0", state="ended"))])
        wait_for(lambda: sink.stats().delivered == 6, what="the end of T0")
    finally:
        sink.stop()
        rx.close()
    ended = [e for d in rx.datagrams for e in events(d) if e.get("uid") == "dronewatch-T0"][-1]
    assert ended.get("stale") == ended.get("time")  # gone from the map at once


def test_pytak_receives_the_replayed_capture(tmp_path: Path) -> None:
    """``serve --replay CAPTURE --cot udp://...``: pytak's own UDP client receives the drone."""
    import pytak

    port = free_port(2)  # SOCK_DGRAM

    async def receive(n: int, timeout: float) -> list[bytes]:
        reader, _ = await pytak.create_udp_client(urlparse(f"udp+ro://127.0.0.1:{port}"))
        out: list[bytes] = []
        try:
            while len(out) < n:
                data, _ = await asyncio.wait_for(reader.recv(), timeout)
                out.append(data)
        finally:
            reader.close()
        return out

    loop = asyncio.new_event_loop()
    task = loop.create_task(receive(2, 20.0))
    loop.run_until_complete(asyncio.sleep(0.05))  # bound before the app sends
    settings = make_settings(
        tmp_path, replay=[CAPTURE], sinks=SinkSettings(cot=[f"udp://127.0.0.1:{port}"])
    )
    app = create_app(settings)
    with TestClient(app) as client:
        wait_idle(app.state.ctx)
        got = loop.run_until_complete(task)

        def cot_health() -> dict[str, Any]:
            (st,) = [s for s in client.get("/health").json()["sinks"] if s["kind"] == "cot"]
            return st  # type: ignore[no-any-return]

        # (the sinks' process reports its counters twice a second)
        wait_for(lambda: cot_health()["delivered"] >= 1, what="the CoT sink's count")
        cot = cot_health()
    loop.close()
    evs = [e for d in got for e in events(d)]
    drones = [e for e in evs if e.get("type") == DRONE_TYPE]
    assert drones, [e.attrib for e in evs]
    assert UAS_ID in (drones[0].findtext("detail/remarks") or "")
    assert cot["delivered"] >= 1 and cot["alive"] and cot["dropped"] == 0


def test_tcp_stream_reconnects_after_the_server_restarts() -> None:
    rx = TcpReceiver()
    port = rx.port
    sink = CotSink(f"tcp://127.0.0.1:{port}", interval_s=0.0)
    sink.start()
    try:
        sink.offer([("track", track("A"))])
        wait_for(lambda: "dronewatch-A" in rx.text(), what="the first event")
        rx.close()
        # Sends fail (or go into a dead connection) until a server is back on the port.
        deadline = time.monotonic() + 20
        rx2 = TcpReceiver(port=port)
        try:
            while "dronewatch-B" not in rx2.text():
                assert time.monotonic() < deadline, sink.stats()
                sink.offer([("track", track("B"))])
                time.sleep(0.2)
        finally:
            rx2.close()
    finally:
        sink.stop()
    assert events(rx2.text())  # whole events on the stream, newline separated


def test_unreachable_and_tls_failure_are_counted_not_blocking() -> None:
    closed = free_port()
    plain = TcpReceiver()  # speaks no TLS: the handshake fails
    sinks = [
        CotSink(f"tcp://127.0.0.1:{closed}", queue_max=50),
        CotSink(f"tls://127.0.0.1:{plain.port}", queue_max=50),
    ]
    for s in sinks:
        s.start()
    try:
        t0 = time.monotonic()
        for i in range(200):
            for s in sinks:
                s.offer([("track", track(f"T{i}"))])
        assert time.monotonic() - t0 < 1.0  # offer never waits for the network
        for s in sinks:
            wait_for(lambda s=s: s.stats().failed >= 1, what=f"{s.name} failing")
            st = s.stats()
            assert st.last_error and not st.connected
            assert st.queue_depth <= 50 and st.dropped >= 150
    finally:
        for s in sinks:
            s.stop(timeout=1.0)
        plain.close()
    err = sinks[1].stats().last_error or ""
    assert "SSL" in err or "handshake" in err


def test_hanging_receiver_bounded_queue_and_bounded_stop() -> None:
    rx = TcpReceiver(hang=True)
    sink = CotSink(f"tcp://127.0.0.1:{rx.port}", queue_max=100, interval_s=0.0)
    sink.start()
    try:
        big = track("X", product="P" * 2000)
        t0 = time.monotonic()
        for i in range(3000):
            sink.offer([("track", dict(big, track_id=f"X{i}"))])
        assert time.monotonic() - t0 < 2.0
        wait_for(lambda: sink.stats().dropped > 0, what="drops")
        assert sink.stats().queue_depth <= 100
    finally:
        t0 = time.monotonic()
        sink.stop(timeout=1.0)
        assert time.monotonic() - t0 < 3.0
        rx.close()
    st = sink.stats()
    assert st.queued == 3000
    assert st.delivered + st.dropped + st.skipped <= 3000


def test_bad_urls_and_certificates_are_clear() -> None:
    with pytest.raises(SinkError, match="udp://HOST:PORT"):
        CotSink("http://example.org")
    with pytest.raises(SinkError, match="no host"):
        CotSink("udp://:6969")
    with pytest.raises(SinkError, match="need tls://"):
        CotSink("udp://127.0.0.1:1", cert=Path("/nonexistent"), key=Path("/nonexistent"))
    with pytest.raises(SinkError, match="certificate"):
        CotSink("tls://127.0.0.1:8089", cert=Path("/nonexistent"), key=Path("/nonexistent"))


def test_tls_with_client_certificate(tmp_path: Path) -> None:
    """A TAK-Server-like TLS port that requires a client certificate: with it the events
    arrive; without it the handshake is refused, counted, and the sink keeps trying."""
    from tests.server.test_serve_tls import self_signed

    (tmp_path / "server").mkdir()
    (tmp_path / "client").mkdir()
    server_cert, server_key = self_signed(tmp_path / "server")
    client_cert, client_key = self_signed(tmp_path / "client")
    rx = TlsReceiver(server_cert, server_key, client_ca=client_cert)
    good = CotSink(f"tls://127.0.0.1:{rx.port}", cert=client_cert, key=client_key, ca=server_cert)
    anonymous = CotSink(f"tls://127.0.0.1:{rx.port}", ca=server_cert)
    for s in (good, anonymous):
        s.start()
    try:
        good.offer([("track", track("T9"))])
        anonymous.offer([("track", track("T8"))])
        wait_for(lambda: "dronewatch-T9-home" in rx.text(), what="events over TLS")
        wait_for(lambda: anonymous.stats().failed >= 1, what="the refused client counted")
        assert rx.refused >= 1 and "dronewatch-T8" not in rx.text()
    finally:
        for s in (good, anonymous):
            s.stop(timeout=1.0)
        rx.close()
    uids = {e.get("uid") for e in events(rx.text())}
    assert {"dronewatch-T9", "dronewatch-T9-pilot", "dronewatch-T9-home"} <= uids
    assert good.stats().connected and good.stats().delivered == 1


def test_multicast_group_to_pytak() -> None:
    """The SA multicast group (239.2.3.1), sent from the loopback interface
    (``?interface=``), received by pytak's own multicast client."""
    import pytak

    port = free_port(2)

    async def receive(timeout: float) -> bytes:
        reader, _ = await pytak.create_udp_client(
            urlparse(f"udp+ro://239.2.3.1:{port}"), multicast_local_addrs="127.0.0.1"
        )
        try:
            data, _ = await asyncio.wait_for(reader.recv(), timeout)
        finally:
            reader.close()
        return bytes(data)

    loop = asyncio.new_event_loop()
    task = loop.create_task(receive(20.0))
    loop.run_until_complete(asyncio.sleep(0.1))  # joined before the sink sends
    sink = CotSink(f"udp://239.2.3.1:{port}?interface=127.0.0.1")
    sink.start()
    try:
        sink.offer([("track", track("M1", operator_lat=None, home_lat=None))])
        data = loop.run_until_complete(task)
    finally:
        sink.stop()
        loop.close()
    (ev,) = events(data)
    assert ev.get("uid") == "dronewatch-M1" and ev.get("type") == DRONE_TYPE
    assert sink.name == f"cot udp://239.2.3.1:{port}?interface=127.0.0.1"
    with pytest.raises(SinkError, match="for multicast groups"):
        CotSink("udp://127.0.0.1:6969?interface=127.0.0.1")
