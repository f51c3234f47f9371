"""CRC-24A and DJI CRC-16 against the real Mavic Air 2 blocks and bitwise references."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dronewatch.phy.ocusync.crc import append_crc24a, crc16_dji, crc24a, crc24a_ok


def _blocks(data_dir: Path) -> list[dict[str, object]]:
    blocks: list[dict[str, object]] = json.loads(
        (data_dir / "mavic_air_2.expected.json").read_text()
    )
    assert len(blocks) == 3
    return blocks


def _crc24a_bitwise(data: bytes) -> int:
    """Straight from TS 36.212 §5.1.1: long division by g_CRC24A, MSB first."""
    poly = (1 << 24) | 0x864CFB
    reg = 0
    for byte in data:
        for i in range(7, -1, -1):
            reg = (reg << 1) | ((byte >> i) & 1)
            if reg >> 24:
                reg ^= poly
    for _ in range(24):
        reg <<= 1
        if reg >> 24:
            reg ^= poly
    return reg


def _crc16_bitwise(data: bytes, init: int = 0x3692) -> int:
    reg = init
    for byte in data:
        reg ^= byte
        for _ in range(8):
            reg = (reg >> 1) ^ 0x8408 if reg & 1 else reg >> 1
    return reg


def test_crc24a_catalogue_check_value() -> None:
    # CRC-24/LTE-A in the CRC catalogue: check = 0xCDE703 over "123456789".
    assert crc24a(b"123456789") == 0xCDE703
    assert _crc24a_bitwise(b"123456789") == 0xCDE703


def test_real_blocks_crc24a(data_dir: Path) -> None:
    for entry in _blocks(data_dir):
        block = bytes.fromhex(str(entry["block_hex"]))
        assert len(block) == 176
        assert crc24a(block) == 0
        assert crc24a_ok(block)
        assert crc24a(block[:173]).to_bytes(3, "big").hex() == entry["crc24_bytes"]
        assert append_crc24a(block[:173]) == block


def test_real_blocks_crc16_at_documented_offsets(data_dir: Path) -> None:
    offsets = []
    for entry in _blocks(data_dir):
        block = bytes.fromhex(str(entry["block_hex"]))
        length = block[0]
        assert length + 1 == entry["crc16_at_offset"]
        stored = int.from_bytes(block[length + 1 : length + 3], "little")
        assert crc16_dji(block[: length + 1]) == stored
        offsets.append(length + 1)
    assert offsets == [142, 89, 89]
    # The seq-591 telemetry record's CRC-16 quoted in droneid.md §2.2.
    block = bytes.fromhex(str(_blocks(data_dir)[2]["block_hex"]))
    assert crc16_dji(block[:89]) == 0xB048


def test_crc_detects_single_bit_errors(data_dir: Path) -> None:
    block = bytes.fromhex(str(_blocks(data_dir)[1]["block_hex"]))
    for bit in range(0, 176 * 8, 7):
        damaged = bytearray(block)
        damaged[bit // 8] ^= 0x80 >> (bit % 8)
        assert not crc24a_ok(damaged)


def test_crc24a_ok_short_input() -> None:
    assert not crc24a_ok(b"")
    assert not crc24a_ok(b"\x01\x02")


@given(st.binary(max_size=300))
def test_crc24a_matches_bitwise_reference(data: bytes) -> None:
    assert crc24a(data) == _crc24a_bitwise(data)
    assert crc24a(append_crc24a(data)) == 0


@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_crc16_matches_bitwise_reference(data: bytes, init: int) -> None:
    assert crc16_dji(data, init) == _crc16_bitwise(data, init)


@pytest.mark.parametrize("split", [0, 1, 50, 172])
def test_crc24a_is_incremental(split: int) -> None:
    data = bytes(range(173))
    assert crc24a(data[split:], crc24a(data[:split])) == crc24a(data)
