"""Transport-independent constants of ASTM F3411 / ASD-STAN EN 4709-002 Remote ID.

The framing modules (Wi-Fi beacon/NAN, BLE legacy/long range) locate the Remote ID payload
with the transport constants below, strip the one-byte message counter and hand the rest
(one message or a message pack) to :func:`dronewatch.protocols.astm.decode`.
"""

from __future__ import annotations

from typing import Final

#: Every Remote ID message is exactly this many bytes.
MESSAGE_SIZE: Final = 25
#: A message pack holds at most this many messages.
MAX_PACK_MESSAGES: Final = 9
#: Pack header: type/version byte, single-message size, message count.
PACK_HEADER_SIZE: Final = 3
#: The largest message pack in bytes (header + 9 messages).
MAX_PACK_SIZE: Final = PACK_HEADER_SIZE + MAX_PACK_MESSAGES * MESSAGE_SIZE

#: Protocol versions this codec reads and writes: 0 = F3411-19, 1 = EN 4709-002 / F3411-22
#: draft, 2 = F3411-22a.
SUPPORTED_VERSIONS: Final = frozenset({0, 1, 2})
#: The version :func:`~dronewatch.protocols.astm.encode` writes unless a message says otherwise.
DEFAULT_VERSION: Final = 2

#: Remote ID "application code" that precedes the message counter (BLE service data, Wi-Fi
#: vendor element OUI type).
ODID_APP_CODE: Final = 0x0D
#: BLE: 16-bit service UUID of the ASTM Remote ID service data AD structure (AD type 0x16).
BLE_SERVICE_UUID: Final = 0xFFFA
#: BLE AD type "Service Data - 16-bit UUID".
BLE_AD_TYPE_SERVICE_DATA: Final = 0x16
#: Wi-Fi beacon: vendor-specific element (ID 221) OUI of ASD-STAN / ASTM Remote ID.
WIFI_BEACON_OUI: Final = bytes.fromhex("fa0bbc")
#: Wi-Fi beacon: the OUI the same element (type 0x0D, counter, message or pack) was sent
#: under before ASD-STAN's was assigned: 90:3A:E6 (registered to Parrot), used by 2021 ESP32
#: transmitter firmware still flying; the opendroneid Wireshark dissector accepts both.
WIFI_BEACON_OUI_PRESTANDARD: Final = bytes.fromhex("903ae6")
#: Wi-Fi beacon: the vendor element OUI type that follows the OUI.
WIFI_BEACON_OUI_TYPE: Final = ODID_APP_CODE
#: Wi-Fi NAN: service ID = first 6 bytes of SHA-256("org.opendroneid.remoteid").
WIFI_NAN_SERVICE_ID: Final = bytes.fromhex("8869199d9209")

#: Seconds from the Unix epoch to 2019-01-01T00:00:00Z, the epoch of the System and
#: Authentication timestamps.
ODID_EPOCH: Final = 1546300800

#: Authentication data bytes carried by page 0 and by pages 1..15.
AUTH_PAGE0_DATA_SIZE: Final = 17
AUTH_PAGE_DATA_SIZE: Final = 23
AUTH_MAX_PAGES: Final = 16

#: Text field widths.
ID_SIZE: Final = 20  # Basic ID uas_id, Operator ID operator_id
STR_SIZE: Final = 23  # Self-ID description
