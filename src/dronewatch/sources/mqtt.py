"""Frames over MQTT: the wire format of the sensor network and the server's frame source.

Sensors (``dronewatch sensor``) publish what they receive to an MQTT broker; the server
(``dronewatch serve --mqtt``) subscribes and runs the frames through its pipeline.

Topics: a sensor publishes with QoS 1 to ``<prefix>/<sensor_id>/frames`` (prefix
``dronewatch`` by default). With per-sensor broker credentials and ACLs the topic's sensor id
is the sensor's broker user name (``deploy/mosquitto``), so a sensor can speak only for itself.

Wire format, version 1. One MQTT message is a msgpack map (field names as keys: a reader
ignores keys it does not know, so fields can be added without breaking older servers)::

    {"v": 1, "body": <bytes>, "mac": <bytes, optional>}

``mac`` is HMAC-SHA256 of ``body`` under the sensor's key (``--signing-key``; the server
checks it against its key file, ``--sensor-keys``). ``body`` is a msgpack map, an
:class:`Envelope`::

    {"sensor": "roof",            # the sensor's id: the same as in the topic
     "session": "3f9c...",        # random, new each time the sensor starts
     "seq": 41,                   # 0, 1, 2... per session: (sensor, session, seq) names the
                                  # batch for ever; the server stores it once however often
                                  # it is delivered
     "sent": 1717171717.25,       # the sensor's clock when it published (clock offset)
     "frames": [<Frame>, ...],    # each a map of dronewatch.model.Frame's fields
     "status": {...}}             # optional: the sensor's own state (identity, position,
                                  # receivers' health...), a JSON-like map, at most
                                  # STATUS_MAX_BYTES encoded; a message may carry only status
                                  # (what a live sensor sends: :func:`sensor_status`)

Every frame carries the sensor id of its topic. Version 0, the first format (a bare msgpack
array of frames: no sequence number, no signature), is still read when the server has no
sensor keys; it cannot be deduplicated.

What the server refuses is counted per sensor and reason (``/health``), never raised: a whole
message (not msgpack, not a batch, unsigned or wrongly signed, another sensor's, too large) or
one frame in it (not a valid frame, another sensor's); the frames around a bad one go on.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec

from dronewatch.model import Frame
from dronewatch.sources.live import (
    QUEUE_BATCHES,
    BatchKey,
    LiveOptions,
    LiveSource,
    SourceHealth,
    SourceState,
)
from dronewatch.sources.position import Position
from dronewatch.sources.validate import text_problem
from dronewatch.stats import DecodeStats

log = logging.getLogger(__name__)

DEFAULT_TOPIC_PREFIX = "dronewatch"
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
QOS = 1
BATCH_FRAMES = 256  # frames per MQTT message at most...
BATCH_INTERVAL_S = 0.1  # ... and a frame waits this long at most before its batch goes out
KEEPALIVE_S = 30
WIRE_VERSION = 1
MESSAGE_MAX_BYTES = 4 << 20  # a batch of 256 frames is about 80 KB
STATUS_MAX_BYTES = 16 << 10
SESSION_MAX_CHARS = 64
KEY_MIN_BYTES = 16
# The server's session at the broker outlives the server by this long: what sensors publish
# while it is down (restart, upgrade) waits for it in the broker.
DEFAULT_SESSION_EXPIRY_S = 7 * 86400
# Messages the broker may send us before we acknowledge them. We acknowledge after commit,
# so this is how much is in flight between the broker and the database: it bounds our memory
# and is the backpressure (the broker keeps the rest until we catch up).
RECEIVE_MAXIMUM = 64
PASSWORD_ENV = "DRONEWATCH_MQTT_PASSWORD"
_SCHEME_PORTS = {"mqtt": 1883, "mqtts": 8883}

_encoder = msgspec.msgpack.Encoder()
_legacy_decoder = msgspec.msgpack.Decoder(list[Frame])
_frame_decoder = msgspec.msgpack.Decoder(Frame)


class Sealed(msgspec.Struct, frozen=True):
    """One MQTT message: an envelope's bytes and, if the sensor signs, their HMAC."""

    v: int
    body: bytes
    mac: bytes | None = None


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """A sensor's batch (see module doc)."""

    sensor: str
    session: str
    seq: int
    sent: float
    frames: list[Frame] = []
    status: dict[str, Any] | None = None


