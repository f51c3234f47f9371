"""Frames from outside, checked at the server's edge: through the real broker into SQLite and
PostgreSQL, bad frames (NaN, infinite, far-future and negative times, NUL bytes, absurd RSSI,
huge strings, deep structures) are refused and counted per sensor and reason in /health, the
good frames around them (and another sensor's) are stored, and ingest goes on."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import msgspec
import paho.mqtt.client as paho
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from tests.server.conftest import CAPTURE, make_settings
from tests.server.ingestutil import observation_keys, stored_keys, wait_for
from tests.sources.mqttutil import BROKER_HOST, BROKER_PORT, BROKER_URL, require_broker
from tests.store.pgutil import pg_databases

from dronewatch.model import Frame
from dronewatch.server.app import create_app
from dronewatch.server.context import AppContext
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.mqtt import Envelope, frames_topic, seal
from dronewatch.store import models as m

YEAR_S = 365 * 86400.0


class Ingest:
    """A server taking MQTT frames (shared broker, a prefix of its own) and a raw publisher
    that can send anything, as any sensor."""

    def __init__(self, client: TestClient, prefix: str) -> None:
        self.client = client
        self.ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
        self.prefix = prefix
        self.seq: Counter[str] = Counter()
        self.session = uuid.uuid4().hex[:12]
        self.pub = paho.Client(CallbackAPIVersion.VERSION2)
        self.pub.connect(BROKER_HOST, BROKER_PORT)
        self.pub.loop_start()

    def send_raw(self, sensor: str, payload: bytes) -> None:
        info = self.pub.publish(frames_topic(self.prefix, sensor), payload, qos=1)
        info.wait_for_publish(10.0)

    def send(self, sensor: str, frames: list[Any]) -> None:
        """One batch of ``frames`` (Frames, or anything as a raw msgpack frame)."""
        seq = self.seq[sensor]
        self.seq[sensor] += 1
        if all(isinstance(f, Frame) for f in frames):
            payload = seal(Envelope(sensor, self.session, seq, time.time(), frames))
        else:
            body = msgspec.msgpack.encode(
                {"sensor": sensor, "session": self.session, "seq": seq, "sent": time.time(),
                 "frames": frames}
            )
            payload = msgspec.msgpack.encode({"v": 1, "body": body})
        self.send_raw(sensor, payload)

    def health(self) -> dict[str, Any]:
        return self.client.get("/health").json()  # type: ignore[no-any-return]

    def sensor(self, sensor_id: str) -> dict[str, Any]:
        for s in self.health()["sensors"]:
            if s["sensor_id"] == sensor_id:
                return s  # type: ignore[no-any-return]
        return {"frames": 0, "rejected": {}, "messages": 0}

    def stored(self) -> Counter[tuple[Any, ...]]:
        return stored_keys(self.ctx.store)

    def close(self) -> None:
        self.pub.disconnect()
        self.pub.loop_stop()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def ingest(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    require_broker()
    tmp = tmp_path_factory.mktemp("edge")
    with contextlib.ExitStack() as stack:
        db = str(tmp / "dw.db") if request.param == "sqlite" else stack.enter_context(pg_databases())()
        prefix = f"dronewatch-test/{uuid.uuid4().hex[:12]}"
        app = create_app(
            make_settings(tmp, db=db, mqtt=BROKER_URL, mqtt_topic_prefix=prefix,
                          mqtt_client_id=f"dw-edge-{uuid.uuid4().hex[:12]}",
                          mqtt_session_expiry_s=60)
        )
        with TestClient(app) as client:
            ctx: AppContext = app.state.ctx
            assert ctx.live is not None
            assert ctx.live.sources[0].subscribed.wait(20.0)  # type: ignore[attr-defined]
            it = Ingest(client, prefix)
            yield it
            it.close()


def live_frames(sensor: str, t0: float | None = None) -> list[Frame]:
    """The real capture's frames, as if received now by ``sensor``."""
    recorded = list(open_capture(CAPTURE, CaptureOptions(sensor_id=sensor)))
    shift = (t0 if t0 is not None else time.time()) - recorded[0].time
    return [msgspec.structs.replace(f, time=f.time + shift) for f in recorded]


