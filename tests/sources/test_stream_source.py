"""Capture streams (stdin, FIFOs, TCP): frames come out as packets arrive, not at the end."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dronewatch.decode import decode_frames
from dronewatch.model import Frame
from dronewatch.sources import open_capture
from dronewatch.sources.live import LiveOptions, SourceState, open_live
from dronewatch.sources.pcap import PacketStream, iter_packets
from dronewatch.sources.stream import parse_tcp_target

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURES = ["wireless_RID_test_linux_transmitter.pcapng", "odid_wifi_bcn_sample.pcap",
            "odid_bt5_lr_sample.pcapng"]
DRONEWATCH = str(Path(sys.executable).parent / "dronewatch")
WAIT_S = 30.0  # generous: the machine is busy


def _file_frames(name: str) -> list[Frame]:
    return list(open_capture(DATA / name))


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_packet_stream_matches_file_reader(name: str, chunk: int) -> None:
    data = (DATA / name).read_bytes()
    stream = PacketStream()
    got = []
    for i in range(0, len(data), chunk):
        got += stream.feed(data[i : i + chunk])
    stream.close()
    want = list(iter_packets(data))
    assert [(t, lt, bytes(d)) for t, lt, d in got] == [(t, lt, bytes(d)) for t, lt, d in want]


def test_packet_stream_bad_input() -> None:
    from dronewatch.errors import Corrupt, Truncated

    with pytest.raises(Corrupt):
        PacketStream().feed(b"GET / HTTP/1.1\r\n")
    data = (DATA / "odid_wifi_bcn_sample.pcap").read_bytes()
    stream = PacketStream()
    assert stream.feed(data[:-10])  # every packet but the last
    with pytest.raises(Truncated):
        stream.close()  # the input ended inside the last packet
    # a record length beyond any packet: damage, not "wait for more"
    bad = bytearray(data[:24] + data[24:40])
    bad[32:36] = (10_000_000).to_bytes(4, "little")
    with pytest.raises(Corrupt):
        PacketStream().feed(bytes(bad))


def _half(data: bytes) -> int:
    """A byte offset in the middle of a packet, past the first few."""
    return len(data) // 2 + 3


def test_fifo_half_then_rest(tmp_path: Path) -> None:
    """A FIFO written in two parts: the first part's frames arrive during the pause."""
    name = "wireless_RID_test_linux_transmitter.pcapng"
    data = (DATA / name).read_bytes()
    want = _file_frames(name)
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    source = open_live(f"stream:{fifo}", LiveOptions(sensor_id="s1"))
    source.start()
    try:
        with fifo.open("wb") as writer:
            writer.write(data[: _half(data)])
            writer.flush()
            got: list[Frame] = []
            deadline = time.monotonic() + WAIT_S
            while not got and time.monotonic() < deadline:
                batch = source.get(0.25)
                got += batch.frames if batch else []
            assert got, "nothing came out during the pause"
            first = len(got)
            assert first < len(want)
            writer.write(data[_half(data) :])
        got += [f for batch in source for f in batch.frames]
    finally:
        source.stop()
    assert source.state is SourceState.ENDED
    assert [f.payload for f in got] == [f.payload for f in want]
    assert {f.sensor_id for f in got} == {"s1"}


class _CaptureServer:
    """A TCP server that serves captures: one per connection, as a remote dumpcap would."""

    def __init__(self, payloads: list[list[bytes]]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.payloads = payloads  # per connection: the pieces to send, then close/reset
        self.proceed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for i, pieces in enumerate(self.payloads):
            conn, _ = self.sock.accept()
            for j, piece in enumerate(pieces):
                if i == 0 and j == 1:
                    self.proceed.wait(WAIT_S)
                conn.sendall(piece)
            if i == 0:  # the first connection is reset, not closed
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_tcp_stream_reconnects_after_a_reset() -> None:
    name = "odid_wifi_bcn_sample.pcap"
    data = (DATA / name).read_bytes()
    want = _file_frames(name)
    half = _half(data)
    server = _CaptureServer([[data[:half], data[half : half + 40]], [data]])
    source = open_live(f"tcp://127.0.0.1:{server.port}")
    source.start()
    got: list[Frame] = []
    try:
        deadline = time.monotonic() + WAIT_S
        while not got and time.monotonic() < deadline:
            batch = source.get(0.25)
            got += batch.frames if batch else []
        assert got and len(got) < len(want)  # the first half, while the server waits
        server.proceed.set()
        deadline = time.monotonic() + WAIT_S
        want_payloads = [f.payload for f in want]
        while [f.payload for f in got[-len(want) :]] != want_payloads:  # the second capture
            assert time.monotonic() < deadline, f"{len(got)} frames"
            batch = source.get(0.25)
            got += batch.frames if batch else []
    finally:
        source.stop()
        server.close()
    health = source.health()
    assert health.detail["connections"] >= 2
    assert health.errors >= 1 and health.last_error  # the reset, reported
    n = len(got) - len(want)
    assert [f.payload for f in got[n:]] == [f.payload for f in want]  # the whole second capture
    assert [f.payload for f in got[:n]] == [f.payload for f in want[:n]]


def test_tcp_target() -> None:
    assert parse_tcp_target("tcp://127.0.0.1:9000") == ("127.0.0.1", 9000)
    for bad in ("tcp://host", "tcp://:1", "udp://h:1", "tcp://h:1/x"):
        with pytest.raises(ValueError):
            parse_tcp_target(bad)


def test_stdin_garbage_fails_clearly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [DRONEWATCH, "decode", "--json", "-"],
        input=b"this is not a capture at all", capture_output=True, timeout=120,
    )
    assert proc.returncode == 1
    assert b"not a pcap or pcapng stream" in proc.stderr


@pytest.mark.parametrize("name", ["wireless_RID_test_linux_transmitter.pcapng",
                                  "odid_wifi_bcn_sample.pcap"])
def test_decode_stdin_prints_during_the_pause(name: str) -> None:
    """`decode --json -`: the first half's messages are printed while the writer pauses;
    all of them match decoding the file."""
    data = (DATA / name).read_bytes()
    want = [d.to_json() for d in decode_frames(_file_frames(name))]
    proc = subprocess.Popen(
        [DRONEWATCH, "decode", "--json", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(data[: _half(data)])
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 120)  # the interpreter starts
        assert ready, "no message printed during the pause"
        first = proc.stdout.readline()
        assert json.loads(first) == json.loads(json.dumps(want[0]))
        proc.stdin.write(data[_half(data) :])
        proc.stdin.close()
        rest = proc.stdout.read()
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    lines = [first, *rest.splitlines()]
    assert [json.loads(x) for x in lines] == json.loads(json.dumps(want))