class _LooseEnvelope(msgspec.Struct, frozen=True):
    """An envelope whose frames are read one by one (when one of them is not a frame)."""

    sensor: str
    session: str
    seq: int
    sent: float
    frames: list[msgspec.Raw] = []
    status: dict[str, Any] | None = None


_sealed_decoder = msgspec.msgpack.Decoder(Sealed)
_envelope_decoder = msgspec.msgpack.Decoder(Envelope)
_loose_decoder = msgspec.msgpack.Decoder(_LooseEnvelope)


STATUS_INTERVAL_S = 5.0  # a live sensor sends its status this often (with a batch or alone)


def sensor_status(
    sensor_id: str, health: Sequence[SourceHealth], position: Position | None
) -> dict[str, Any]:
    """The ``status`` map of a live sensor's envelope: when, where (WGS84 degrees, metres;
    ``position_source`` "fixed" or "gpsd") and the health of each of its sources
    (:meth:`~dronewatch.sources.live.SourceHealth.to_json`: state, frames, frames/s, drops,
    last error, channel...). Read back by :mod:`dronewatch.server.sensors`."""
    from dronewatch import __version__

    where: dict[str, Any] = {}
    if position is not None:
        where = {"lat": position.lat, "lon": position.lon, "alt": position.alt,
                 "position_source": position.source, "position_time": position.time}
    return {"sensor_id": sensor_id, "time": time.time(), "online": True, **where,
            "sources": [h.to_json() for h in health], "version": __version__}


@dataclass(slots=True, frozen=True)
class TlsFiles:
    """Certificates for ``mqtts://``: the CA that signed the broker's certificate (default:
    the system's), and this client's certificate and key (brokers that require one)."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def context(self) -> ssl.SSLContext:
        """A TLS client context (``ValueError`` naming the file that is wrong)."""
        try:
            ctx = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"TLS CA file {self.ca}: {exc}") from exc
        if self.cert is not None:
            try:
                ctx.load_cert_chain(str(self.cert), str(self.key) if self.key else None)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"TLS certificate {self.cert} / key {self.key}: {exc}") from exc
        elif self.key is not None:
            raise ValueError("a TLS key without its certificate")
        return ctx


@dataclass(slots=True, frozen=True)
class Broker:
    """Where the broker is, from ``mqtt://[user[:password]@]host[:port]`` (``mqtts://``: TLS).

    The password may come from the environment (``DRONEWATCH_MQTT_PASSWORD``) instead of
    the URL, which other users of the machine can read in the process list."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_files: TlsFiles = field(default_factory=TlsFiles)

    def __str__(self) -> str:  # for messages: never the password
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_broker_url(url: str, tls_files: TlsFiles | None = None) -> Broker:
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
    tls = parts.scheme == "mqtts"
    files = tls_files if tls_files is not None else TlsFiles()
    if files != TlsFiles() and not tls:
        raise ValueError(f"broker URL {url!r}: TLS certificates need an mqtts:// URL")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if username is not None and password is None:
        password = os.environ.get(PASSWORD_ENV) or None
    return Broker(parts.hostname, port, tls, username, password, files)


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
    problem = text_problem(sensor_id, "sensor id")
    if problem is not None:
        raise ValueError(f"sensor id {sensor_id!r}: {problem.split(': ', 1)[1]}")
    return f"{prefix}/{check_topic_level(sensor_id, 'sensor id')}/frames"


# -- signing keys --------------------------------------------------------------------------


