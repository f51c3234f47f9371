"""Authenticated sensors: a Mosquitto of our own configured like deploy/mosquitto (TLS,
password file, ACL: a sensor publishes only under its own topic, the server only reads) and
signed batches (an HMAC key per sensor). A client without the sensor's credentials or key
cannot get a frame stored."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as paho
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from tests.server.conftest import CAPTURE, make_settings
from tests.server.ingestutil import (
    DEPLOY,
    MOSQUITTO,
    OwnBroker,
    TlsMaterial,
    acl_text,
    free_port,
    make_tls,
    observation_keys,
    password_file,
    stored_keys,
    wait_for,
)
from tests.sources.mqttutil import require_broker

from dronewatch.model import Frame
from dronewatch.server.app import create_app
from dronewatch.server.context import AppContext
from dronewatch.sinks.mqtt import BrokerError, FramePublisher
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.mqtt import Envelope, MqttSource, TlsFiles, frames_topic, seal

PREFIX = "dronewatch"
PASSWORDS = {"dronewatch-server": "server-pw-1", "roof": "roof-pw-2", "mast": "mast-pw-3",
             "spare": "spare-pw-4"}
KEYS = {"roof": bytes(range(32)), "mast": bytes(range(1, 33))}  # "spare" has none


@dataclass
class Site:
    broker: OwnBroker
    tls: TlsMaterial
    client: TestClient
    ctx: AppContext

    def url(self, user: str | None, password: str | None = None) -> str:
        return self.broker.url(user, password if password is not None else PASSWORDS.get(user or ""), tls=True)

    def sensor(self, sensor_id: str) -> dict[str, Any]:
        for s in self.client.get("/health").json()["sensors"]:
            if s["sensor_id"] == sensor_id:
                return s  # type: ignore[no-any-return]
        return {"messages": 0, "rejected": {}}


def frames_of(sensor: str, **kw: Any) -> list[Frame]:
    recorded = list(open_capture(CAPTURE, CaptureOptions(sensor_id=sensor)))
    shift = time.time() - 10 - recorded[0].time
    return [msgspec.structs.replace(f, time=f.time + shift, **kw) for f in recorded]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_broker()  # the Mosquitto install; the broker itself is our own
    tmp = tmp_path_factory.mktemp("auth")
    tls = make_tls(tmp / "tls")
    passwd = password_file(tmp / "passwd", PASSWORDS)
    keys = tmp / "sensor-keys"
    keys.write_text("".join(f"{s} {k.hex()}\n" for s, k in KEYS.items()))
    with OwnBroker(tmp / "broker", passwords=passwd, acl=acl_text(PREFIX),
                   tls=tls) as broker:
        settings = make_settings(
            tmp,
            mqtt=broker.url("dronewatch-server", PASSWORDS["dronewatch-server"], tls=True),
            mqtt_tls_ca=tls.ca,
            mqtt_client_id=f"dw-auth-{uuid.uuid4().hex[:8]}",
            sensor_keys=keys,
        )
        app = create_app(settings)
        with TestClient(app) as client:
            ctx: AppContext = app.state.ctx
            assert ctx.live is not None
            assert ctx.live.sources[0].subscribed.wait(30), ctx.live.health()  # type: ignore[attr-defined]
            yield Site(broker, tls, client, ctx)


def publish(site: Site, user: str, frames: list[Frame], *, key: bytes | None, topic_sensor: str | None = None) -> None:
    """As ``user`` (broker credentials), one batch to ``topic_sensor``'s topic, raw."""
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.username_pw_set(user, PASSWORDS[user])
    client.tls_set_context(TlsFiles(site.tls.ca).context())
    client.connect("127.0.0.1", site.broker.tls_port or 0)
    client.loop_start()
    try:
        sensor = topic_sensor or user
        payload = seal(Envelope(sensor, uuid.uuid4().hex[:8], 0, time.time(), frames), key)
        client.publish(frames_topic(PREFIX, sensor), payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.mqtt
def test_a_signed_sensor_over_tls_is_stored_and_nobody_else_gets_a_frame_in(site: Site) -> None:
    store = site.ctx.store
    good = frames_of("roof")
    pub = FramePublisher(site.url("roof"), "roof", topic_prefix=PREFIX, key=KEYS["roof"],
                         tls_files=TlsFiles(site.tls.ca))
    pub.connect()
    pub.publish(good)
    assert pub.close() == 0
    expected = observation_keys(good)
    wait_for(lambda: stored_keys(store) == expected, 30, "roof's frames")
    # Now everyone else tries to speak for roof.
    forged = frames_of("roof", rssi_dbm=-1.0)  # distinguishable from roof's own
    publish(site, "roof", forged, key=None)  # roof's credentials, no key
    publish(site, "roof", forged, key=KEYS["mast"])  # roof's credentials, another key
    publish(site, "mast", forged, key=KEYS["mast"], topic_sensor="roof")  # ACL: not mast's topic
    publish(site, "mast", forged, key=KEYS["mast"])  # its own topic, frames naming roof
    publish(site, "spare", frames_of("spare"), key=KEYS["mast"])  # no key for spare
    wait_for(lambda: sum(site.sensor("roof")["rejected"].values()) == 2, 30, "roof's refusals")
    wait_for(lambda: site.sensor("mast")["messages"] == 1, 30, "mast's batch")
    wait_for(lambda: site.sensor("spare")["messages"] == 0
             and site.sensor("spare")["rejected"] != {}, 30, "spare's batch")
    assert site.sensor("roof")["rejected"] == {"signature: missing": 1, "signature: wrong": 1}
    assert site.sensor("mast")["rejected"] == {
        "frame: sensor id differs from the topic": len(forged)
    }
    assert site.sensor("spare")["rejected"] == {"signature: no key for this sensor": 1}
    # The ACL kept mast's message off roof's topic: the broker never delivered it.
    assert site.sensor("roof")["messages"] == 1
    assert stored_keys(store) == expected


@pytest.mark.mqtt
def test_wrong_credentials_and_certificates_get_a_clear_message(site: Site) -> None:
    for url, message in (
        (site.url(None), "refused the credentials of an anonymous client"),
        (site.url("roof", "wrong"), "refused the credentials of user 'roof'"),
    ):
        with pytest.raises(BrokerError, match=message):
            FramePublisher(url, "roof", tls_files=TlsFiles(site.tls.ca)).connect(10)
    with pytest.raises(BrokerError, match="CERTIFICATE_VERIFY_FAILED"):
        FramePublisher(site.url("roof"), "roof", tls_files=TlsFiles(site.tls.other_ca)).connect()
    with pytest.raises(BrokerError, match="cannot reach"):  # TLS expected, plain spoken
        FramePublisher(site.broker.url("roof", PASSWORDS["roof"]).replace("mqtt:", "mqtts:"),
                       "roof", tls_files=TlsFiles(site.tls.ca)).connect(5)
    # The server's side: its source says why and keeps trying.
    source = MqttSource(site.url("dronewatch-server", "wrong"), PREFIX,
                        tls_files=TlsFiles(site.tls.ca), client_id="dw-auth-wrong")
    source.start()
    try:
        wait_for(lambda: source.last_error is not None, 30, "the refusal")
        assert "refused the credentials of user 'dronewatch-server'" in (source.last_error or "")
        assert not source.health().ok
    finally:
        source.stop()


@pytest.mark.mqtt
def test_the_shipped_broker_configuration_works(site: Site, tmp_path: Path) -> None:
    """deploy/mosquitto/dronewatch.conf, with this machine's paths and a free port: the
    broker starts, takes a sensor over TLS with its password, refuses anonymous clients."""
    conf = (DEPLOY / "dronewatch.conf").read_text()
    port = free_port()
    local = {
        "/var/lib/mosquitto/": f"{tmp_path}/",
        "/etc/mosquitto/dronewatch.passwd": str(tmp_path / "passwd"),
        "/etc/mosquitto/dronewatch.acl": str(DEPLOY / "dronewatch.acl"),
        "/etc/mosquitto/certs/ca.crt": str(site.tls.ca),
        "/etc/mosquitto/certs/broker.crt": str(site.tls.cert),
        "/etc/mosquitto/certs/broker.key": str(site.tls.key),
        "listener 8883": f"listener {port} 127.0.0.1",
    }
    for path, here in local.items():
        assert path in conf
        conf = conf.replace(path, here)
    password_file(tmp_path / "passwd", {"roof": "pw-roof-5"})
    (tmp_path / "mosquitto.conf").write_text(f"user {getpass.getuser()}\n{conf}")
    os.chmod(tmp_path, 0o755)
    broker = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"mqtts://roof:pw-roof-5@127.0.0.1:{port}"
        def up() -> bool:
            assert broker.poll() is None, broker.stdout.read() if broker.stdout else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            except OSError:
                return False
            return True
        wait_for(up, 20, "the broker")
        pub = FramePublisher(url, "roof", tls_files=TlsFiles(site.tls.ca))
        pub.connect()
        pub.publish(frames_of("roof")[:2])
        assert pub.close() == 0  # accepted (the ACL lets roof write its own topic)
        with pytest.raises(BrokerError, match="anonymous"):
            FramePublisher(f"mqtts://127.0.0.1:{port}", "roof",
                           tls_files=TlsFiles(site.tls.ca)).connect(10)
    finally:
        broker.terminate()
        broker.wait(10)


def test_tls_options_need_an_mqtts_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="need an mqtts:// URL"):
        create_app(make_settings(tmp_path, mqtt="mqtt://127.0.0.1:1", mqtt_tls_ca=CAPTURE))
    with pytest.raises(ValueError, match="TLS CA file"):
        create_app(make_settings(tmp_path, mqtt="mqtts://127.0.0.1:1", mqtt_tls_ca=CAPTURE))
    (tmp_path / "keys").write_text("roof nothex\n")
    with pytest.raises(ValueError, match="hex digits"):
        create_app(make_settings(tmp_path, mqtt="mqtt://127.0.0.1:1", sensor_keys=tmp_path / "keys"))
