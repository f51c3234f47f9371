"""Frames over MQTT: the wire format (pure) and the sensor -> broker -> source path."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import paho.mqtt.client as paho
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion
from tests.sources.mqttutil import BROKER_URL, receiving, require_broker, unique_prefix

from dronewatch.cli import main
from dronewatch.model import Frame, Transport
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.mqtt import (
    MqttSource,
    decode_batch,
    encode_batch,
    frames_topic,
    parse_broker_url,
)
from dronewatch.stats import DecodeStats

CAPTURE = Path(__file__).parents[1] / "data" / "odid_wifi_sample.pcap"

FULL_FRAME = Frame(
    payload=bytes(range(25)),
    time=1_700_000_000.123456,
    transport=Transport.BLE_LONG_RANGE,
    source="aa:bb:cc:dd:ee:ff",
    rssi_dbm=-71.5,
    channel=37,
    frequency_hz=2.402e9,
    sensor_id="roof",
    counter=200,
    extra={"snr_db": 12.5, "phy": "coded"},
)


def capture_frames(sensor_id: str) -> list[Frame]:
    return list(open_capture(CAPTURE, CaptureOptions(sensor_id=sensor_id)))


# -- the wire format ------------------------------------------------------------------------


def test_round_trip_keeps_every_field() -> None:
    empty = Frame(b"", 0.0, Transport.DJI_WIFI, sensor_id="roof")
    frames = [*capture_frames("roof"), FULL_FRAME, empty]
    stats = DecodeStats()
    assert decode_batch(encode_batch(frames), stats, "roof") == frames
    assert not stats.skipped


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "mqtt: not msgpack"),
        (b"\xc1", "mqtt: not msgpack"),  # a msgpack byte never used
        (encode_batch([FULL_FRAME])[:-3], "mqtt: not msgpack"),  # cut short
        (msgspec.msgpack.encode({"frames": []}), "mqtt: not a batch of frames"),
        (msgspec.msgpack.encode([{"time": 1.0, "transport": "wifi-beacon"}]),
         "mqtt: not a batch of frames"),  # no payload
        (msgspec.msgpack.encode([{"payload": b"x", "time": 1.0, "transport": "carrier-pigeon"}]),
         "mqtt: not a batch of frames"),  # unknown transport
        (msgspec.msgpack.encode([{"payload": "text", "time": 1.0, "transport": "wifi-beacon"}]),
         "mqtt: not a batch of frames"),  # payload not bytes
        (b'[{"payload": "", "time": 1}]', "mqtt: not a batch of frames"),  # JSON: an int
        (encode_batch([msgspec.structs.replace(FULL_FRAME, sensor_id="cellar")]),
         "mqtt: sensor id differs from the topic"),
    ],
)
def test_broken_or_foreign_batch_is_a_counted_skip(payload: bytes, reason: str) -> None:
    stats = DecodeStats()
    assert decode_batch(payload, stats, "roof") == []
    assert stats.skipped == {reason: 1}
    # The next good batch decodes as usual.
    assert decode_batch(encode_batch([FULL_FRAME]), stats, "roof") == [FULL_FRAME]
    assert stats.frames_skipped == 1


def test_frames_of_a_newer_sender_with_more_fields_still_decode() -> None:
    newer = msgspec.msgpack.encode([{**msgspec.structs.asdict(FULL_FRAME), "azimuth_deg": 40.0}])
    assert decode_batch(newer, DecodeStats(), "roof") == [FULL_FRAME]


def test_broker_urls() -> None:
    b = parse_broker_url("mqtt://10.0.0.5")
    assert (b.host, b.port, b.tls, b.username) == ("10.0.0.5", 1883, False, None)
    b = parse_broker_url("mqtts://user:p%40ss@broker.example:8884")
    assert (b.host, b.port, b.tls, b.username, b.password) == (
        "broker.example", 8884, True, "user", "p@ss")
    assert "p@ss" not in str(b)
    for bad in ("127.0.0.1:1883", "http://host", "mqtt://", "mqtt://host:99999", "mqtt://h/x"):
        with pytest.raises(ValueError, match="broker URL"):
            parse_broker_url(bad)


def test_topics() -> None:
    assert frames_topic("dronewatch", "roof") == "dronewatch/roof/frames"
    assert frames_topic("site/north", "mast-2") == "site/north/mast-2/frames"
    for prefix, sensor in (("dronewatch", "a/b"), ("dronewatch", "+"), ("#", "roof"),
                           ("dronewatch/", "roof"), ("dronewatch", "")):
        with pytest.raises(ValueError):
            frames_topic(prefix, sensor)


# -- through the real broker ----------------------------------------------------------------


@pytest.mark.mqtt
def test_sensor_cli_to_source_end_to_end() -> None:
    require_broker()
    prefix = unique_prefix()
    stats = DecodeStats()
    expected = capture_frames("roof")
    assert expected
    with receiving(MqttSource(BROKER_URL, prefix, stats)) as received:
        result = CliRunner().invoke(
            main,
            ["sensor", "--fast", "--broker", BROKER_URL, "--sensor", "roof",
             "--topic-prefix", prefix, str(CAPTURE)],
        )
        assert result.exit_code == 0, result.output
        assert f"{len(expected)} frames published in 1 messages" in result.output
        frames = received.wait_for(len(expected))
    assert frames == expected
    assert stats.packets_read == len(expected) and not stats.skipped


@pytest.mark.mqtt
def test_broken_payload_is_counted_and_the_next_batch_arrives() -> None:
    require_broker()
    prefix = unique_prefix()
    stats = DecodeStats()
    good = [FULL_FRAME, msgspec.structs.replace(FULL_FRAME, time=FULL_FRAME.time + 1.0)]
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        with receiving(MqttSource(BROKER_URL, prefix, stats)) as received:
            topic = frames_topic(prefix, "roof")
            batches = (b"\x00garbage", encode_batch(good[:1]), b"\xc1", encode_batch(good[1:]))
            for payload in batches:
                client.publish(topic, payload, qos=1).wait_for_publish(5.0)
            frames = received.wait_for(len(good))
            deadline = time.monotonic() + 5.0
            while stats.frames_skipped < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        client.disconnect()
        client.loop_stop()
    assert frames == good
    assert stats.skipped == {"mqtt: not msgpack": 1, "mqtt: not a batch of frames": 1}
