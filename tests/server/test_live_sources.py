"""The server's live sources: frames from a LiveSource reach the store; each batch is
acknowledged only after its rows are committed; /health shows every source."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import msgspec
from fastapi.testclient import TestClient
from tests.server.conftest import CAPTURE, UAS_ID, VIEWER, make_settings

from dronewatch.decode import decode_frames
from dronewatch.model import Frame
from dronewatch.server.app import create_app
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.live import LiveSet, LiveSource, SourceFatal
from dronewatch.track.observe import observe


def observations_in(frames: list[Frame]) -> int:
    return sum(1 for d in decode_frames(frames) if observe(d) is not None)


class CaptureSource(LiveSource):
    """A capture's frames in batches of ``size``, each with an ack that records how many
    observations the store held when it was called; then it waits to be stopped."""

    kind = "test-capture"

    def __init__(self, frames: list[Frame], size: int, stored: object) -> None:
        super().__init__("test:capture")
        self.batches = [frames[i : i + size] for i in range(0, len(frames), size)]
        self.stored = stored
        self.acked: list[tuple[int, int]] = []  # (batch index, observations stored by then)
        self.all_acked = threading.Event()

    def run(self, stop: threading.Event) -> None:
        for i, batch in enumerate(self.batches):
            self.emit(batch, ack=lambda i=i: self._ack(i))
        stop.wait()

    def _ack(self, i: int) -> None:
        self.acked.append((i, self.stored()))  # type: ignore[operator]
        if len(self.acked) == len(self.batches):
            self.all_acked.set()


class BrokenSource(LiveSource):
    kind = "test-broken"

    def run(self, stop: threading.Event) -> None:
        raise SourceFatal("wlan9 is not in monitor mode")


def test_live_frames_are_stored_and_acknowledged_after_commit(tmp_path: Path) -> None:
    recorded = list(open_capture(CAPTURE, CaptureOptions(sensor_id="mast")))
    shift = time.time() - recorded[0].time  # received now, as a live source stamps them
    frames = [msgspec.structs.replace(f, time=f.time + shift) for f in recorded]
    app = create_app(make_settings(tmp_path))
    ctx = app.state.ctx
    source = CaptureSource(frames, 5, lambda: ctx.store.counts()["observations"])
    ctx.live = LiveSet([source, BrokenSource("wifi:wlan9")])
    with TestClient(app) as client:
        assert source.all_acked.wait(30.0), f"acked {len(source.acked)} of {len(source.batches)}"
        assert [i for i, _ in source.acked] == list(range(len(source.batches)))
        for i, stored in source.acked:  # every batch's rows were committed before its ack
            assert stored >= observations_in([f for b in source.batches[: i + 1] for f in b])
        deadline = time.monotonic() + 10.0
        while not (drones := client.get("/api/drones", headers=VIEWER).json()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert [d["uas_id"] for d in drones] == [UAS_ID]
        assert drones[0]["state"] == "active"  # live: tracked on the wall clock
        health = client.get("/health").json()
    assert health["status"] == "degraded"  # a source failed
    by_name = {s["name"]: s for s in health["sources"]}
    assert by_name["test:capture"]["frames"] == len(frames)
    assert by_name["test:capture"]["state"] == "running"
    assert by_name["wifi:wlan9"]["state"] == "failed"
    assert "monitor mode" in by_name["wifi:wlan9"]["last_error"]
    assert health["counters"]["frames"] == len(frames)
