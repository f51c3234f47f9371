"""CRCs of DJI DroneID over OcuSync.

* CRC-24A (3GPP TS 36.212 §5.1.1): poly 0x864CFB, init 0, MSB first, no final XOR. It closes
  the 176-byte transport block (173 payload bytes + 3 CRC bytes, MSB first); the CRC over
  an intact block, CRC included, is 0.
* DJI CRC-16: the CCITT polynomial reflected (0x8408), register preset 0x3692, no final XOR,
  stored little-endian after the record it covers.
"""

from __future__ import annotations

from typing import Final

CRC24A_POLY: Final = 0x864CFB
CRC16_DJI_POLY: Final = 0x8408  # reflected 0x1021
CRC16_DJI_INIT: Final = 0x3692


def _crc24a_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte << 16
        for _ in range(8):
            reg = ((reg << 1) ^ CRC24A_POLY) if reg & 0x800000 else (reg << 1)
        table.append(reg & 0xFFFFFF)
    return tuple(table)


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ CRC16_DJI_POLY if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


_CRC24A_TABLE: Final = _crc24a_table()
_CRC16_TABLE: Final = _crc16_table()


def crc24a(data: bytes | bytearray | memoryview, init: int = 0) -> int:
    """CRC-24A of ``data`` (24-bit integer). Over a block ending in its own CRC it is 0."""
    reg = init & 0xFFFFFF
    table = _CRC24A_TABLE
    for b in bytes(data):
        reg = ((reg << 8) & 0xFFFFFF) ^ table[((reg >> 16) ^ b) & 0xFF]
    return reg


def append_crc24a(data: bytes | bytearray | memoryview) -> bytes:
    """``data`` followed by its CRC-24A, most significant byte first."""
    raw = bytes(data)
    return raw + crc24a(raw).to_bytes(3, "big")


def crc24a_ok(block: bytes | bytearray | memoryview) -> bool:
    """True when ``block`` (data + 3 CRC bytes) has a zero CRC-24A remainder."""
    return len(block) >= 3 and crc24a(block) == 0


def crc16_dji(data: bytes | bytearray | memoryview, init: int = CRC16_DJI_INIT) -> int:
    """DJI CRC-16 (reflected CCITT, preset 0x3692) of ``data``."""
    reg = init & 0xFFFF
    table = _CRC16_TABLE
    for b in bytes(data):
        reg = (reg >> 8) ^ table[(reg ^ b) & 0xFF]
    return reg
