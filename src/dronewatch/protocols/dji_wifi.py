"""DJI DroneID in Wi-Fi beacons: vendor-specific element (221) payload codec.

The payload is the vendor element body after the 3-byte OUI (one of :data:`DJI_OUIS`):

====  ======  ===================================================================
off   size    content
====  ======  ===================================================================
0     1       header byte: 0x58 (= 88, the length of a version-2 telemetry record) on
              every sample seen; Kismet calls it "vendor type"
1     2       ``62 13`` on every sample seen (Kismet: unknown)
3     ...     the DroneID record from its type byte (``protocols.dji_droneid``)
====  ======  ===================================================================

The record types are 0x10 flight telemetry (version 1 or 2) and 0x11 flight information.
"""

from __future__ import annotations

from typing import Final

from dronewatch.errors import Truncated
from dronewatch.model import Message, Transport
from dronewatch.protocols import register
from dronewatch.protocols.dji_droneid import decode_record, encode_record

# 26:37:12 is what Kismet and most spoofers use; the others are DJI's registered OUIs
# seen carrying DroneID (RemoteIDReceiver).
DJI_OUIS: Final = (
    bytes.fromhex("263712"),
    bytes.fromhex("60601f"),
    bytes.fromhex("481cb9"),
    bytes.fromhex("34d262"),
)
DEFAULT_OUI: Final = DJI_OUIS[1]
HEADER_SIZE: Final = 3
HEADER_TAIL: Final = b"\x62\x13"


@register(Transport.DJI_WIFI)
def decode(payload: bytes) -> list[Message]:
    """The DroneID record in a DJI vendor element body (after the OUI)."""
    if len(payload) <= HEADER_SIZE:
        raise Truncated(
            f"DJI vendor element of {len(payload)} bytes has no record", reason="truncated"
        )
    return [decode_record(payload[HEADER_SIZE:])]


def encode(message: Message) -> bytes:
    """The vendor element body (after the OUI) that carries ``message``."""
    record = encode_record(message)
    return bytes([len(record) & 0xFF]) + HEADER_TAIL + record
