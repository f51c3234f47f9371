"""Live IQ streams (issue 11): raw IQ through a pipe and GNU Radio ZMQ, played at the real
sample rate by another process; decodes appear while the stream runs; the sample counter,
drops and gaps are exact and reported."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dronewatch.model import Frame
from dronewatch.sources.iq_live import IQChunk, IQStreamSource, spectrum_warnings
from dronewatch.sources.live import LiveOptions, SourceState, open_live

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import iqplay  # noqa: E402

from dronewatch.phy.ocusync.receiver import warm_up  # noqa: E402

RATE = 15.36e6  # one channel: a light stream for a busy machine
PERIOD_S = 0.6
WAIT_S = 60.0


@pytest.fixture(autouse=True)
def _warm() -> None:
    warm_up()  # the receiver's kernels are loaded before the stream starts, as in a source


def _collect(source: IQStreamSource, writer: subprocess.Popen[bytes], want: int
             ) -> tuple[list[Frame], bool]:
    """Frames until ``want`` came or the source is done; whether the first came while the
    writer was still playing."""
    frames: list[Frame] = []
    live_first = False
    deadline = time.monotonic() + WAIT_S
    while len(frames) < want and time.monotonic() < deadline:
        batch = source.get(0.25)
        if batch is None:
            if source.done:
                break
            continue
        if not frames:
            live_first = writer.poll() is None
        frames += batch.frames
    return frames, live_first


def _check(frames: list[Frame], n: int) -> None:
    blocks = iqplay.blocks()[:2]
    assert len(frames) == n
    for k, f in enumerate(frames):
        assert f.payload == blocks[k % 2]
        want = round((k * PERIOD_S + iqplay.BURST_AT_S) * RATE)
        assert f.extra is not None and abs(f.extra["sample_offset"] - want) <= 3
        assert f.frequency_hz == pytest.approx(2414.5e6 + iqplay.BURST_FREQ_HZ, abs=20e3)
    # times follow the sample counter exactly
    dt = np.diff([f.time for f in frames])
    assert np.allclose(dt, PERIOD_S, atol=1e-6)


def _options(fmt: str = "ci16") -> LiveOptions:
    return LiveOptions(extra={"iq_format": fmt, "sample_rate_hz": RATE,
                              "center_freq_hz": 2414.5e6})


def _play(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(HERE / "iqplay.py"), *args],
                            stderr=subprocess.PIPE)


def test_pipe_real_rate_decodes_while_running(tmp_path: Path) -> None:
    fifo = tmp_path / "iq.fifo"
    os.mkfifo(fifo)
    n = 4
    source = open_live(f"iq:{fifo}", _options())
    assert isinstance(source, IQStreamSource)
    source.start()
    writer = _play("ci16", str(RATE), str(n * PERIOD_S), str(PERIOD_S), "--out", str(fifo))
    try:
        frames, live_first = _collect(source, writer, n)
        assert writer.wait(WAIT_S) == 0
        while not source.done:
            time.sleep(0.05)
    finally:
        source.stop()
        writer.kill()
    assert live_first, "decodes must come while the stream runs, not at its end"
    _check(frames, n)
    h = source.health()
    assert h.state is SourceState.ENDED
    assert h.detail["samples"] == round(n * PERIOD_S * RATE)
    assert h.detail["dropped_samples"] == 0 and h.detail["gaps"] == 0
    assert h.detail["bursts"] == n and "warnings" not in h.detail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("pattern", "fmt"), [("sub", "cf32"), ("pull", "cf32"),
                                             ("pull", "ci16")])
def test_zmq_real_rate_decodes_while_running(pattern: str, fmt: str) -> None:
    pytest.importorskip("zmq")
    url = f"tcp://127.0.0.1:{_free_port()}"
    n = 3
    # (the options say --iq-format ci16: the URL's format wins)
    query = f"?pattern={pattern}&format={fmt}"
    source = open_live(f"zmq:{url}{query}", _options())
    source.start()
    push = ["--push"] if pattern == "pull" else []
    writer = _play(fmt, str(RATE), str(n * PERIOD_S), str(PERIOD_S), "--zmq", url, *push)
    try:
        frames, live_first = _collect(source, writer, n)
    finally:
        writer.wait(WAIT_S)
        source.stop()
    assert live_first
    _check(frames, n)
    assert source.health().detail["dropped_samples"] == 0
    assert source.health().detail["pattern"] == pattern
    assert source.health().detail["format"] == {"cf32": "cf32_le", "ci16": "ci16_le"}[fmt]


def test_zmq_pattern_spelling() -> None:
    from dronewatch.sources.iq_zmq import parse_target

    assert parse_target("tcp://h:1") == ("tcp://h:1", "sub", None)
    assert parse_target("tcp://h:1?pattern=PULL") == ("tcp://h:1", "pull", None)
    assert parse_target("tcp://h:1?pattern=pull&format=ci16") == ("tcp://h:1", "pull", "ci16")
    with pytest.raises(ValueError, match="pattern=pull"):
        parse_target("tcp://h:1?pattern=req")
    with pytest.raises(ValueError, match="format=ci16"):
        parse_target("tcp://h:1?format=ci12")


class _Scripted(IQStreamSource):
    """Chunks from a list (with losses and retunes), then the end."""

    def __init__(self, chunks: list[IQChunk], rate: float = RATE) -> None:
        super().__init__("scripted", LiveOptions(), rate, 2414.5e6)
        self._chunks = chunks

    def chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        piece = 100_000  # as a device delivers: small chunks, never more than the queue
        for chunk in self._chunks:
            x = chunk.samples
            for i in range(0, max(len(x), 1), piece):
                while self._wq_samples > self._wq_max // 2:  # real-time-like: no drops
                    time.sleep(0.01)
                if i == 0:
                    yield IQChunk(x[:piece], chunk.dropped_before, chunk.gap,
                                  chunk.center_freq_hz, chunk.overflow, chunk.skipped_before)
                else:
                    yield IQChunk(x[i : i + piece])


def _burst_period(seed: int) -> np.ndarray:
    return iqplay.period_samples(RATE, PERIOD_S, iqplay.blocks()[seed % 2], seed)


def _run(source: IQStreamSource) -> list[Frame]:
    source.start()
    frames: list[Frame] = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        batch = source.get(0.25)
        if batch is not None:
            frames += batch.frames
        elif source.done:
            break
    return frames


def test_losses_advance_the_counter_exactly() -> None:
    a, b, c = _burst_period(0), _burst_period(1), _burst_period(2)
    lost = 123_457
    chunks = [IQChunk(a[:500_000]), IQChunk(a[500_000:]),
              IQChunk(b, dropped_before=lost, overflow=True),
              IQChunk(c, gap=True, center_freq_hz=2429.5e6)]
    source = _Scripted(chunks)
    frames = _run(source)
    n = len(a)
    at = round(iqplay.BURST_AT_S * RATE)
    offsets = [f.extra["sample_offset"] for f in frames if f.extra]
    assert [abs(o - w) <= 3 for o, w in zip(offsets, [at, n + lost + at, 2 * n + lost + at],
                                             strict=True)] == [True] * 3
    assert [f.frequency_hz is not None and round(f.frequency_hz / 1e6, 1) for f in frames] == [
        2416.0, 2416.0, 2431.0]
    d = source.health().detail
    assert d["dropped_samples"] == lost and d["overflows"] == 1 and d["gaps"] == 1
    assert d["samples"] == 3 * n + lost


@pytest.mark.parametrize("warm", [True, False])
def test_worker_behind_drops_whole_segments_counted(warm: bool) -> None:
    from dronewatch.sources.iq_live import QUEUE_S, SEGMENT_S, WARM_QUEUE_S

    period = _burst_period(0)
    source = _Scripted([IQChunk(period) for _ in range(6)])
    if warm:
        source._warmed.set()  # (the kernels are loaded: the steady-state queue)
    # Offer everything with no worker running: the queue holds QUEUE_S of samples at most
    # (plus WARM_QUEUE_S while the kernels load), the rest is dropped in whole segments, counted.
    for ch in source._chunks:
        source._offer(ch)
    d = source.detail()
    seg = int(SEGMENT_S * RATE)
    assert d["blocks_dropped"] >= (10 if warm else 5)
    assert d["dropped_samples"] == d["blocks_dropped"] * seg
    assert d["samples"] == 6 * len(period)
    assert d["queued_samples"] <= int((QUEUE_S + (0 if warm else WARM_QUEUE_S)) * RATE)
    assert d["queued_samples"] > int((QUEUE_S + (0 if warm else WARM_QUEUE_S)) * RATE) - seg
    assert d["queued_samples"] + d["dropped_samples"] + source._parts_len == 6 * len(period)


def test_nan_samples_and_format_warnings() -> None:
    x = _burst_period(0)
    x[1000:3000] = np.nan
    source = _Scripted([IQChunk(x)])
    frames = _run(source)
    assert len(frames) == 1
    assert source.health().detail["samples_zeroed"] == 2000
    rng = np.random.default_rng(1)
    u8 = np.clip(rng.normal(128, 12, 20000), 0, 255).astype(np.uint8)  # cu8 noise
    as_ci8 = u8.view(np.int8).astype(np.float32).view(np.complex64) / 128
    assert any("cu8" in w for w in spectrum_warnings(as_ci8))
    dc = (rng.standard_normal(20000).astype(np.float32) * 0.01 + 0.3).view(np.complex64)
    assert any("DC" in w for w in spectrum_warnings(dc))
    as_cu8 = ((u8.astype(np.float32) - 128) / 128).view(np.complex64)
    assert spectrum_warnings(as_cu8) == []
    huge = rng.standard_normal(20000).astype(np.float32).view(np.complex64) * 1e8
    assert spectrum_warnings(huge)


def test_a_wrong_sample_rate_is_named_from_the_bursts(data_dir: Path) -> None:
    # The real 50 MS/s Mavic capture streamed as if it were 30.72 MS/s: nothing decodes, and
    # the source says at which rate its bursts do (health warnings, the source keeps going).
    from dronewatch.sources.iq_live import RATE_HINT_AT, SEGMENT_S

    x = np.fromfile(data_dir / "mavic_air_2.cf32", dtype=np.complex64)
    rng = np.random.default_rng(5)
    gap = int(SEGMENT_S * 30.72e6)  # the capture again in each segment, up to the first try
    noise = ((rng.standard_normal(gap) + 1j * rng.standard_normal(gap)) * 0.002).astype(np.complex64)
    source = _Scripted([IQChunk(np.concatenate([x, noise])) for _ in range(RATE_HINT_AT[0])],
                       rate=30.72e6)
    frames = _run(source)
    assert frames == []
    warnings = source.health().detail.get("warnings", [])
    assert any("read at 50 MS/s" in w and "--sample-rate" in w for w in warnings), warnings


def test_bad_specs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="--iq-format"):
        open_live("iq:-", LiveOptions(extra={"sample_rate_hz": 50e6}))
    with pytest.raises(ValueError, match="--sample-rate"):
        open_live("iq:-", LiveOptions(extra={"iq_format": "ci16"}))
    with pytest.raises(ValueError, match="unknown IQ format"):
        open_live("iq:-", LiveOptions(extra={"iq_format": "ci12", "sample_rate_hz": 50e6}))
    with pytest.raises(ValueError, match="10 MS/s"):
        open_live("iq:-", LiveOptions(extra={"iq_format": "ci16", "sample_rate_hz": 2e6}))
    with pytest.raises(ValueError, match="zmq:tcp"):
        open_live("zmq:localhost:5555", LiveOptions(extra={"sample_rate_hz": 50e6}))


def test_missing_fifo_fails_with_a_message(tmp_path: Path) -> None:
    source = open_live(f"iq:{tmp_path / 'nope'}", _options())
    source.start()
    deadline = time.monotonic() + WAIT_S
    while not source.done and time.monotonic() < deadline:
        time.sleep(0.05)
    h = source.health()
    assert h.state is SourceState.FAILED and "no such file" in (h.last_error or "")


def test_cli_decode_iq_on_stdin() -> None:
    n = 2
    writer_out = subprocess.Popen(
        [sys.executable, str(HERE / "iqplay.py"), "ci16", str(RATE), str(n * PERIOD_S),
         str(PERIOD_S)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1] / "src")}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dronewatch"), "decode", "--json", "--iq-format", "ci16",
         "--sample-rate", str(RATE), "--center-freq", "2414.5e6", "-"],
        stdin=writer_out.stdout, capture_output=True, timeout=WAIT_S * 2, env=env)
    writer_out.wait(WAIT_S)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert {r.get("serial") for r in lines} == {"1WNBH3900201N1"}, lines
    assert len({r["sample_offset"] for r in lines}) == n
    assert "0 samples dropped" in proc.stderr.decode()


def test_bursts_across_segment_boundaries_decoded_once() -> None:
    from dronewatch.phy.ocusync.transmitter import transmit
    from dronewatch.sources.iq_live import EDGE_S, SEGMENT_S

    seg = int(SEGMENT_S * RATE)
    offsets_s = (-1e-3, -EDGE_S - 2e-6, -EDGE_S + 2e-6, -0.35e-3, -1e-6, 0.0, 0.2e-3)
    rng = np.random.default_rng(5)
    n = (len(offsets_s) + 1) * seg
    x = ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) * 0.02).astype(np.complex64)
    want = []
    for k, off in enumerate(offsets_s):
        payload = bytes([0x30 + k]) * 173
        b = transmit(payload, sample_rate=RATE, freq_offset_hz=1e6, amplitude=0.05)
        at = (k + 1) * seg + round(off * RATE)
        x[at : at + len(b)] += b.astype(np.complex64)
        want.append((at, payload))
    # chunks that do not line up with segments
    chunks = [IQChunk(x[i : i + 300_001]) for i in range(0, n, 300_001)]
    frames = _run(_Scripted(chunks))
    got = [(f.extra["sample_offset"], f.payload) for f in frames if f.extra]
    assert [p for _, p in got] == [p for _, p in want]  # each once, in order
    assert all(abs(o - w) <= 3 for (o, _), (w, _) in zip(got, want, strict=True))


def test_serve_and_sensor_options_name_a_stream() -> None:
    # serve/sensor: --sdr iq:- --sdr-format ci16 --sdr-rate 20e6 --sdr-channels 2414.5
    from dronewatch.cli.live import Receivers

    r = Receivers(sdr=("iq:-", "driver=uhd", "zmq:tcp://127.0.0.1:5555"), sdr_rate=20e6,
                  sdr_format="ci16", sdr_channels=[2414.5e6])
    assert r.specs() == ["iq:-", "soapy:driver=uhd", "zmq:tcp://127.0.0.1:5555"]
    source = open_live("iq:-", LiveOptions(extra=r.extra()))
    assert isinstance(source, IQStreamSource)
    assert source.sample_rate == 20e6 and source.center_freq_hz == 2414.5e6
    zmq_source = open_live("zmq:tcp://127.0.0.1:5555", LiveOptions(extra=r.extra()))
    assert isinstance(zmq_source, IQStreamSource) and zmq_source.sample_rate == 20e6


class _Stalling(_Scripted):
    """Its chunks, then nothing at all (a device or flowgraph that stalled), until stopped."""

    def __init__(self, chunks: list[IQChunk]) -> None:
        super().__init__(chunks)
        self.stalled = threading.Event()

    def chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        yield from super().chunks(stop)
        self.stalled.set()
        stop.wait()


def test_stalled_stream_warns_keeps_its_bursts_and_stops_cleanly() -> None:
    # One period (a burst in it, and Inf/NaN samples), then the stream stalls: the burst is
    # decoded, the bad samples counted; after STALL_S without samples the source says the
    # stream stopped (not that it is slower than --sample-rate: it came at full speed while
    # it came); it keeps running and stops when asked.
    from dronewatch.sources.iq_live import STALL_S

    x = _burst_period(0)
    x[500_000:500_010] = np.inf
    x[600_000:600_005] = np.nan + 1j
    source = _Stalling([IQChunk(x)])
    source.start()
    frames: list[Frame] = []
    warned = False
    deadline = time.monotonic() + STALL_S + WAIT_S
    try:
        while time.monotonic() < deadline and not (frames and warned):
            batch = source.get(0.25)
            if batch is not None:
                frames += batch.frames
            warned = any("stream stopped" in w for w in source.health().detail.get("warnings", []))
        h = source.health()
        assert source.stalled.is_set() and h.state is SourceState.RUNNING
    finally:
        source.stop()
    assert [f.payload for f in frames] == [iqplay.blocks()[0]]
    assert warned and "stalled" in (h.last_error or "") and h.detail["silent_s"] >= STALL_S  # (rounded)
    assert not any("slower than" in w for w in h.detail["warnings"])
    assert h.detail["samples_zeroed"] == 15 and h.detail["samples"] == len(x)
    assert source.done or source.health().state is SourceState.STOPPED


class _Slow(IQStreamSource):
    """Samples at half the rate it claims (a wrong --sample-rate or format), until stopped."""

    def __init__(self) -> None:
        super().__init__("slow", LiveOptions(), RATE, 2414.5e6)

    def chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        piece = 100_000
        rng = np.random.default_rng(7)
        noise = (rng.normal(size=piece) + 1j * rng.normal(size=piece)).astype(np.complex64) * 1e-3
        t0 = time.monotonic()
        sent = 0
        while not stop.is_set():
            yield IQChunk(noise.copy())
            sent += piece
            stop.wait(max(t0 + 2 * sent / RATE - time.monotonic(), 0.0))


def test_a_slow_stream_is_told_from_a_stopped_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import dronewatch.sources.iq_live as iq_live

    monkeypatch.setattr(iq_live, "RATE_CHECK_S", 1.0)
    source = _Slow()
    source.start()
    try:
        wait_for_warning = time.monotonic() + WAIT_S
        warnings: list[str] = []
        while time.monotonic() < wait_for_warning and not warnings:
            source.get(0.25)
            warnings = source.health().detail.get("warnings", [])
        detail = source.health().detail
    finally:
        source.stop()
    assert any("slower than the" in w and "--sample-rate" in w for w in warnings), warnings
    assert not any("stream stopped" in w for w in warnings) and "silent_s" not in detail
    assert 0.3 * RATE < detail["arrival_rate_sps"] < 0.7 * RATE
