"""The Processor: rate limiting, positions, and ending tracks the pipeline merged away."""

from __future__ import annotations

import json
from collections.abc import Mapping

from tests.server.conftest import CAPTURE, UAS_ID

from dronewatch.alerts.pipeline import TrackingPipeline
from dronewatch.decode import decode_frames
from dronewatch.model import Alert, Observation, Track, TrackPoint
from dronewatch.server.service import Processor
from dronewatch.sources import open_capture


class MergingPipeline:
    """A pipeline double: one track, merged into a second one after 10 observations."""

    def __init__(self) -> None:
        self._tracks: dict[str, Track] = {}
        self._merged: dict[str, str] = {}
        self.n = 0

    @property
    def tracks(self) -> Mapping[str, Track]:
        return self._tracks

    @property
    def merged(self) -> Mapping[str, str]:
        return self._merged

    def feed_observation(
        self, obs: Observation, *, frame_track: str | None = None
    ) -> tuple[Track | None, list[Alert]]:
        self.n += 1
        tid = "a" if self.n <= 10 else "b"
        if tid == "b" and "a" in self._tracks:
            del self._tracks["a"]
            self._merged["a"] = "b"
        tr = self._tracks.setdefault(tid, Track(tid, obs.time, obs.time))
        tr.last_seen = obs.time
        if obs.lat is not None and obs.lon is not None:
            tr.lat, tr.lon = obs.lat, obs.lon
            tr.positions.append(TrackPoint(obs.time, obs.lat, obs.lon))
        return tr, []

    def tick(self, now: float) -> list[Alert]:
        return []


def decoded() -> list:  # type: ignore[type-arg]
    return list(decode_frames(open_capture(CAPTURE)))


def test_merged_track_is_ended_for_clients_and_store() -> None:
    proc = Processor(MergingPipeline())
    msgs = decoded()
    for d in msgs[:10]:
        proc.handle(d)
    batch, events = proc.collect(0.0)
    assert [json.loads(e[1])["track"]["track_id"] for e in events] == ["a"]
    for d in msgs[10:]:
        proc.handle(d)
    proc.tick(msgs[-1].frame.time)
    batch, events = proc.collect(0.1)  # "b" is new: published; "a" ended by the tick
    tracks = {json.loads(t)["track"]["track_id"]: json.loads(t)["track"] for _, t in events}
    assert tracks["a"]["state"] == "ended" and tracks["a"]["merged_into"] == "b"
    assert batch.tracks["a"]["state"] == "ended" and "merged_into" not in batch.tracks["a"]
    assert tracks["b"]["state"] == "active"


def test_rate_limit_positions_and_counts() -> None:
    proc = Processor(TrackingPipeline(), track_rate_hz=2.0)
    msgs = decoded()
    n_events = 0
    positions = 0
    for i, d in enumerate(msgs):
        proc.handle(d)
        batch, events = proc.collect(i * 0.01)  # 105 messages in ~1 s of wall time
        n_events += sum(1 for k, _ in events if k == "track")
        positions += len(batch.positions)
    assert n_events == 3  # at 0 s, 0.5 s, 1.0 s
    batch, events = proc.collect(100.0, force=True)
    positions += len(batch.positions)
    last = json.loads(events[-1][1])["track"]
    assert last["uas_id"] == UAS_ID and last["positions"] == positions
    assert len(batch.observations) + proc.counters.observations > 0
    assert proc.counters.messages == 105 and proc.counters.observations == 105


def test_tokens_are_redacted_from_logs() -> None:
    import logging

    from dronewatch.cli.serve import RedactTokens

    rec = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "x",
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/?token=abc&x=1", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(rec)
    assert rec.getMessage() == '1.2.3.4:5 - "GET /?token=***&x=1 HTTP/1.1" 200'
    rec = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        "x",
        1,
        '"WebSocket /api/stream?token=s3cret" [accepted]',
        None,
        None,
    )
    RedactTokens().filter(rec)
    assert "s3cret" not in rec.getMessage()


def test_sensor_frames_count_frames_not_messages() -> None:
    """A message pack is one frame: /api/sensors counts it once, however many messages."""
    from dronewatch.model import Decoded, Frame, Transport
    from dronewatch.protocols.astm import BasicId, Location, System, decode, encode_pack

    proc = Processor(TrackingPipeline())
    pack = encode_pack([BasicId(uas_id="SENSORCOUNT1"), Location(lat=48.0, lon=2.0), System()])
    for i in range(4):
        frame = Frame(pack, 1_700_000_000.0 + i, Transport.WIFI_BEACON, "02:00:00:00:00:01",
                      sensor_id="roof")
        for message in decode(pack):
            proc.handle(Decoded(frame, message))
    assert proc.counters.messages == 12
    assert proc.batch.sensors["roof"].frames == 4


class _Estimate:
    """An RF estimate double (``RfEstimate.to_json``'s shape)."""

    def to_json(self) -> dict[str, object]:
        return {"time": 1.0, "lat": 48.1, "lon": 2.1, "error_m": 25.0, "sensors": ["s1"]}


class LocatingMergingPipeline(MergingPipeline):
    """As MergingPipeline, with an RF estimate for a track as long as it holds the track
    (the real one forgets it with the track, before the Processor ends it)."""

    def rf_estimate(self, track_id: str) -> _Estimate | None:
        return _Estimate() if track_id in self._tracks else None


def test_a_merged_tracks_last_record_keeps_its_rf_estimate() -> None:
    proc = Processor(LocatingMergingPipeline())
    msgs = decoded()
    for d in msgs[:10]:
        proc.handle(d)
    batch, events = proc.collect(0.0)
    assert batch.tracks["a"]["rf_lat"] == 48.1
    for d in msgs[10:]:
        proc.handle(d)
    proc.tick(msgs[-1].frame.time)
    batch, events = proc.collect(0.1)
    tracks = {json.loads(t)["track"]["track_id"]: json.loads(t)["track"] for _, t in events}
    ended = tracks["a"]
    assert ended["state"] == "ended" and (ended["rf_lat"], ended["rf_error_m"]) == (48.1, 25.0)
    assert batch.tracks["a"]["rf_estimate"]["sensors"] == ["s1"]
    assert "a" not in proc._rf_last  # forgotten with the track