@pytest.mark.mqtt
def test_bad_frames_are_refused_alone_and_counted_by_reason(ingest: Ingest) -> None:
    sensor = f"bad-{uuid.uuid4().hex[:6]}"
    other = f"good-{uuid.uuid4().hex[:6]}"
    now = time.time()
    good = live_frames(sensor, now - 30)
    others = live_frames(other, now - 20)
    base = good[0]
    r = msgspec.structs.replace
    bad: list[tuple[Any, str]] = [
        (r(base, time=float("nan")), "time: not finite"),
        (r(base, time=float("inf")), "time: not finite"),
        (r(base, time=float("-inf")), "time: not finite"),
        (r(base, time=now + YEAR_S), "time: in the future"),
        (r(base, time=-5.0), "time: too far in the past"),
        (r(base, time=0.0), "time: too far in the past"),
        (r(base, source="aa:bb\x00cc"), "source: NUL character"),
        (r(base, source="A" * 1_000_000), "source: longer than 64 characters"),
        (r(base, rssi_dbm=500.0), "rssi: out of range"),
        (r(base, rssi_dbm=float("nan")), "rssi: not finite"),
        (r(base, frequency_hz=1e30), "frequency: out of range"),
        (r(base, channel=10**12), "channel: out of range"),
        (r(base, counter=-1), "counter: out of range"),
        (r(base, payload=bytes(1 << 20)), "payload: too large"),
        (r(base, extra={"a": {"b": {"c": [1, 2]}}}), "extra: not flat"),
        (r(base, extra={"snr_db": float("inf")}), "extra: not finite"),
        (r(base, extra={"k\x00": 1}), "extra: NUL character"),
        (r(base, sensor_id="bad\x00"), "frame: sensor id differs from the topic"),
        ({**msgspec.structs.asdict(base), "time": "yesterday"}, "frame: not a valid frame"),
        ({**msgspec.structs.asdict(base), "payload": None}, "frame: not a valid frame"),
    ]
    before_good = ingest.stored()
    # Interleaved: bad frames in the middle of good ones, batches of both sensors alternating.
    step = 3
    n = -(-len(good) // step)
    for k in range(n):
        chunk: list[Any] = list(good[k * step : (k + 1) * step])
        chunk[1:1] = [f for f, _ in bad[k::n]]
        ingest.send(sensor, chunk)
        ingest.send(other, others[k * step : (k + 1) * step])
    expected = observation_keys(good) + observation_keys(others)
    wait_for(lambda: ingest.stored() - before_good == expected, 60, "the good frames")
    want = Counter(reason for _, reason in bad)
    wait_for(lambda: ingest.sensor(sensor)["rejected"] == dict(want), 30, "the counts")
    h = ingest.health()
    assert h["status"] == "degraded"
    assert any(c.startswith(f"sensor {sensor}: {len(bad)} refused") for c in h["causes"])
    assert ingest.sensor(other)["rejected"] == {}
    assert ingest.sensor(sensor)["frames"] == len(good)
    assert h["counters"]["db_rows_rejected"] == 0 and h["counters"]["pipeline_errors"] == 0
    assert h["threads"]["writer"]["alive"] and h["threads"]["pipeline"]["alive"]
    # Ingest goes on.
    later = live_frames(other, time.time() - 5)
    before = ingest.stored()
    ingest.send(other, later)
    wait_for(lambda: ingest.stored() - before == observation_keys(later), 30, "later frames")


@pytest.mark.mqtt
def test_a_refused_message_and_a_gap_are_counted(ingest: Ingest) -> None:
    sensor = f"gap-{uuid.uuid4().hex[:6]}"
    frames = live_frames(sensor)
    ingest.send_raw(sensor, b"\xc1 not msgpack")
    ingest.send(sensor, frames[:5])  # seq 0
    ingest.seq[sensor] += 3  # 1, 2, 3 never sent
    ingest.send(sensor, frames[5:10])  # seq 4
    ingest.send(sensor, frames[5:10])  # seq 5
    wait_for(lambda: ingest.sensor(sensor)["messages"] == 3, 30, "three batches")
    s = ingest.sensor(sensor)
    assert s["batches_missing"] == 3 and s["rejected"] == {"message: not msgpack": 1}
    assert any(f"sensor {sensor}: 3 batches never arrived" in c for c in ingest.health()["causes"])


@pytest.mark.mqtt
def test_the_sensor_clock_offset_is_measured(ingest: Ingest) -> None:
    sensor = f"skew-{uuid.uuid4().hex[:6]}"
    frames = live_frames(sensor, time.time() - 10)
    payload = seal(Envelope(sensor, "s", 0, time.time() + 30.0, frames[:3]))  # 30 s ahead
    ingest.send_raw(sensor, payload)
    wait_for(lambda: ingest.sensor(sensor)["messages"] == 1, 30, "the batch")
    offset = ingest.sensor(sensor)["clock_offset_s"]
    assert 28.0 < offset <= 30.0
    assert any(c.startswith(f"sensor {sensor}: clock") and "ahead of the server" in c
               for c in ingest.health()["causes"])


# -- properties ------------------------------------------------------------------------------

FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [1e308, -1e308, 5e-324, 0.0, -0.0]
)
TEXT = st.text(max_size=80) | st.text(alphabet="\x00\x01a\u2028\ufffd", max_size=10) | st.just(
    "x" * 100_000
)
LEAF = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | FLOATS | TEXT
EXTRA = st.none() | st.dictionaries(
    TEXT, st.recursive(LEAF, lambda c: st.lists(c, max_size=3) | st.dictionaries(TEXT, c, max_size=3), max_leaves=20), max_size=5
)


