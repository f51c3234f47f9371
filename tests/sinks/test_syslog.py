"""Syslog (RFC 5424 and CEF) to real UDP and TCP socket servers; a server that refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import CAPTURE, make_settings, wait_idle
from tests.sinks.receivers import TcpReceiver, UdpReceiver, alert, free_port, wait_for

from dronewatch.server.app import create_app
from dronewatch.sinks.base import SinkError
from dronewatch.sinks.settings import SinkSettings
from dronewatch.sinks.syslog import SyslogSink

# RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<proc>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|\[(?:[^\]\\]|\\.)*\])(?: (?P<msg>.*))?$",
    re.S,
)


def octet_frames(data: bytes) -> list[str]:
    """RFC 6587 octet-counted frames -> messages (every byte accounted for)."""
    out = []
    while data:
        length, _, rest = data.partition(b" ")
        n = int(length)
        out.append(rest[:n].decode())
        data = rest[n:]
    return out


def sd_params(sd: str) -> dict[str, str]:
    return {
        k: v.replace('\\"', '"').replace("\\]", "]").replace("\\\\", "\\")
        for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', sd)
    }


def test_rfc5424_over_udp() -> None:
    rx = UdpReceiver()
    sink = SyslogSink(f"udp://127.0.0.1:{rx.port}?facility=local3")
    sink.start()
    try:
        sink.offer([("alert", alert(message='odd "text" ] \\ here'))])
        wait_for(lambda: len(rx.datagrams) == 1, what="a datagram")
    finally:
        sink.stop()
        rx.close()
    m = RFC5424.match(rx.datagrams[0].decode())
    assert m is not None, rx.datagrams[0]
    assert int(m["pri"]) == 19 * 8 + 2  # local3, crit
    assert m["ts"].endswith("Z") and m["app"] == "dronewatch" and m["msgid"] == "alert"
    assert m["sd"].startswith("[dronewatch@32473 ")
    params = sd_params(m["sd"])
    assert params["uas_id"] == "MFG1A0123456789" and params["zone"] == "test-zone"
    assert params["severity"] == "critical" and params["status"] == "open"
    assert m["msg"] == '\ufeffodd "text" ] \\ here'


def test_cef_over_tcp_with_octet_counting() -> None:
    rx = TcpReceiver()
    sink = SyslogSink(f"tcp://127.0.0.1:{rx.port}", fmt="cef")
    sink.start()
    try:
        sink.offer([("alert", alert(n=i, message=f"a|b=c {i}")) for i in range(3)])
        wait_for(lambda: len(rx.data) > 0 and sink.stats().delivered == 3, what="three")
        wait_for(lambda: len(octet_frames(bytes(rx.data))) == 3, what="three frames")
    finally:
        sink.stop()
        rx.close()
    for i, frame in enumerate(octet_frames(bytes(rx.data))):
        m = RFC5424.match(frame)
        assert m is not None and m["sd"] == "-"
        head = m["msg"].split("|")
        assert head[:4] == ["CEF:0", "dronewatch", "dronewatch", head[3]]
        assert head[4] == "zone" and head[5] == "a\\" and head[6] == f"b=c {i}"
        assert "cs1Label=uasId cs1=MFG1A0123456789" in m["msg"]
        assert f"msg=a|b\\=c {i}" in m["msg"] and "dlat=45.5457" in m["msg"]
        assert "|10|" in m["msg"]  # critical


def test_serve_sends_the_replay_alerts(tmp_path: Path) -> None:
    rx = UdpReceiver()
    sinks = SinkSettings(syslog=[f"udp://127.0.0.1:{rx.port}"])
    app = create_app(make_settings(tmp_path, replay=[CAPTURE], sinks=sinks))
    try:
        with TestClient(app) as client:
            wait_idle(app.state.ctx)
            n = app.state.ctx.counters.alerts
            wait_for(lambda: len(rx.datagrams) >= n >= 1, what="every alert")
            # (the sinks' process reports its counters twice a second)
            wait_for(
                lambda: client.get("/health").json()["sinks"][0]["delivered"] == n,
                what="the delivered alerts counted",
            )
            (st,) = client.get("/health").json()["sinks"]
    finally:
        rx.close()
    assert st["kind"] == "syslog" and st["delivered"] == n
    assert all(RFC5424.match(d.decode()) for d in rx.datagrams)


def test_refusing_server_is_counted() -> None:
    sink = SyslogSink(f"tcp://127.0.0.1:{free_port()}", queue_max=20)
    sink.start()
    try:
        for i in range(100):
            sink.offer([("alert", alert(n=i))])
        wait_for(lambda: sink.stats().failed >= 1, what="a failure")
        st = sink.stats()
        assert "refused" in (st.last_error or "") and st.queue_depth <= 20
        assert st.dropped >= 80
    finally:
        sink.stop(timeout=1.0)


def test_bad_options() -> None:
    with pytest.raises(SinkError, match="unknown facility"):
        SyslogSink("udp://127.0.0.1:514?facility=kern9")
    with pytest.raises(SinkError, match="rfc5424 or cef"):
        SyslogSink("udp://127.0.0.1:514", fmt="json")
    with pytest.raises(SinkError, match="udp://HOST:PORT"):
        SyslogSink("syslog://127.0.0.1")
