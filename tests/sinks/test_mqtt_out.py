"""MQTT out against the real Mosquitto broker: state, alerts, Home Assistant discovery."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from tests.sinks.receivers import alert, track, wait_for
from tests.sources.mqttutil import BROKER_URL, require_broker

from dronewatch.sinks.base import SinkError
from dronewatch.sinks.mqtt_out import MqttOutSink

pytestmark = pytest.mark.mqtt


class Subscriber:
    """A paho client collecting (topic -> last payload, retained flags) under some filters."""

    def __init__(self, *filters: str) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.last: dict[str, bytes] = {}
        self.retained: dict[str, bool] = {}
        self.log: list[tuple[str, bytes]] = []
        self.ready = threading.Event()
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"dw-test-{uuid.uuid4().hex[:8]}")

        def on_connect(client: Any, *_a: Any) -> None:
            for f in filters:
                client.subscribe(f, qos=1)
            self.ready.set()

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            self.last[msg.topic] = msg.payload
            self.retained[msg.topic] = bool(msg.retain)
            self.log.append((msg.topic, msg.payload))

        c.on_connect = on_connect
        c.on_message = on_message
        c.connect("127.0.0.1", 1883)
        c.loop_start()
        self.client = c
        assert self.ready.wait(10)

    def json(self, topic: str) -> Any:
        return json.loads(self.last[topic])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_tracks_alerts_and_discovery() -> None:
    require_broker()
    prefix = f"dronewatch-test/{uuid.uuid4().hex[:12]}"
    disc = f"{prefix}/ha"
    sink = MqttOutSink(f"{BROKER_URL}/{prefix}/out", discovery_prefix=disc)
    sub = Subscriber(f"{prefix}/#")
    sink.start()
    try:
        sink.offer([("track", track("T1")), ("alert", alert("T1"))])
        state = f"{prefix}/out/drones/T1/state"
        configs = [
            f"{disc}/device_tracker/dronewatch_T1_{r}/config" for r in ("drone", "pilot", "home")
        ]
        wait_for(
            lambda: all(t in sub.last for t in [*configs, state, f"{prefix}/out/alerts"]),
            what="state, alert and discovery",
        )
        for topic, role in zip(configs, ("drone", "pilot", "home"), strict=True):
            cfg = sub.json(topic)
            assert cfg["unique_id"] == f"dronewatch_T1_{role}" and cfg["source_type"] == "gps"
            assert cfg["device"]["identifiers"] == ["dronewatch_T1"]
            assert cfg["availability_topic"] == f"{prefix}/out/status"
            assert cfg["json_attributes_topic"].startswith(f"{prefix}/out/drones/T1/")
        doc = sub.json(state)
        assert doc["latitude"] == 45.5457 and doc["serial"] == "1581F4XFC123"
        pilot = sub.json(f"{prefix}/out/drones/T1/pilot")
        assert pilot["latitude"] == 45.54 and pilot["operator_id"] == "GBR-OP-123ABCD"
        assert sub.json(f"{prefix}/out/alerts")["alert_id"] == "A1"
        wait_for(lambda: sub.last.get(f"{prefix}/out/status") == b"online", what="online")

        # Retained: a subscriber that comes later still gets the drone's state and config.
        late = Subscriber(f"{prefix}/out/drones/+/state", f"{disc}/#")
        try:
            wait_for(lambda: state in late.last and configs[0] in late.last, what="retained")
            assert late.retained[state] and late.retained[configs[0]]
        finally:
            late.close()

        # Ended: the last state goes out, then the retained state and configs are cleared.
        sink.offer([("track", track("T1", state="ended"))])
        wait_for(lambda: sub.last.get(configs[0]) == b"", what="discovery cleared")
        assert any(t == state and p and json.loads(p)["state"] == "ended" for t, p in sub.log)
        assert sub.last[state] == b""
    finally:
        sink.stop()
        wait_for(lambda: sub.last.get(f"{prefix}/out/status") == b"offline", what="offline")
        sub.close()
        # Leave nothing retained on the shared broker.
        import paho.mqtt.publish as publish

        publish.single(f"{prefix}/out/status", "", retain=True, hostname="127.0.0.1")
    st = sink.stats()
    assert st.delivered == 3 and st.failed == 0 and st.dropped == 0


def test_unreachable_broker_is_counted() -> None:
    from tests.sinks.receivers import free_port

    sink = MqttOutSink(f"mqtt://127.0.0.1:{free_port()}/x", queue_max=10)
    sink.start()
    try:
        for i in range(50):
            sink.offer([("track", track(f"T{i}"))])
        wait_for(lambda: sink.stats().failed >= 1, timeout=30, what="a failure")
        st = sink.stats()
        assert "no connection" in (st.last_error or "") and st.dropped >= 40
    finally:
        sink.stop(timeout=1.0)


@pytest.mark.parametrize(
    ("remaining", "encoded"),
    [  # MQTT 3.1.1, table 2.4: the remaining length's encoding at each size boundary
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
    ],
)
def test_publish_packet_framing(remaining: int, encoded: bytes) -> None:
    from dronewatch.sinks.mqtt_out import publish_packet

    body = b"x" * (remaining - 3)  # topic "t": 2 bytes of length and 1 of name
    packet = publish_packet("t", body, retain=True)
    assert packet == b"\x31" + encoded + b"\x00\x01t" + body
    assert publish_packet("t", "é", retain=False) == b"\x30\x05\x00\x01t\xc3\xa9"
    with pytest.raises(ValueError, match="invalid MQTT topic"):
        publish_packet("a/+/b", b"")


def test_bad_urls() -> None:
    with pytest.raises(SinkError, match="mqtt://HOST"):
        MqttOutSink("http://127.0.0.1/x")
    with pytest.raises(SinkError, match="'\\+'"):
        MqttOutSink("mqtt://127.0.0.1/a/+/b")


def test_many_drones_in_one_batch_and_long_messages() -> None:
    """QoS 0 states are written by dronewatch into the batch (not through paho): a batch of
    120 drones, one of them with a 20 kB field (a 3-byte remaining length), all arrive
    intact at a subscriber, with their discovery configs (QoS 1, through paho); their ends
    clear them. (Not more at once: Mosquitto queues at most 1,000 messages for a subscriber.)"""
    require_broker()
    prefix = f"dronewatch-test/{uuid.uuid4().hex[:12]}"
    sink = MqttOutSink(f"{BROKER_URL}/{prefix}/out", discovery_prefix=f"{prefix}/ha")
    sub = Subscriber(f"{prefix}/#")
    sink.start()
    long_product = "x" * 20_000
    tracks = [track(f"T{i}", lat=45.0 + i * 1e-3) for i in range(120)]
    tracks[60]["product"] = long_product
    try:
        sink.offer([("track", t) for t in tracks])
        states = [f"{prefix}/out/drones/T{i}/state" for i in range(120)]
        configs = [f"{prefix}/ha/device_tracker/dronewatch_T{i}_drone/config" for i in range(120)]
        wait_for(lambda: all(t in sub.last for t in states + configs), what="120 drones")
        for i in (0, 60, 119):
            doc = sub.json(states[i])
            assert doc["track_id"] == f"T{i}" and doc["latitude"] == pytest.approx(45 + i * 1e-3)
            assert sub.retained[states[i]] is False  # live, not a late subscriber's copy
        assert sub.json(states[60])["product"] == long_product
        assert sub.json(configs[7])["unique_id"] == "dronewatch_T7_drone"
        st = sink.stats()
        assert st.delivered == 120 and st.failed == 0
        sink.offer([("track", dict(t, state="ended")) for t in tracks])
        wait_for(lambda: all(sub.last.get(t) == b"" for t in states + configs), what="cleared")
    finally:
        sink.stop()
        sub.close()
        import paho.mqtt.publish as publish

        publish.single(f"{prefix}/out/status", "", retain=True, hostname="127.0.0.1")


def test_reconnects_and_announces_again() -> None:
    """The connection drops (closed under the sink): the sink notices, reconnects on the
    next update and sends the discovery configs again (they go at QoS 0)."""
    import socket

    require_broker()
    prefix = f"dronewatch-test/{uuid.uuid4().hex[:12]}"
    sink = MqttOutSink(f"{BROKER_URL}/{prefix}/out", discovery_prefix=f"{prefix}/ha")
    sub = Subscriber(f"{prefix}/#")
    config = f"{prefix}/ha/device_tracker/dronewatch_T1_drone/config"
    state = f"{prefix}/out/drones/T1/state"
    sink.start()
    try:
        sink.offer([("track", track("T1"))])
        wait_for(lambda: config in sub.last and state in sub.last, what="first update")
        sink._client.socket().shutdown(socket.SHUT_RDWR)
        wait_for(lambda: not sink.stats().connected, what="the lost connection noticed")
        assert "connection lost" in (sink.stats().last_error or "")
        sink.offer([("track", track("T1", lat=46.0))])
        wait_for(lambda: sub.json(state)["latitude"] == 46.0, what="update after reconnecting")
        wait_for(lambda: [t for t, _ in sub.log].count(config) == 2, what="announced again")
        assert sink.stats().connected and sink.stats().delivered == 2
        sink.offer([("track", track("T1", state="ended"))])  # leave nothing retained
        wait_for(lambda: sub.last.get(config) == b"", what="cleared")
    finally:
        sink.stop()
        sub.close()
        import paho.mqtt.publish as publish

        publish.single(f"{prefix}/out/status", "", retain=True, hostname="127.0.0.1")
