"""DJI DroneID over OcuSync payload decoder/encoder, on the real Mavic Air 2 blocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.decode import decode_frames
from dronewatch.errors import Corrupt, DecodeError, Truncated, Unsupported
from dronewatch.model import Frame, Transport
from dronewatch.phy.ocusync.coding import decode_llrs, encode_block
from dronewatch.phy.ocusync.crc import append_crc24a, crc16_dji
from dronewatch.protocols import decode_payload
from dronewatch.protocols.dji_droneid import (
    DjiEncrypted,
    DjiSerial,
    DjiTelemetry,
    make_telemetry,
)
from dronewatch.protocols.dji_ocusync import decode, encode_payload
from dronewatch.stats import DecodeStats


def _blocks(data_dir: Path) -> list[bytes]:
    entries = json.loads((data_dir / "mavic_air_2.expected.json").read_text())
    return [bytes.fromhex(e["block_hex"]) for e in entries]


def _with_record(record: bytes, fill: int = 0) -> bytes:
    """A 173-byte payload: length byte, ``record``, valid CRC-16, then ``fill`` bytes."""
    head = bytes([len(record)]) + record
    body = head + crc16_dji(head).to_bytes(2, "little")
    return body.ljust(173, bytes([fill]))


def test_real_serial_record(data_dir: Path) -> None:
    block = _blocks(data_dir)[0]
    (msg,) = decode_payload(Transport.DJI_OCUSYNC, block[:173])
    assert isinstance(msg, DjiSerial)
    assert msg.type == "dji_serial"
    assert msg.serial == "1WNBH3900201N1"
    assert msg.unknown[:3] == b"\xcc\xaa\x02"
    assert len(msg.unknown) == 124 and not any(msg.unknown[3:])


def test_real_telemetry_records(data_dir: Path) -> None:
    blocks = _blocks(data_dir)
    msgs = [decode(b[:173])[0] for b in blocks[1:]]
    assert all(isinstance(m, DjiTelemetry) for m in msgs)
    t589, t591 = msgs
    assert isinstance(t589, DjiTelemetry) and isinstance(t591, DjiTelemetry)
    assert (t589.sequence, t591.sequence) == (589, 591)
    for m in (t589, t591):
        assert m.type == "dji_telemetry"
        assert m.serial == "1WNBH3900201N1"
        assert m.version == 2
        assert m.state_info == 0x1FF7
        assert m.lat == pytest.approx(51.446356, abs=1e-6)
        assert m.lon == pytest.approx(7.267219, abs=1e-6)
        assert m.lat == pytest.approx(8979083 / 174532.9252, abs=1e-9)
        assert m.operator_lat == pytest.approx(51.446230, abs=1e-6)
        assert m.operator_lon == pytest.approx(7.267104, abs=1e-6)
        assert m.home_lat == pytest.approx(51.446281, abs=1e-6)
        assert m.home_lon == pytest.approx(7.267357, abs=1e-6)
        assert m.product_type == 58 and m.product == "Mavic Air 2"
        assert m.uuid == "1143635532171534336"
        assert m.gps_time == pytest.approx(1650542026.258)
    assert (t589.height_raw, t591.height_raw) == (37, 42)
    assert (t589.speed_up_raw, t591.speed_up_raw) == (28, 26)


def test_full_block_with_crc24a(data_dir: Path) -> None:
    block = _blocks(data_dir)[1]
    assert decode(block) == decode(block[:173])
    damaged = bytearray(block)
    damaged[100] ^= 1  # in the stale tail: only CRC-24A sees it
    with pytest.raises(Corrupt) as err:
        decode(bytes(damaged))
    assert err.value.reason == "crc24a"


def test_bad_crc16(data_dir: Path) -> None:
    payload = bytearray(_blocks(data_dir)[1][:173])
    payload[30] ^= 0x40
    with pytest.raises(Corrupt) as err:
        decode(bytes(payload))
    assert err.value.reason == "crc16"


@pytest.mark.parametrize(
    ("payload", "error", "reason"),
    [
        (b"", Truncated, "truncated"),
        (bytes(173), Corrupt, "length"),
        (bytes([171]) + bytes(172), Corrupt, "length"),
        (bytes([88, 0x10]) + bytes(20), Truncated, "truncated"),
        (bytes(174), Corrupt, "length"),
    ],
)
def test_malformed(payload: bytes, error: type[DecodeError], reason: str) -> None:
    with pytest.raises(error) as err:
        decode(payload)
    assert err.value.reason == reason


def test_unknown_record_type() -> None:
    with pytest.raises(Unsupported):
        decode(_with_record(bytes([0x42]) + bytes(20)))


@pytest.mark.parametrize(("length", "rtype", "tag"), [(0x87, 0x10, b"INFP"), (0xAA, 0x13, b"CRYP")])
def test_encrypted_records(length: int, rtype: int, tag: bytes) -> None:
    rng = np.random.default_rng(length)
    record = bytes([rtype]) + tag + rng.integers(0, 256, length - 5, dtype=np.uint8).tobytes()
    (msg,) = decode(_with_record(record))
    assert isinstance(msg, DjiEncrypted)
    assert msg.type == "dji_encrypted"
    assert (msg.record_type, msg.tag, msg.length) == (rtype, tag.decode(), length)
    assert msg.ciphertext == record[5:]
    assert encode_payload(msg) == _with_record(record)
    # Reported as a detection even when the inner CRC-16 does not check.
    bad = bytearray(_with_record(record))
    bad[length + 1] ^= 0xFF
    (again,) = decode(bytes(bad))
    assert isinstance(again, DjiEncrypted)


def test_encode_reproduces_real_blocks(data_dir: Path) -> None:
    blocks = _blocks(data_dir)
    stale = blocks[0][:173]  # the drone's buffer held the longer 0x11 record before
    for block in blocks:
        (msg,) = decode(block[:173])
        assert encode_payload(msg, filler=stale) == block[:173]
        assert append_crc24a(encode_payload(msg, filler=stale)) == block
        zero_filled = encode_payload(msg)
        assert len(zero_filled) == 173
        assert decode(zero_filled) == [msg]
        assert not any(zero_filled[block[0] + 3 :])


def test_decode_frames_counts_skips(data_dir: Path) -> None:
    blocks = _blocks(data_dir)
    frames = [Frame(payload=b[:173], time=1.0, transport=Transport.DJI_OCUSYNC) for b in blocks] + [
        Frame(payload=bytes(173), time=2.0, transport=Transport.DJI_OCUSYNC)
    ]
    stats = DecodeStats()
    decoded = list(decode_frames(frames, stats))
    assert [d.message.type for d in decoded] == ["dji_serial", "dji_telemetry", "dji_telemetry"]
    assert stats.skipped == {"dji-ocusync: length": 1}
    row = decoded[2].to_json()
    assert row["transport"] == "dji-ocusync" and row["sequence"] == 591


def test_burst_chain_end_to_end(data_dir: Path) -> None:
    # payload encoder -> channel coding -> noisy soft bits -> decoder -> payload decoder.
    msg = decode(_blocks(data_dir)[2][:173])[0]
    payload = encode_payload(msg)
    rng = np.random.default_rng(3)
    coded = encode_block(payload)
    sigma2 = 10 ** (1.0 / 10) / 2  # Es/N0 = -1 dB
    y = (1.0 - 2.0 * coded) / np.sqrt(2) + rng.normal(0, np.sqrt(sigma2), coded.size)
    result = decode_llrs(np.sqrt(2) * y / sigma2)
    assert result.crc_ok and result.payload is not None
    assert decode(result.payload) == [msg]


@settings(max_examples=50, deadline=None)
@given(
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    height=st.floats(-1000, 1000),
    serial=st.text(st.characters(min_codepoint=0x30, max_codepoint=0x5A), max_size=16),
    seq=st.integers(0, 0xFFFF),
    filler=st.binary(max_size=173),
)
def test_telemetry_round_trip(
    lat: float, lon: float, height: float, serial: str, seq: int, filler: bytes
) -> None:
    msg = make_telemetry(
        serial=serial or None,
        lat=lat,
        lon=lon,
        height=height,
        home_lat=lat,
        home_lon=lon,
        sequence=seq,
        uuid="1143635532171534336",
    )
    payload = encode_payload(msg, filler=filler)
    assert len(payload) == 173
    assert payload[0] == 88 and payload[1] == 0x10
    assert decode(payload) == [msg]


@settings(max_examples=30, deadline=None)
@given(
    serial=st.text(st.characters(min_codepoint=0x30, max_codepoint=0x5A), min_size=1, max_size=16),
    unknown=st.binary(max_size=124),
)
def test_serial_round_trip(serial: str, unknown: bytes) -> None:
    msg = DjiSerial(serial=serial, unknown=unknown)
    assert decode(encode_payload(msg)) == [msg]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=180))
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        msgs = decode(data)
    except DecodeError:
        return
    assert len(msgs) == 1


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 170), st.binary(min_size=170, max_size=170))
def test_fuzz_valid_crc16(length: int, body: bytes) -> None:
    # Records that pass the CRC-16 but hold garbage still fail only with DecodeError.
    try:
        msgs = decode(_with_record(body[:length]))
    except DecodeError:
        return
    assert len(msgs) == 1
