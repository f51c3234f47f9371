"""Frames over MQTT: the wire format of the sensor network and the server's frame source.

Sensors (``dronewatch sensor``) publish what they receive to an MQTT broker; the server
(``dronewatch serve --mqtt``) subscribes and runs the frames through its pipeline.

Wire format: one MQTT message is a batch, a msgpack array of :class:`~dronewatch.model.Frame`
(each a map of its field names, so that fields added later are ignored by older servers),
published with QoS 1 to ``<prefix>/<sensor_id>/frames`` (prefix ``dronewatch`` by default).
Every frame of a batch carries the sensor id of its topic. Decoding is typed: a message that
is not such a batch, or whose frames name another sensor than the topic, is counted as a skip
(``mqtt: <reason>``) and dropped whole; the messages around it are unaffected.
"""

from __future__ import annotations

import logging
import ssl
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec

from dronewatch.model import Frame
from dronewatch.sources.live import QUEUE_BATCHES, LiveOptions, LiveSource
from dronewatch.stats import DecodeStats

log = logging.getLogger(__name__)

DEFAULT_TOPIC_PREFIX = "dronewatch"
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
QOS = 1
BATCH_FRAMES = 256  # frames per MQTT message at most...
BATCH_INTERVAL_S = 0.1  # ... and a frame waits this long at most before its batch goes out
KEEPALIVE_S = 30
_SCHEME_PORTS = {"mqtt": 1883, "mqtts": 8883}

_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(list[Frame])


@dataclass(slots=True, frozen=True)
class Broker:
    """Where the broker is, from ``mqtt://[user[:password]@]host[:port]`` (``mqtts://``: TLS)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # for messages: never the password
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> Broker:
    """The broker of ``url``; ``ValueError`` saying what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in _SCHEME_PORTS:
        raise ValueError(f"broker URL {url!r}: use mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    try:
        port = parts.port or _SCHEME_PORTS[parts.scheme]
    except ValueError:
        raise ValueError(f"broker URL {url!r}: the port is not a number in 1-65535") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"broker URL {url!r}: expected mqtt://HOST[:PORT], nothing after it")
    return Broker(
        host=parts.hostname,
        port=port,
        tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def check_topic_level(text: str, what: str) -> str:
    """``text`` if it can be (part of) a topic we publish or subscribe to, else ``ValueError``."""
    if not text or any(c in text for c in "+#\0") or text.startswith("/") or text.endswith("/"):
        raise ValueError(f"{what} {text!r}: must be non-empty, without '+', '#' or an edge '/'")
    return text


def frames_topic(prefix: str, sensor_id: str) -> str:
    """The topic sensor ``sensor_id`` publishes its frames to."""
    if "/" in sensor_id:
        raise ValueError(f"sensor id {sensor_id!r}: must not contain '/'")
    check_topic_level(prefix, "topic prefix")
    return f"{prefix}/{check_topic_level(sensor_id, 'sensor id')}/frames"


def encode_batch(frames: Sequence[Frame]) -> bytes:
    """One MQTT message payload: ``frames`` as a msgpack array."""
    return _encoder.encode(frames)


def decode_batch(payload: bytes, stats: DecodeStats, sensor_id: str | None = None) -> list[Frame]:
    """The frames of one MQTT message; ``[]`` (and a counted skip) if it is not a valid batch,
    or if ``sensor_id`` is given and a frame names another sensor."""
    try:
        frames = _batch_decoder.decode(payload)
    except msgspec.ValidationError:
        stats.skip("mqtt: not a batch of frames")
        return []
    except msgspec.DecodeError:
        stats.skip("mqtt: not msgpack")
        return []
    if sensor_id is not None:
        for frame in frames:
            if frame.sensor_id != sensor_id:
                stats.skip("mqtt: sensor id differs from the topic")
                return []
    return frames


def new_client(broker: Broker, client_id: str) -> Any:
    """A paho client (MQTT 3.1.1, clean session) for ``broker``, reconnecting by itself."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv311
    )
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set_context(ssl.create_default_context())
    client.reconnect_delay_set(min_delay=1, max_delay=8)
    return client


class MqttSource(LiveSource):
    """The server's live source: frames every sensor publishes under ``topic_prefix``.

    paho's network thread receives; each MQTT message is decoded there (cheap: msgpack) and
    handed on as one batch (see :mod:`dronewatch.sources.live`: a full queue drops it, counted).
    paho reconnects by itself; ``subscribed`` is set while subscribed (tests wait for it).
    """

    kind = "mqtt"

    def __init__(
        self,
        url: str,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        stats: DecodeStats | None = None,
        *,
        queue_batches: int = QUEUE_BATCHES,
    ) -> None:
        broker = parse_broker_url(url)
        super().__init__(str(broker), queue_batches=queue_batches, stats=stats)
        self.broker = broker
        self.prefix = check_topic_level(topic_prefix, "topic prefix")
        self.topic = f"{self.prefix}/+/frames"
        self.subscribed = threading.Event()
        self.messages_received = 0  # written by paho's thread only
        self._head, self._tail = len(self.prefix) + 1, len("/frames")

    def detail(self) -> dict[str, Any]:
        return {
            "broker": str(self.broker),
            "topic": self.topic,
            "subscribed": self.subscribed.is_set(),
            "messages": self.messages_received,
        }

    def run(self, stop: threading.Event) -> None:
        client = new_client(self.broker, f"dronewatch-server-{uuid.uuid4().hex[:12]}")
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        client.loop_start()
        try:
            stop.wait()
        finally:
            client.disconnect()
            client.loop_stop()
            self.subscribed.clear()

    # -- paho's network thread ------------------------------------------------------------

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self.failed(f"MQTT broker {self.broker} refused the connection: {reason}")
            return
        log.info("MQTT: connected to %s, subscribing to %s", self.broker, self.topic)
        client.subscribe(self.topic, qos=QOS)  # again after every reconnect (clean session)

    def _on_subscribe(
        self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        if any(r.is_failure for r in reasons):
            self.failed(f"MQTT broker {self.broker} refused the subscription to {self.topic}")
            return
        self.subscribed.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.subscribed.clear()
        if not self._stop.is_set():
            self.failed(f"lost the broker {self.broker} ({reason}); reconnecting")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.messages_received += 1
        # The subscription guarantees the shape <prefix>/<sensor>/frames.
        sensor_id = message.topic[self._head : -self._tail]
        frames = decode_batch(message.payload, self.stats, sensor_id)
        self.stats.packets_read += len(frames)
        self.emit(frames)


def open_source(target: str, options: LiveOptions) -> MqttSource:
    """``mqtt://...`` / ``mqtts://...``: frames every sensor publishes to that broker
    (``options.extra["topic_prefix"]``, default ``dronewatch``)."""
    prefix = str(options.extra.get("topic_prefix", DEFAULT_TOPIC_PREFIX))
    return MqttSource(target, prefix, queue_batches=options.queue_batches)