def parse_key(text: str, where: str) -> bytes:
    """A signing key written as hex (``openssl rand -hex 32``); ``ValueError`` if it is not
    one or is shorter than ``KEY_MIN_BYTES``."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError(f"{where}: a signing key is hex digits (openssl rand -hex 32)") from None
    if len(key) < KEY_MIN_BYTES:
        raise ValueError(f"{where}: a signing key has at least {KEY_MIN_BYTES} bytes")
    return key


def read_key(path: Path) -> bytes:
    """A sensor's own signing key: a file holding it in hex."""
    try:
        return parse_key(path.read_text(), str(path))
    except OSError as exc:
        raise ValueError(f"signing key {path}: {exc.strerror or exc}") from exc


class SensorKeys:
    """The server's signing keys of its sensors.

    From a file of ``SENSOR HEXKEY`` lines (``#`` comments), or a directory of
    ``SENSOR.key`` files each holding one sensor's key in hex.
    """

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = dict(keys)

    @classmethod
    def load(cls, path: Path) -> SensorKeys:
        keys: dict[str, bytes] = {}
        try:
            if path.is_dir():
                for item in sorted(path.glob("*.key")):
                    keys[item.stem] = read_key(item)
            else:
                for n, line in enumerate(path.read_text().splitlines(), 1):
                    text = line.split("#", 1)[0].strip()
                    if not text:
                        continue
                    sensor, _, key = text.partition(" ")
                    if not key.strip():
                        raise ValueError(f"{path}:{n}: expected SENSOR HEXKEY")
                    keys[sensor] = parse_key(key, f"{path}:{n}")
        except OSError as exc:
            raise ValueError(f"sensor keys {path}: {exc.strerror or exc}") from exc
        if not keys:
            raise ValueError(f"sensor keys {path}: no key in it")
        return cls(keys)

    def get(self, sensor_id: str) -> bytes | None:
        return self.keys.get(sensor_id)


