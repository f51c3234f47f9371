"""Frames over MQTT: the wire format (pure) and the sensor -> broker -> source path."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import paho.mqtt.client as paho
import pytest
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion
from tests.sources.mqttutil import (
    BROKER_URL,
    receiving,
    require_broker,
    short_lived_source,
    unique_prefix,
)

from dronewatch.cli import main
from dronewatch.model import Frame, Transport
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.live import BatchKey
from dronewatch.sources.mqtt import (
    Envelope,
    SensorKeys,
    encode_batch,
    frames_topic,
    open_message,
    parse_broker_url,
    seal,
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

KEY = bytes(range(32))


def envelope(frames: list[Frame], seq: int = 0, sensor: str = "roof", **kw: object) -> Envelope:
    return Envelope(sensor, "sess-1", seq, 1_700_000_001.0, frames, **kw)  # type: ignore[arg-type]


def raw_envelope(frames: list[object], sensor: str = "roof") -> bytes:
    body = msgspec.msgpack.encode(
        {"sensor": sensor, "session": "sess-1", "seq": 3, "sent": 1.0, "frames": frames}
    )
    return msgspec.msgpack.encode({"v": 1, "body": body})


def test_round_trip_keeps_every_field() -> None:
    empty = Frame(b"", 0.0, Transport.DJI_WIFI, sensor_id="roof")
    frames = [*capture_frames("roof"), FULL_FRAME, empty]
    status = {"position": [48.72, 2.37, 35.0], "sources": [{"name": "wifi:wlan1", "drops": 0}]}
    opened = open_message(seal(envelope(frames, 41, status=status)), "roof")
    assert opened.refused is None and not opened.rejected
    assert opened.frames == frames
    assert opened.key == BatchKey("roof", "sess-1", 41)
    assert opened.sent == 1_700_000_001.0 and opened.status == status


def test_version_0_batches_are_still_read_without_a_key() -> None:
    opened = open_message(encode_batch([FULL_FRAME]), "roof")
    assert opened.frames == [FULL_FRAME] and opened.key is None and opened.refused is None
    keys = SensorKeys({"roof": KEY})
    assert open_message(encode_batch([FULL_FRAME]), "roof", keys).refused == "signature: missing"


def test_a_newer_senders_fields_are_ignored() -> None:
    frame = {**msgspec.structs.asdict(FULL_FRAME), "azimuth_deg": 40.0}
    body = msgspec.msgpack.encode(
        {"sensor": "roof", "session": "s", "seq": 0, "sent": 1.0, "frames": [frame], "gps": 1}
    )
    opened = open_message(msgspec.msgpack.encode({"v": 1, "body": body, "nonce": 7}), "roof")
    assert opened.frames == [FULL_FRAME] and opened.refused is None


DEEP = b"\x91" * 100_000 + b"\xc0"
# An envelope whose status is 100,000 maps deep.
DEEP_STATUS = (
    b"\x85" + msgspec.msgpack.encode({"sensor": "roof", "session": "s", "seq": 0, "sent": 1.0})[1:]
    + b"\xa6status" + b"\x81\xa1a" * 100_000 + b"\xc0"
)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "message: not msgpack"),
        (b"\xc1", "message: not msgpack"),  # a msgpack byte never used
        (seal(envelope([FULL_FRAME]))[:-3], "message: not msgpack"),  # cut short
        (msgspec.msgpack.encode({"frames": []}), "message: not a batch"),
        (msgspec.msgpack.encode({"v": 2, "body": b""}), "message: unknown version"),
        (msgspec.msgpack.encode({"v": 1, "body": b"\x93\x01\x02\x03"}), "message: not a batch"),
        (msgspec.msgpack.encode({"v": 1, "body": DEEP}), "message: not a batch"),
        (msgspec.msgpack.encode({"v": 1, "body": DEEP_STATUS}), "message: nested too deep"),
        (DEEP, "message: not a batch of frames"),  # a version 0 array 100,000 deep
        (seal(envelope([FULL_FRAME], sensor="cellar")), "message: sensor differs from the topic"),
        (seal(Envelope("roof", "s\x00", 1, 1.0, [])), "message: bad session or sequence number"),
        (seal(Envelope("roof", "s", -1, 1.0, [])), "message: bad session or sequence number"),
        (msgspec.msgpack.encode({"v": 1, "body": b"x" * (5 << 20)}), "message: too large"),
        (msgspec.msgpack.encode([{"time": 1.0, "transport": "wifi-beacon"}]),
         "message: not a batch of frames"),  # version 0, no payload
        (b'[{"payload": "", "time": 1}]', "message: not a batch"),  # JSON
    ],
)
def test_a_broken_or_foreign_message_is_refused_whole(payload: bytes, reason: str) -> None:
    opened = open_message(payload, "roof")
    assert opened.refused == reason and opened.frames == []


def test_a_bad_frame_is_refused_alone() -> None:
    good = msgspec.structs.asdict(FULL_FRAME)
    later = {**good, "time": FULL_FRAME.time + 1}
    bad = [
        {**good, "time": "yesterday"},
        {**good, "transport": "carrier-pigeon"},
        {"payload": b"x"},
        {**good, "extra": {"a": [1] * 3}},  # a frame's extra is flat: refused later, not here
        7,
    ]
    opened = open_message(raw_envelope([good, *bad[:3], bad[4], later]), "roof")
    assert opened.refused is None
    assert opened.frames == [FULL_FRAME, msgspec.structs.replace(FULL_FRAME, time=FULL_FRAME.time + 1)]
    assert opened.rejected == {"frame: not a valid frame": 4}
    foreign = msgspec.structs.replace(FULL_FRAME, sensor_id="cellar")
    opened = open_message(seal(envelope([FULL_FRAME, foreign])), "roof")
    assert opened.frames == [FULL_FRAME]
    assert opened.rejected == {"frame: sensor id differs from the topic": 1}


def test_signatures() -> None:
    keys = SensorKeys({"roof": KEY, "mast": bytes(32)})
    batch = envelope([FULL_FRAME])
    assert open_message(seal(batch, KEY), "roof", keys).frames == [FULL_FRAME]
    assert open_message(seal(batch), "roof", keys).refused == "signature: missing"
    assert open_message(seal(batch, bytes(32)), "roof", keys).refused == "signature: wrong"
    other = SensorKeys({"mast": bytes(32)})
    assert open_message(seal(batch, KEY), "roof", other).refused == (
        "signature: no key for this sensor"
    )
    # A signed body changed on the way (one frame's time) is refused.
    sealed = msgspec.msgpack.decode(seal(batch, KEY))
    sealed["body"] = sealed["body"].replace(b"roof", b"rooF", 1)
    assert open_message(msgspec.msgpack.encode(sealed), "roof", keys).refused == (
        "signature: wrong"
    )
    # Without keys the server takes signed and unsigned batches alike.
    assert open_message(seal(batch, KEY), "roof").frames == [FULL_FRAME]


def test_key_files(tmp_path: Path) -> None:
    (tmp_path / "keys.txt").write_text(f"# sensors\nroof {KEY.hex()}\nmast {'ab' * 16}  # spare\n")
    keys = SensorKeys.load(tmp_path / "keys.txt")
    assert keys.get("roof") == KEY and keys.get("mast") == b"\xab" * 16 and keys.get("x") is None
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "roof.key").write_text(KEY.hex() + "\n")
    assert SensorKeys.load(folder).get("roof") == KEY
    for text, message in (("roof\n", "SENSOR HEXKEY"), ("roof zz\n", "hex digits"),
                          ("roof abcd\n", "at least 16 bytes"), ("# none\n", "no key")):
        (tmp_path / "bad.txt").write_text(text)
        with pytest.raises(ValueError, match=message):
            SensorKeys.load(tmp_path / "bad.txt")
    with pytest.raises(ValueError, match="No such file"):
        SensorKeys.load(tmp_path / "missing.txt")


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
    with receiving(short_lived_source(BROKER_URL, prefix, stats=stats)) as received:
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
        with receiving(short_lived_source(BROKER_URL, prefix, stats=stats)) as received:
            topic = frames_topic(prefix, "roof")
            batches = (b"\x07", encode_batch(good[:1]), b"\xc1", encode_batch(good[1:]))
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
    assert stats.skipped == {"mqtt: message: not msgpack": 1, "mqtt: message: not a batch": 1}
