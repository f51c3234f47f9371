"""DJI DroneID over OcuSync: the payload of the 176-byte transport block.

The PHY (``dronewatch.phy.ocusync``) turbo-decodes a burst and checks CRC-24A; the frame
payload is the 173 bytes before the CRC-24A (the full 176-byte block is accepted too, its
CRC-24A is then checked here). Layout of the payload (``/work/shared/docs/droneid.md`` §2):

======  =====================================================================
offset  content
======  =====================================================================
0       record length L (bytes 1 ... L)
1       record type: 0x10 telemetry, 0x11 serial, 0x13 ``CRYP``; encrypted
        O3+/O4 records carry an ASCII tag (``INFP``, ``CRYP``) at bytes 2-5
1..L    the record, decoded by :mod:`dronewatch.protocols.dji_droneid`
L+1     DJI CRC-16 (reflected CCITT, preset 0x3692) over bytes 0 ... L, little-endian
L+3..   stale transmit-buffer content (the tail of an earlier, longer record), ignored
======  =====================================================================

Plaintext records must pass the CRC-16 (``Corrupt(reason="crc16")`` otherwise). Encrypted
records are reported as :class:`DjiEncrypted` detections whatever their CRC-16 says: no
public source confirms that the inner CRC covers them the same way, and the block is
already protected by CRC-24A.
"""

from __future__ import annotations

from typing import Final

from dronewatch.errors import Corrupt, Truncated
from dronewatch.model import Message, Transport
from dronewatch.phy.ocusync.crc import crc16_dji, crc24a
from dronewatch.protocols import register
from dronewatch.protocols.dji_droneid import ENCRYPTED_TAGS, decode_record, encode_record

PAYLOAD_BYTES: Final = 173  # transport block without its CRC-24A
BLOCK_BYTES: Final = 176  # with CRC-24A
RECORD_CRC_BYTES: Final = 2
MAX_RECORD_LENGTH: Final = PAYLOAD_BYTES - 1 - RECORD_CRC_BYTES  # 170: L + 3 <= 173


def record_bounds(payload: bytes) -> tuple[int, bool]:
    """The record length L of ``payload`` and whether its CRC-16 checks.

    Raises ``Truncated``/``Corrupt`` when the length byte cannot describe a record here.
    """
    if not payload:
        raise Truncated("empty DJI OcuSync payload", reason="truncated")
    length = payload[0]
    if length == 0:
        raise Corrupt("DJI OcuSync record length 0", reason="length")
    if length > MAX_RECORD_LENGTH:
        raise Corrupt(f"DJI OcuSync record length {length} > {MAX_RECORD_LENGTH}", reason="length")
    end = length + 1 + RECORD_CRC_BYTES
    if len(payload) < end:
        raise Truncated(
            f"DJI OcuSync record of {length} bytes needs {end} payload bytes, got {len(payload)}",
            reason="truncated",
        )
    stored = int.from_bytes(payload[length + 1 : end], "little")
    return length, crc16_dji(payload[: length + 1]) == stored


@register(Transport.DJI_OCUSYNC)
def decode(payload: bytes) -> list[Message]:
    """Decode the record of one CRC-24A-checked OcuSync transport block."""
    payload = bytes(payload)
    if len(payload) == BLOCK_BYTES:
        if crc24a(payload) != 0:
            raise Corrupt("DJI OcuSync transport block fails CRC-24A", reason="crc24a")
        payload = payload[:PAYLOAD_BYTES]
    elif len(payload) > PAYLOAD_BYTES:
        raise Corrupt(
            f"DJI OcuSync payload of {len(payload)} bytes (expected {PAYLOAD_BYTES})",
            reason="length",
        )
    length, crc_ok = record_bounds(payload)
    record = payload[1 : length + 1]
    encrypted = record[1:5] in ENCRYPTED_TAGS
    if not crc_ok and not encrypted:
        raise Corrupt("DJI OcuSync record fails its CRC-16", reason="crc16")
    return [decode_record(record, ocusync=True)]


def encode_payload(message: Message, *, filler: bytes | None = None) -> bytes:
    """The 173-byte payload carrying ``message``'s record (CRC-16 appended).

    The bytes after the record are taken from ``filler`` at the same offsets, as a real
    drone leaves an earlier, longer record in its transmit buffer (pass the previous
    payload to reproduce real blocks); zeros by default or where ``filler`` is short.
    """
    record = encode_record(message)
    length = len(record)
    if length == 0 or length > MAX_RECORD_LENGTH:
        raise ValueError(f"record of {length} bytes does not fit a DJI OcuSync payload")
    head = bytes([length]) + record
    crc = crc16_dji(head)
    body = head + crc.to_bytes(RECORD_CRC_BYTES, "little")
    tail = (filler or b"")[len(body) : PAYLOAD_BYTES]
    return (body + tail).ljust(PAYLOAD_BYTES, b"\x00")
