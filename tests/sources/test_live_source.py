"""The live-source contract: queueing, drops, lossless backpressure, acks, retries, LiveSet."""

from __future__ import annotations

import threading
import time

import pytest

from dronewatch.model import Frame, Transport
from dronewatch.sources import live
from dronewatch.sources.live import LiveSet, LiveSource, SourceEnded, SourceFatal, SourceState


def frames(n: int, t0: float = 0.0) -> list[Frame]:
    return [Frame(b"x", t0 + i, Transport.WIFI_BEACON) for i in range(n)]


class ListSource(LiveSource):
    """Emits given batches, then ends (or waits for stop)."""

    kind = "test"

    def __init__(self, name: str, batches: list[list[Frame]], *, end: bool = True, **kw: object):
        super().__init__(name, **kw)  # type: ignore[arg-type]
        self.batches = batches
        self.end = end
        self.emitted = threading.Event()

    def run(self, stop: threading.Event) -> None:
        for b in self.batches:
            self.emit(b)
        self.emitted.set()
        if self.end:
            raise SourceEnded
        stop.wait()


def test_batches_reach_the_consumer_in_order_then_the_source_ends() -> None:
    src = ListSource("a", [frames(2), frames(3, 10)])
    src.start()
    got = [f.time for batch in src for f in batch.frames]
    assert got == [0.0, 1.0, 10.0, 11.0, 12.0]
    assert src.state is SourceState.ENDED
    h = src.health()
    assert (h.frames, h.drops, h.queued) == (5, 0, 0)
    assert h.last_frame_age_s is not None and h.ok


def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    src = ListSource("a", [frames(1) for _ in range(10)], end=False, queue_batches=4)
    src.start()
    assert src.emitted.wait(5)
    h = src.health()
    assert (h.frames, h.drops, h.queued) == (4, 6, 4)
    src.stop()
    assert src.state is SourceState.STOPPED
    assert sum(len(b.frames) for b in src) == 4  # what was queued is still readable


class LosslessSource(ListSource):
    lossless = True


def test_a_lossless_source_waits_for_room_and_loses_nothing() -> None:
    src = LosslessSource("a", [frames(1, i) for i in range(50)], queue_batches=2)
    src.start()
    time.sleep(0.05)
    assert not src.emitted.is_set()  # blocked on the full queue
    got = [b.frames[0].time for b in src]
    assert got == [float(i) for i in range(50)]
    assert src.drops == 0


def test_ack_travels_with_the_batch() -> None:
    acked: list[int] = []

    class Acking(LiveSource):
        def run(self, stop: threading.Event) -> None:
            self.emit(frames(1), ack=lambda: acked.append(1))
            self.emit([], ack=lambda: acked.append(2))  # nothing to hand on: acked at once
            raise SourceEnded

    src = Acking("a")
    src.start()
    (batch,) = list(src)
    assert acked == [2]
    assert batch.ack is not None and batch.source == "a"
    batch.ack()
    assert acked == [2, 1]


def test_a_failing_source_is_retried_with_backoff_and_reports_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "BACKOFF_MIN_S", 0.01)
    calls = []

    class Flaky(LiveSource):
        def run(self, stop: threading.Event) -> None:
            calls.append(1)
            if len(calls) < 3:
                raise OSError("device gone")
            self.emit(frames(1))
            raise SourceEnded

    src = Flaky("wifi:x")
    src.start()
    assert [len(b.frames) for b in src] == [1]
    h = src.health()
    assert (h.errors, h.restarts, h.state) == (2, 2, SourceState.ENDED)
    assert h.last_error == "OSError: device gone"


def test_a_fatal_error_is_not_retried() -> None:
    class Fatal(LiveSource):
        def run(self, stop: threading.Event) -> None:
            raise SourceFatal("wlan0 is not in monitor mode: run 'iw dev wlan0 set type monitor'")

    src = Fatal("wifi:wlan0")
    src.start()
    assert list(src) == []
    h = src.health()
    assert h.state is SourceState.FAILED and not h.ok
    assert "monitor mode" in (h.last_error or "")
    assert h.to_json()["state"] == "failed"


def test_a_live_set_reads_every_source_round_robin() -> None:
    a = ListSource("a", [frames(1, 0) for _ in range(3)])
    b = ListSource("b", [frames(1, 100) for _ in range(3)])
    both = LiveSet([a, b])
    both.start()
    assert a.emitted.wait(5) and b.emitted.wait(5)
    names = []
    while (batch := both.get(1.0)) is not None:
        names.append(batch.source)
    assert names == ["a", "b", "a", "b", "a", "b"]
    assert both.done
    assert [h.name for h in both.health()] == ["a", "b"]


def test_a_live_set_waits_for_data_without_spinning() -> None:
    src = ListSource("a", [], end=False)
    both = LiveSet([src])
    both.start()
    t0 = time.monotonic()
    assert both.get(0.2) is None
    assert time.monotonic() - t0 >= 0.19
    threading.Timer(0.05, lambda: src.emit(frames(1))).start()
    batch = both.get(5.0)
    assert batch is not None and len(batch.frames) == 1
    both.stop()


def test_spec_parsing() -> None:
    assert live.split_spec("wifi:wlan1") == ("wifi", "wlan1")
    assert live.split_spec("tcp://10.0.0.1:5000") == ("tcp", "tcp://10.0.0.1:5000")
    with pytest.raises(ValueError, match="KIND:TARGET"):
        live.split_spec("wlan1")
    with pytest.raises(ValueError, match="unknown kind"):
        live.open_live("nope:x")