@st.composite
def fuzzed_frame(draw: st.DrawFn, base: Frame) -> Frame:
    r = msgspec.structs.replace
    recent = st.floats(-100.0, 30.0).map(lambda d: time.time() + d)
    return r(
        base,
        time=draw(st.one_of(FLOATS, recent)),
        source=draw(st.none() | TEXT),
        rssi_dbm=draw(st.none() | FLOATS),
        channel=draw(st.none() | st.integers(-(2**63), 2**63 - 1)),
        frequency_hz=draw(st.none() | FLOATS),
        counter=draw(st.none() | st.integers(-(2**63), 2**63 - 1)),
        extra=draw(EXTRA),
        payload=draw(st.sampled_from([base.payload, b"", bytes(5000)])),
    )


@pytest.mark.mqtt
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_field_values_through_the_broker_never_stop_ingest(
    ingest: Ingest, data: st.DataObject
) -> None:
    sensor, other = "fuzz", "steady"
    base = live_frames(sensor)
    frames = [data.draw(fuzzed_frame(base[i % len(base)])) for i in range(data.draw(st.integers(1, 4)))]
    counts = ingest.sensor(sensor)
    before_seen = counts.get("frames", 0) + sum(counts.get("rejected", {}).values())
    ingest.send(sensor, frames)
    sentinel = live_frames(other, time.time() - 1)[:2]
    before = ingest.stored()
    ingest.send(other, sentinel)
    # The other sensor's good frames are stored: nothing stopped ingest.
    wait_for(lambda: ingest.stored() - before >= observation_keys(sentinel), 30, "the sentinel")
    # Every frame of the fuzzed batch was taken or refused (counted), nothing else.
    counts = ingest.sensor(sensor)
    seen = counts.get("frames", 0) + sum(counts.get("rejected", {}).values())
    assert seen - before_seen == len(frames)
    h = ingest.health()
    assert h["counters"]["pipeline_errors"] == 0, h["causes"]
    assert h["counters"]["db_rows_rejected"] == 0, h["counters"]  # the edge caught it all
    assert h["threads"]["writer"]["alive"] and h["threads"]["pipeline"]["alive"]
    o = m.observations
    with ingest.ctx.store.engine.connect() as conn:
        times = [t for (t,) in conn.execute(sa.select(o.c.time).where(o.c.sensor_id == sensor))]
    assert all(abs(t - time.time()) < 8 * 86400 for t in times)  # no NaN, inf, 1970, 2100
