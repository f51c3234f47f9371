"""Compiled link-layer scanning of whole captures: the fast path of :mod:`.link`.

The parsers in :mod:`.wifi` and :mod:`.ble` are the reference: pure Python, one packet at a
time, with a reason for every packet they refuse. Decoding a large capture with them costs a
few microseconds per packet, most of it interpreter overhead, so captures are first scanned
by numba kernels (:mod:`.wifi_scan`, :mod:`.ble_scan`) that handle the well-formed common
case and write one row per drone frame into integer and float columns. Whatever a kernel is
not sure of (an error, an unusual layout, a link type it does not know) it hands back as
``FALLBACK``, and the reference parser reads that packet: errors and their reasons always
come from the reference. Tests check that both agree on every packet a kernel accepts.

Per-packet kernel contract (numba ``njit`` functions)::

    scan_xxx(buf: uint8[:], start: int64, end: int64,
             ints: int64[:, N_INT], floats: float64[:, N_FLOAT], k: int64) -> int64

reads the packet ``buf[start:end]`` and returns the number of frames it wrote to rows
``k, k+1, ...`` (at most :data:`MAX_FRAMES_PER_PACKET`), or ``NOT_MINE`` (a well-formed
packet without a drone payload: the reference would raise ``NotMine``), or ``FALLBACK``.
"""

from __future__ import annotations

from typing import Final

from dronewatch.model import FrameKind, Transport

# Kernel return values besides a frame count.
NOT_MINE: Final = -1
FALLBACK: Final = -2

#: A packet with more drone frames than this is left to the reference parser.
MAX_FRAMES_PER_PACKET: Final = 8

# Integer columns of a frame row (-1: absent).
C_PACKET: Final = 0  # index of the packet in the scanned batch (set by the caller)
C_TRANSPORT: Final = 1  # index into TRANSPORTS
C_PAYLOAD_START: Final = 2  # payload = buf[start:end], absolute offsets into buf
C_PAYLOAD_END: Final = 3
C_SOURCE: Final = 4  # offset of the 6 address bytes, or -1
C_SOURCE_REVERSED: Final = 5  # 1: the address is sent little-endian (Bluetooth)
C_CHANNEL: Final = 6  # channel number, or -1
C_COUNTER: Final = 7  # Remote ID message counter, or -1
C_ADDRESS: Final = 8  # the source address as a 48-bit integer (filled by the driver, not kernels)
C_KIND: Final = 9  # index into FRAME_KINDS
C_LINK_SEQ: Final = 10  # 802.11 sequence number of an individually addressed frame, or -1
C_LINK_RETRY: Final = 11  # 1: the 802.11 retry flag is set
N_INT: Final = 12

# Float columns (NaN: absent).
F_RSSI: Final = 0  # dBm
F_FREQUENCY: Final = 1  # Hz
N_FLOAT: Final = 2

#: Transport by its code in ``C_TRANSPORT``.
TRANSPORTS: Final = (
    Transport.WIFI_BEACON,
    Transport.WIFI_NAN,
    Transport.BLE_LEGACY,
    Transport.BLE_LONG_RANGE,
    Transport.DJI_WIFI,
    Transport.FR_BEACON,
)
T_WIFI_BEACON: Final = 0
T_WIFI_NAN: Final = 1
T_BLE_LEGACY: Final = 2
T_BLE_LONG_RANGE: Final = 3
T_DJI_WIFI: Final = 4
T_FR_BEACON: Final = 5

#: Frame kind (its JSON text) by its code in ``C_KIND``.
FRAME_KINDS: Final = (
    FrameKind.BEACON.value,
    FrameKind.PROBE_RESPONSE.value,
    FrameKind.ACTION.value,
    FrameKind.ADVERT.value,
    FrameKind.AUX_ADVERT.value,
)
K_BEACON: Final = 0
K_PROBE_RESPONSE: Final = 1
K_ACTION: Final = 2
K_ADVERT: Final = 3
K_AUX_ADVERT: Final = 4
