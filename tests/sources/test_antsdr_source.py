"""``antsdr:HOST:PORT``: a local TCP server plays encoded AntSDR frames (issue 11)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from dronewatch.decode import decode_frames
from dronewatch.model import Transport
from dronewatch.protocols.antsdr import DjiAntsdrReport, encode, encode_frame
from dronewatch.sources.antsdr import parse_target
from dronewatch.sources.live import LiveOptions, SourceState, open_live
from dronewatch.track.observe import observe

WAIT_S = 30.0


def _report(i: int) -> DjiAntsdrReport:
    return DjiAntsdrReport(
        serial=f"SN{i:04d}", product="Mini 3", product_type=96, lat=52.0 + i * 1e-4,
        lon=4.0, height=30.0, alt=60.0, home_lat=52.0, home_lon=4.0, operator_lat=52.0,
        operator_lon=4.0001, speed_east=1.0, speed_north=2.0, speed_up=0.0,
        frequency_hz=5756.5e6, rssi=-70 + i)


def _serve(chunks: list[list[bytes]]) -> tuple[int, threading.Thread]:
    """One connection per item of ``chunks``; each sends its pieces with small pauses."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def run() -> None:
        with srv:
            for pieces in chunks:
                conn, _ = srv.accept()
                with conn:
                    for p in pieces:
                        conn.sendall(p)
                        time.sleep(0.02)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return port, t


def test_reports_arrive_decoded_and_reconnect_after_damage() -> None:
    frames = [encode_frame(encode(_report(i))) for i in range(4)]
    stream1 = frames[0] + frames[1][:100]  # a report split over two sends
    first = [stream1, frames[1][100:] + encode_frame(b"xyz", frame_type=0x07),
             b"\x00\x00\x01\xff\xff"]  # then damage: the source reconnects
    second = [frames[2] + frames[3]]
    port, _server = _serve([first, second])
    source = open_live(f"antsdr:127.0.0.1:{port}", LiveOptions(sensor_id="wardragon"))
    source.start()
    got = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < 4 and time.monotonic() < deadline:
        batch = source.get(0.25)
        if batch is not None:
            got += batch.frames
    source.stop()
    assert [f.transport for f in got] == [Transport.ANTSDR_DRONEID] * 4
    decoded = list(decode_frames(got))
    assert [d.message.serial for d in decoded] == ["SN0000", "SN0001", "SN0002", "SN0003"]
    assert got[0].frequency_hz == pytest.approx(5756.5e6) and got[0].rssi_dbm == -70
    obs = observe(decoded[0])
    assert obs is not None and obs.serial == "SN0000" and obs.lat == pytest.approx(52.0)
    assert obs.operator_lon == pytest.approx(4.0001) and obs.sensor_id == "wardragon"
    h = source.health()
    assert h.detail["connections"] == 2 and h.detail["reports"] == 4
    assert h.skipped.get("antsdr: frame type 0x07") == 1
    assert h.skipped.get("antsdr: antsdr-length") == 1


def test_targets_and_unreachable() -> None:
    assert parse_target("172.31.100.2") == ("172.31.100.2", 41030)
    assert parse_target("wardragon.local:41031") == ("wardragon.local", 41031)
    for bad in (":41030", "host:x", "host:0"):
        with pytest.raises(ValueError):
            parse_target(bad)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    source = open_live(f"antsdr:127.0.0.1:{port}", LiveOptions())
    source.start()
    deadline = time.monotonic() + WAIT_S
    while source.health().state is not SourceState.RETRYING and time.monotonic() < deadline:
        time.sleep(0.02)
    source.stop()
    assert "cannot connect" in (source.health().last_error or "")
