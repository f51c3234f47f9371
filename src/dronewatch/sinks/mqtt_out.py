"""MQTT out: tracks and alerts as JSON, with Home Assistant discovery (as DragonSync does).

``--mqtt-out mqtt://HOST:1883/PREFIX`` (``mqtts://`` for TLS; user and password as for
``--mqtt``; PREFIX defaults to ``dronewatch/out``). Topics:

``PREFIX/status``
    ``online`` / ``offline`` (retained; ``offline`` is the last will): availability.
``PREFIX/drones/TRACK/state``
    The track as JSON (the API's track fields, plus ``latitude``, ``longitude``,
    ``altitude``, ``gps_accuracy`` and ``course`` for Home Assistant), retained while the
    track lives; at most one update per track per ``interval_s``, state changes at once.
``PREFIX/drones/TRACK/pilot``, ``PREFIX/drones/TRACK/home``
    The pilot's and the home point's positions (``latitude``, ``longitude``,
    ``gps_accuracy``, ``operator_id``), retained.
``PREFIX/alerts``
    Every alert event as JSON (the API's Alert), QoS 1, not retained.

Positions and discovery configs go at QoS 0 (configs are sent again after a reconnection,
positions follow within a second), alerts and clears at QoS 1.

Home Assistant discovery (``--mqtt-out-discovery``, default ``homeassistant``): for each
drone three retained ``device_tracker`` configs, ``DISCOVERY/device_tracker/dronewatch_TRACK_
{drone,pilot,home}/config``, one device per drone, located from the JSON attributes above.
When a track ends its last state is published (``"state": "ended"``, not retained) and its
retained state and discovery configs are cleared, so a broker and Home Assistant running for
months do not pile up every drone ever seen.
"""

from __future__ import annotations

import functools
import hashlib
import select
import socket
import threading
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import msgspec

from dronewatch import __version__
from dronewatch.sinks.base import (
    DEFAULT_QUEUE_MAX,
    TRACK_LINGER_S,
    Kind,
    Sink,
    SinkError,
    SinkEvent,
    TrackThrottle,
)
from dronewatch.store.records import alert_json

DEFAULT_PREFIX = "dronewatch/out"
ROLES = ("drone", "pilot", "home")
MAX_QUEUED = 10_000  # QoS 1 messages paho holds unacknowledged (batches of 1,000 events)
CONNECT_WAIT_S = 5.0
SEND_TIMEOUT_S = 5.0  # a broker that reads nothing for this long is given up
KEEPALIVE_S = 30


_encode = msgspec.json.Encoder(enc_hook=str).encode  # non-finite floats become null


def _json(value: Any) -> bytes:
    return _encode(value)