def sign(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


# -- messages ------------------------------------------------------------------------------


def seal(envelope: Envelope, key: bytes | None = None) -> bytes:
    """The MQTT payload of ``envelope``, signed with ``key`` if there is one."""
    body = _encoder.encode(envelope)
    return _encoder.encode(Sealed(WIRE_VERSION, body, sign(key, body) if key else None))


def encode_batch(frames: Sequence[Frame]) -> bytes:
    """Version 0 of the wire format: ``frames`` as a bare msgpack array (no sequence number,
    no signature). Written by older sensors; kept for them and for tests."""
    return _encoder.encode(frames)


@dataclass(slots=True)
class Opened:
    """What one MQTT message holds, once checked (see :func:`open_message`)."""

    frames: list[Frame] = field(default_factory=list)
    key: BatchKey | None = None
    sent: float | None = None
    status: dict[str, Any] | None = None
    refused: str | None = None  # why the whole message is refused
    rejected: Counter[str] = field(default_factory=Counter)  # frames refused, by reason


def _status_problem(status: dict[str, Any]) -> str | None:
    if len(_encoder.encode(status)) > STATUS_MAX_BYTES:
        return "status: too large"

    def walk(value: Any, depth: int) -> str | None:
        if depth > 8:
            return "status: too deep"
        if isinstance(value, str):
            return text_problem(value, "status", STATUS_MAX_BYTES)
        if isinstance(value, float) and value != value:
            return "status: not finite"
        if isinstance(value, dict):
            for k, v in value.items():
                problem = walk(k, depth + 1) or walk(v, depth + 1)
                if problem is not None:
                    return problem
        elif isinstance(value, list):
            for v in value:
                problem = walk(v, depth + 1)
                if problem is not None:
                    return problem
        elif isinstance(value, float) and value in (float("inf"), float("-inf")):
            return "status: not finite"
        return None

    return walk(status, 0)


def _refusal(exc: Exception, shape: str) -> str:
    """Why a message that msgspec could not decode (``exc``) is refused."""
    if isinstance(exc, RecursionError):
        return "message: nested too deep"
    if isinstance(exc, msgspec.ValidationError):
        return f"message: not {shape}"
    return "message: not msgpack"


def _legacy(payload: bytes, sensor_id: str, out: Opened) -> Opened:
    try:
        frames = _legacy_decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError is a DecodeError
        out.refused = _refusal(exc, "a batch of frames")
        return out
    return _own(frames, sensor_id, out)


def _own(frames: list[Frame], sensor_id: str, out: Opened) -> Opened:
    """Keep the frames that name the topic's sensor."""
    for frame in frames:
        if frame.sensor_id != sensor_id:
            break
    else:
        out.frames = frames
        return out
    for frame in frames:
        if frame.sensor_id == sensor_id:
            out.frames.append(frame)
        else:
            out.rejected["frame: sensor id differs from the topic"] += 1
    return out


def open_message(payload: bytes, sensor_id: str, keys: SensorKeys | None = None) -> Opened:
    """The frames of one MQTT message from the topic of ``sensor_id``, checked: the message
    as a whole (size, format, signature when ``keys`` are given, sensor) and each frame's
    shape and sensor. Never raises (see module doc); field values are checked later, by
    :func:`dronewatch.sources.validate.frame_problem`."""
    out = Opened()
    if len(payload) > MESSAGE_MAX_BYTES:
        out.refused = "message: too large"
        return out
    first = payload[:1]
    if first and (0x90 <= first[0] <= 0x9F or first[0] in (0xDC, 0xDD)):  # an array: v0
        if keys is not None:
            out.refused = "signature: missing"
            return out
        return _legacy(payload, sensor_id, out)
    try:
        sealed = _sealed_decoder.decode(payload)
    except msgspec.ValidationError:
        out.refused = "message: not a batch"
        return out
    except msgspec.DecodeError:
        out.refused = "message: not msgpack"
        return out
    except RecursionError:
        out.refused = "message: nested too deep"
        return out
    if sealed.v != WIRE_VERSION:
        out.refused = "message: unknown version"
        return out
    if keys is not None:
        key = keys.get(sensor_id)
        if key is None:
            out.refused = "signature: no key for this sensor"
            return out
        if sealed.mac is None:
            out.refused = "signature: missing"
            return out
        if not hmac.compare_digest(sealed.mac, sign(key, sealed.body)):
            out.refused = "signature: wrong"
            return out
    try:
        env: Envelope | _LooseEnvelope = _envelope_decoder.decode(sealed.body)
    except msgspec.ValidationError:  # a frame (or a field) of the wrong shape: look closer
        try:
            env = _loose_decoder.decode(sealed.body)
        except (msgspec.DecodeError, RecursionError) as exc:
            out.refused = _refusal(exc, "a batch")
            return out
    except (msgspec.DecodeError, RecursionError) as exc:
        out.refused = _refusal(exc, "a batch")
        return out
    if env.sensor != sensor_id:
        out.refused = "message: sensor differs from the topic"
        return out
    if not 0 <= env.seq < 2**63 or text_problem(env.session, "session", SESSION_MAX_CHARS):
        out.refused = "message: bad session or sequence number"
        return out
    out.key = BatchKey(sensor_id, env.session, env.seq)
    if env.sent == env.sent and abs(env.sent) != float("inf"):
        out.sent = env.sent
    if env.status is not None:
        problem = _status_problem(env.status)
        if problem is None:
            out.status = env.status
        else:
            out.rejected[problem] += 1
    if isinstance(env, Envelope):
        return _own(env.frames, sensor_id, out)
    frames: list[Frame] = []
    for raw in env.frames:
        try:
            frames.append(_frame_decoder.decode(raw))
        except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
            out.rejected["frame: not a valid frame"] += 1
    return _own(frames, sensor_id, out)


# -- clients -------------------------------------------------------------------------------


def new_client(
    broker: Broker,
    client_id: str,
    *,
    v5: bool = False,
    manual_ack: bool = False,
    client_class: Any = None,
) -> Any:
    """A paho client for ``broker`` (MQTT 3.1.1, or 5 with ``v5``), reconnecting by itself.
    ``ValueError`` if the TLS files cannot be used. ``client_class``: a subclass of paho's."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    client = (client_class or paho.Client)(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        manual_ack=manual_ack,
    )
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set_context(broker.tls_files.context())
    client.reconnect_delay_set(min_delay=1, max_delay=8)
    return client


def refusal_text(broker: Broker, reason: Any) -> str:
    """Why the broker refused our CONNECT, for people."""
    text = str(reason)
    lowered = text.lower()
    if "password" in lowered or "not authori" in lowered or "bad user" in lowered:
        who = f"user {broker.username!r}" if broker.username else "an anonymous client"
        return (
            f"MQTT broker {broker} refused the credentials of {who} ({text}): check the user "
            f"name and password (in the URL or ${PASSWORD_ENV}) and the broker's password file"
        )
    return f"MQTT broker {broker} refused the connection: {text}"


def default_client_id(prefix: str) -> str:
    """The server's client id (its session at the broker): this host and the topic prefix,
    so that a restarted server finds the session it left, and two servers do not share one."""
    digest = hashlib.sha1(prefix.encode()).hexdigest()[:8]
    return f"dronewatch-server-{socket.gethostname()[:32]}-{digest}"


class MqttSource(LiveSource):
    """The server's live source: frames every sensor publishes under ``topic_prefix``.

    A persistent MQTT 5 session (fixed ``client_id``, no clean start, ``session_expiry_s``):
    what sensors publish while the server is down waits in the broker. Messages are
    acknowledged to the broker (manual PUBACK) only when the consumer calls a batch's ack,
    after its rows are committed; the broker sends at most ``receive_maximum`` messages ahead
    of the acknowledgements (that is the backpressure: the queue never needs to drop, the
    source is ``lossless``). After a reconnection the broker redelivers what was not
    acknowledged; acknowledgements meant for the previous connection are dropped (the same
    message ids may name other messages now), the redelivered copies are acknowledged instead.

    paho's network thread receives and opens each message (:func:`open_message`); refusals
    are counted per sensor in ``self.book``. ``subscribed`` is set while subscribed.
    """

    kind = "mqtt"
    lossless = True

    def __init__(
        self,
        url: str,
        topic_prefix: str = DEFAULT_TOPIC_PREFIX,
        stats: DecodeStats | None = None,
        *,
        queue_batches: int = QUEUE_BATCHES,
        client_id: str | None = None,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        receive_maximum: int = RECEIVE_MAXIMUM,
        keys: SensorKeys | None = None,
        tls_files: TlsFiles | None = None,
    ) -> None:
        broker = parse_broker_url(url, tls_files)
        if broker.tls:
            broker.tls_files.context()  # unreadable certificates: say so now, not in a thread
        super().__init__(str(broker), queue_batches=queue_batches, stats=stats)
        self.broker = broker
        self.prefix = check_topic_level(topic_prefix, "topic prefix")
        self.topic = f"{self.prefix}/+/frames"
        self.client_id = client_id or default_client_id(self.prefix)
        self.session_expiry_s = session_expiry_s
        # More in flight than the queue holds would make paho's thread wait in on_message,
        # where it cannot answer the broker's keepalive.
        self.receive_maximum = max(1, min(receive_maximum, queue_batches))
        self.keys = keys
        self.subscribed = threading.Event()
        self.session_present: bool | None = None  # did the broker keep our session?
        self.messages_received = 0  # written by paho's thread only
        self.acks_sent = 0
        self.acks_stale = 0  # meant for a previous connection (redelivered instead)
        self._head, self._tail = len(self.prefix) + 1, len("/frames")
        self._ack_lock = threading.Lock()
        self._generation = 0  # connections so far; an ack names the one it belongs to
        self._client: Any = None
        self._resync = threading.Event()
        self._refused = False  # the broker refused our last CONNECT (its reason is last_error)

    def detail(self) -> dict[str, Any]:
        return {
            "broker": str(self.broker),
            "topic": self.topic,
            "client_id": self.client_id,
            "subscribed": self.subscribed.is_set(),
            "session_present": self.session_present,
            "signed": self.keys is not None,
            "messages": self.messages_received,
            "acks": self.acks_sent,
            "acks_stale": self.acks_stale,
        }

    def resync(self) -> None:
        self._resync.set()

    def run(self, stop: threading.Event) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        while not stop.is_set():
            self._resync.clear()
            client = new_client(self.broker, self.client_id, v5=True, manual_ack=True)
            client.on_connect = self._on_connect
            client.on_subscribe = self._on_subscribe
            client.on_disconnect = self._on_disconnect
            client.on_message = self._on_message
            client.on_pre_connect = self._on_pre_connect
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.session_expiry_s
            props.ReceiveMaximum = self.receive_maximum
            with self._ack_lock:
                self._client = client
            client.connect_async(
                self.broker.host,
                self.broker.port,
                keepalive=KEEPALIVE_S,
                clean_start=False,
                properties=props,
            )
            client.loop_start()
            try:
                while not stop.is_set() and not self._resync.is_set():
                    stop.wait(0.25)
            finally:
                self._new_generation()
                client.disconnect()
                client.loop_stop()
                self.subscribed.clear()
            if self._resync.is_set() and not stop.is_set():
                log.warning("MQTT: reconnecting to %s to have unacknowledged messages again",
                            self.broker)

    def _new_generation(self) -> None:
        with self._ack_lock:
            self._generation += 1

    def _ack(self, generation: int, mid: int) -> None:
        """Acknowledge message ``mid`` of connection ``generation`` (any thread)."""
        with self._ack_lock:
            if generation != self._generation or self._client is None:
                self.acks_stale += 1
                return
            self._client.ack(mid, QOS)
            self.acks_sent += 1

    # -- paho's network thread ------------------------------------------------------------

    def _on_pre_connect(self, client: Any, userdata: Any) -> None:
        self._new_generation()

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self.state = SourceState.RETRYING
            if not self._refused:  # once per run of refusals, not every few seconds
                self.failed(refusal_text(self.broker, reason))
            self._refused = True
            return
        self._refused = False
        self.session_present = bool(flags.session_present)
        log.info(
            "MQTT: connected to %s as %s (%s session), subscribing to %s",
            self.broker,
            self.client_id,
            "resumed" if self.session_present else "new",
            self.topic,
        )
        client.subscribe(self.topic, qos=QOS)

    def _on_subscribe(
        self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        if any(r.is_failure for r in reasons):
            self.state = SourceState.RETRYING
            self.failed(f"MQTT broker {self.broker} refused the subscription to {self.topic}")
            return
        self.state = SourceState.RUNNING
        self.subscribed.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._new_generation()
        self.subscribed.clear()
        if not self._stop.is_set() and not self._resync.is_set() and not self._refused:
            self.state = SourceState.RETRYING
            self.failed(f"lost the broker {self.broker} ({reason}); reconnecting")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        received = time.time()
        self.messages_received += 1
        ack = partial(self._ack, self._generation, message.mid) if message.qos else None
        # The subscription guarantees the shape <prefix>/<sensor>/frames.
        sensor_id = message.topic[self._head : -self._tail]
        opened = open_message(message.payload, sensor_id, self.keys)
        book = self.book
        if opened.refused is not None:
            book.reject(sensor_id, opened.refused)
            self.stats.skip(f"mqtt: {opened.refused}")
            self.emit([], ack, in_order=True)
            return
        for reason, n in opened.rejected.items():
            book.reject(sensor_id, reason, n)
        frames = opened.frames
        book.received(
            sensor_id, len(frames), sent=opened.sent, received=received, status=opened.status
        )
        self.stats.packets_read += len(frames)
        self.emit(frames, ack, key=opened.key, in_order=True)


def open_source(target: str, options: LiveOptions) -> MqttSource:
    """``mqtt://...`` / ``mqtts://...``: frames every sensor publishes to that broker
    (``options.extra``: ``topic_prefix``, default ``dronewatch``; ``client_id``,
    ``sensor_keys`` (a :class:`SensorKeys`), ``tls_files`` (a :class:`TlsFiles`))."""
    extra = options.extra
    return MqttSource(
        target,
        str(extra.get("topic_prefix", DEFAULT_TOPIC_PREFIX)),
        queue_batches=options.queue_batches,
        client_id=extra.get("client_id"),
        keys=extra.get("sensor_keys"),
        tls_files=extra.get("tls_files"),
    )