@functools.lru_cache(maxsize=4096)
def _safe(text: str) -> str:
    """A topic level / object id from a track id (no wildcards, separators or spaces)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _gathering_client() -> type:
    """paho's client whose socket writes can be gathered: while ``gathered`` is a list, the
    packets that ``publish`` writes are collected there and :func:`_flush` sends them in one
    ``sendall`` (paho writes each message with its own ``send``: one system call and one trip
    through the TCP stack per message)."""
    import paho.mqtt.client as paho

    class GatheringClient(paho.Client):  # type: ignore[misc]
        gathered: list[bytes] | None = None

        def _sock_send(self, buf: bytes | bytearray) -> int:
            if self.gathered is not None and self._sock is not None:
                self.gathered.append(bytes(buf))
                return len(buf)
            return int(super()._sock_send(buf))

    return GatheringClient


def publish_packet(topic: str, payload: bytes | str, retain: bool = False) -> bytes:
    """An MQTT 3.1.1 PUBLISH packet at QoS 0 (section 3.3): fixed header (type 3, the
    retain flag), remaining length (variable-length integer), topic (UTF-8, length-prefixed),
    payload. ``ValueError`` for a topic paho would refuse too."""
    name = topic.encode()
    if not name or len(name) > 65535 or "+" in topic or "#" in topic or "\0" in topic:
        raise ValueError(f"invalid MQTT topic {topic!r}")
    body = payload.encode() if isinstance(payload, str) else payload
    remaining = 2 + len(name) + len(body)
    if remaining > 268_435_455:
        raise ValueError("MQTT payload too large")
    flag = 0x31 if retain else 0x30
    if remaining < 0x4000:  # one or two bytes of length: nearly every message
        if remaining < 0x80:
            head = bytes((flag, remaining))
        else:
            head = bytes((flag, (remaining & 0x7F) | 0x80, remaining >> 7))
    else:
        out = bytearray((flag,))
        while True:
            byte, remaining = remaining & 0x7F, remaining >> 7
            out.append(byte | 0x80 if remaining else byte)
            if not remaining:
                break
        head = bytes(out)
    return b"".join((head, len(name).to_bytes(2, "big"), name, body))


def _flush(client: Any, timeout_s: float) -> None:
    """Send what ``client`` gathered (``OSError``, the socket closed, if it cannot be sent
    within ``timeout_s``: paho then sees the connection lost and reconnects)."""
    data = b"".join(client.gathered or ())
    client.gathered = None
    sock = client.socket()
    if not data:
        return
    if sock is None:
        raise OSError("connection lost")
    try:
        sock.settimeout(timeout_s)
        sock.sendall(data)
        sock.setblocking(False)  # paho's sockets do not block
    except OSError:
        sock.close()
        raise


def drone_state(rec: dict[str, Any]) -> dict[str, Any]:
    out = dict(rec)
    out.pop("trail", None)
    out.update(
        latitude=rec.get("lat"),
        longitude=rec.get("lon"),
        altitude=rec.get("alt"),
        course=rec.get("direction"),
        gps_accuracy=10,
    )
    return out


class MqttOutSink(Sink):
    """Tracks and alerts to one MQTT broker."""

    kind: ClassVar[str] = "mqtt"
    wants: ClassVar[frozenset[Kind]] = frozenset({"track", "alert"})
    linger_s: ClassVar[float] = TRACK_LINGER_S

    def __init__(
        self,
        url: str,
        *,
        discovery_prefix: str | None = "homeassistant",
        interval_s: float = 1.0,
        client_id: str | None = None,
        queue_max: int = DEFAULT_QUEUE_MAX,
    ) -> None:
        from dronewatch.sources.mqtt import check_topic_level, parse_broker_url

        parts = urlsplit(url.strip())
        prefix = parts.path.strip("/") or DEFAULT_PREFIX
        try:
            self.broker = parse_broker_url(urlunsplit((*parts[:2], "", "", "")))
            check_topic_level(prefix, "--mqtt-out topic prefix")
            if discovery_prefix is not None:
                check_topic_level(discovery_prefix, "--mqtt-out-discovery")
        except ValueError as exc:
            raise SinkError(str(exc)) from exc
        super().__init__(f"{self.broker}/{prefix}", queue_max=queue_max)
        self.prefix = prefix
        self.discovery = discovery_prefix
        self.throttle = TrackThrottle(interval_s)
        digest = hashlib.sha256(f"{self.broker}/{prefix}".encode()).hexdigest()[:8]
        self.client_id = client_id or f"dronewatch-out-{socket.gethostname()}-{digest}"
        self._client: Any = None
        self._connected = threading.Event()
        self._refused: str | None = None
        self._announced: set[str] = set()  # tracks whose discovery configs are out
        self._places: dict[tuple[str, str], tuple[Any, ...]] = {}  # (track, part) -> last sent
        self.messages = 0  # MQTT messages published (up to three per track update)
        self._connect()  # the client, not connected yet (bad TLS files: SinkError now)

    # -- topics ----------------------------------------------------------------------------

    @property
    def status_topic(self) -> str:
        return f"{self.prefix}/status"

    @property
    def alerts_topic(self) -> str:
        return f"{self.prefix}/alerts"

    def track_topic(self, tid: str, part: str) -> str:
        return f"{self.prefix}/drones/{_safe(tid)}/{part}"

    def config_topic(self, tid: str, role: str) -> str:
        return f"{self.discovery}/device_tracker/dronewatch_{_safe(tid)}_{role}/config"

    def discovery_configs(self, rec: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Home Assistant ``device_tracker`` configs of one drone (topic -> config)."""
        tid = rec["track_id"]
        name = str(rec.get("serial") or rec.get("uas_id") or tid)
        device = {
            "identifiers": [f"dronewatch_{_safe(tid)}"],
            "name": f"Drone {name}",
            "manufacturer": "dronewatch",
            "model": rec.get("product") or rec.get("ua_type") or "drone",
            "serial_number": rec.get("serial"),
            "sw_version": __version__,
        }
        out = {}
        for role, part, label in (
            ("drone", "state", f"Drone {name}"),
            ("pilot", "pilot", f"Pilot of {name}"),
            ("home", "home", f"Home of {name}"),
        ):
            out[self.config_topic(tid, role)] = {
                "name": label,
                "unique_id": f"dronewatch_{_safe(tid)}_{role}",
                "object_id": f"dronewatch_{_safe(tid)}_{role}",
                "json_attributes_topic": self.track_topic(tid, part),
                "source_type": "gps",
                "availability_topic": self.status_topic,
                "icon": {"drone": "mdi:quadcopter", "pilot": "mdi:account", "home": "mdi:home"}[
                    role
                ],
                "device": device,
            }
        return out

    # -- connection ----------------------------------------------------------------------
    #
    # paho's network loop runs in this sink's worker thread (no ``loop_start`` thread): a
    # publish writes its packet at once, acknowledgements and keepalives are read after each
    # batch and when idle (``idle``, every second). One thread, no wake-up per message.

    def _connect(self) -> Any:
        from dronewatch.sources.mqtt import new_client

        try:
            client = new_client(self.broker, self.client_id, client_class=_gathering_client())
        except ValueError as exc:
            raise SinkError(str(exc)) from exc
        client.max_queued_messages_set(MAX_QUEUED)
        # No inflight window: QoS 1 messages go at once, their acks are read after each batch
        # (paho rescans every unacknowledged message on each ack when a window is set).
        client.max_inflight_messages_set(0)
        client.will_set(self.status_topic, "offline", qos=1, retain=True)

        def on_connect(client: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            if getattr(reason, "is_failure", False):
                self._refused = str(reason)
                return
            self._refused = None
            client.publish(self.status_topic, "online", qos=1, retain=True)
            self._connected.set()

        def on_disconnect(*_args: Any) -> None:
            self._connected.clear()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        self._client = client
        return client

    def _ensure_connected(self) -> Any:
        """The client, connected (CONNACK received); ``OSError`` saying why not."""
        client = self._client
        if client is None:
            client = self._connect()
        if self._connected.is_set() and client.socket() is not None:
            return client
        self._connected.clear()
        self._refused = None
        try:
            client.reconnect()  # the same client: unacknowledged QoS 1 messages go again
        except (OSError, ValueError) as exc:
            raise OSError(f"MQTT broker {self.broker}: no connection ({exc})") from exc
        # A new connection: what went at QoS 0 before may have been lost with the old one.
        self._announced.clear()
        self._places.clear()
        end = time.monotonic() + CONNECT_WAIT_S
        while not self._connected.is_set():
            if self._refused is not None:
                raise OSError(f"MQTT broker {self.broker}: {self._refused}")
            left = end - time.monotonic()
            sock = client.socket()
            if left <= 0 or sock is None:
                raise OSError(f"MQTT broker {self.broker}: no connection (no CONNACK)")
            select.select([sock], [], [], min(left, 0.1))
            if client.loop_read() != 0 and self._refused is None:
                raise OSError(f"MQTT broker {self.broker}: no connection (closed)")
        return client

    def _pump(self, client: Any) -> None:
        """Write what paho holds, read what the broker sent (acks, pings), keep alive;
        ``OSError`` if the connection is lost or the broker stops reading."""
        rc = client.loop_read()
        end = None
        while rc == 0 and client.want_write():  # the socket's buffer was full
            sock = client.socket()
            if sock is None:
                break
            if end is None:
                end = time.monotonic() + SEND_TIMEOUT_S
            left = end - time.monotonic()
            if left <= 0:
                raise OSError(f"MQTT broker {self.broker}: not reading (send timed out)")
            select.select([], [sock], [], min(left, 0.1))
            rc = client.loop_write()
        if rc == 0:
            rc = client.loop_misc()
        if rc != 0 or client.socket() is None:
            self._connected.clear()
            raise OSError(f"MQTT broker {self.broker}: connection lost ({rc})")

    def idle(self) -> None:
        client = self._client
        if client is not None and self._connected.is_set():
            self._pump(client)

    def reset(self) -> None:
        """After a failure: keep the client (what it holds is sent after reconnecting)."""

    def _publish(
        self, topic: str, payload: bytes | str, *, retain: bool = False, qos: int = 1
    ) -> None:
        client = self._client
        if qos == 0 and client.gathered is not None:
            # A QoS 0 PUBLISH has no packet id and no acknowledgement: nothing for paho to
            # track. Written straight into the gathered batch, in order with paho's packets.
            client.gathered.append(publish_packet(topic, payload, retain))
            self.messages += 1
            return
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != 0:
            raise OSError(f"MQTT publish to {topic} failed: {info.rc}")
        self.messages += 1

    def send(self, events: list[SinkEvent]) -> int:
        client = self._ensure_connected()
        client.gathered = []  # paho's pending writes, if any, go first
        try:
            if client.want_write():
                client.loop_write()
            sent = self._send(client, events)
        finally:
            try:
                _flush(client, SEND_TIMEOUT_S)
            except OSError as exc:
                self._connected.clear()
                raise OSError(f"MQTT broker {self.broker}: not reading ({exc})") from exc
        self._pump(client)  # acknowledgements of the previous batches
        return sent

    def _send(self, client: Any, events: list[SinkEvent]) -> int:
        mono = time.monotonic()
        sent = 0
        for kind, rec in events:
            if kind == "alert":
                self._publish(self.alerts_topic, _json(alert_json(rec)))
                sent += 1
                continue
            tid = rec.get("track_id")
            if tid is None:
                self.skipped += 1
                continue
            state = str(rec.get("state"))
            if not self.throttle.due(tid, state, mono):
                self.skipped += 1
                continue
            self._track(rec, tid, state)
            self.throttle.sent(tid, state, mono)
            sent += 1
        return sent

    def _track(self, rec: dict[str, Any], tid: str, state: str) -> None:
        ended = state == "ended"
        if self.discovery is not None and not ended and tid not in self._announced:
            for topic, config in self.discovery_configs(rec).items():
                self._publish(topic, _json(config), retain=True, qos=0)
            self._announced.add(tid)
        # Positions and discovery configs at QoS 0: nothing to acknowledge (configs are sent
        # again after a reconnection, positions follow within a second); the clears and
        # alerts at QoS 1 (paho sends them again if the connection drops first).
        self._publish(
            self.track_topic(tid, "state"), _json(drone_state(rec)), retain=not ended, qos=0
        )
        for part, lat, lon in (
            ("pilot", "operator_lat", "operator_lon"),
            ("home", "home_lat", "home_lon"),
        ):
            place = (rec.get(lat), rec.get(lon), rec.get("operator_id"))
            if place[0] is None or place[1] is None or ended:
                continue
            if self._places.get((tid, part)) != place:  # only when it moved
                self._places[(tid, part)] = place
                doc = {
                    "latitude": rec[lat],
                    "longitude": rec[lon],
                    "gps_accuracy": 10,
                    "operator_id": rec.get("operator_id"),
                    "track_id": tid,
                }
                self._publish(self.track_topic(tid, part), _json(doc), retain=True, qos=0)
        if ended:  # forget it: clear what the broker retains for it
            self._places.pop((tid, "pilot"), None)
            self._places.pop((tid, "home"), None)
            for part in ("state", "pilot", "home"):
                self._publish(self.track_topic(tid, part), "", retain=True)
            if tid in self._announced:
                for role in ROLES:
                    self._publish(self.config_topic(tid, role), "", retain=True)
                self._announced.discard(tid)

    def sent(self) -> int:
        return self.messages

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if self._connected.is_set() and client.socket() is not None:
                info = client.publish(self.status_topic, "offline", qos=1, retain=True)
                end = time.monotonic() + 1.0
                while not info.is_published() and time.monotonic() < end:
                    sock = client.socket()
                    if sock is None:
                        break
                    select.select([sock], [], [], 0.05)
                    client.loop_read()
                    client.loop_write()
                client.disconnect()
        finally:
            self._connected.clear()
            sock = client.socket()
            if sock is not None:  # disconnect() closes it once DISCONNECT is written
                sock.close()
