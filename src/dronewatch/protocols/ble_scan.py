"""Compiled scanning of Bluetooth LE packets for Remote ID adverts (see :mod:`.link_scan`).

The kernels mirror the reference parsers of :mod:`.ble` rule for rule:

* :func:`scan_nordic` - :func:`~.ble.frames_from_nordic` (``LINKTYPE_NORDIC_BLE``, 272);
* :func:`scan_ll_phdr` - :func:`~.ble.frames_from_ll_phdr` (``..._LE_LL_WITH_PHDR``, 256);
* :func:`scan_ll` - :func:`~.ble.frames_from_ll` (``LINKTYPE_BLUETOOTH_LE_LL``, 251).

Each writes at most one frame row; wherever the reference raises ``NotMine`` they return
``NOT_MINE``, wherever it raises ``Truncated`` or ``Corrupt`` they return ``FALLBACK`` so
that the reference reads the packet again and reports the reason.

The three are one function body specialised by link type (:func:`_make_kernel`) rather
than link headers calling a shared PDU scanner: numba increfs and decrefs every array
passed to a call it cannot prune, which cost more than the scan itself.

Constants are compiled in: numba's cache is keyed on this file only, so after changing a
constant in :mod:`.ble` or :mod:`.link_scan` touch this file (or clear ``__pycache__``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from dronewatch.jit import njit
from dronewatch.protocols.ble import (
    AD_SERVICE_DATA_16,
    ADV_ACCESS_ADDRESS,
    ADV_EXT,
    ADV_IND,
    ADV_NONCONN_IND,
    ADV_SCAN_IND,
    ASTM_APP_CODE,
    ASTM_UUID,
    CRC_INIT_ADV,
    CRC_TABLE,
    LINKTYPE_BLUETOOTH_LE_LL,
    LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR,
    LINKTYPE_NORDIC_BLE,
    PHDR_CRC_CHECKED,
    PHDR_CRC_VALID,
    PHDR_PHY_SHIFT,
    PHDR_SIGNAL_VALID,
    PHY_CODED,
    channel_mhz,
    rf_to_index,
)
from dronewatch.protocols.link_scan import (
    C_CHANNEL,
    C_COUNTER,
    C_KIND,
    C_LINK_RETRY,
    C_LINK_SEQ,
    C_PAYLOAD_END,
    C_PAYLOAD_START,
    C_SOURCE,
    C_SOURCE_REVERSED,
    C_TRANSPORT,
    F_FREQUENCY,
    F_RSSI,
    FALLBACK,
    K_ADVERT,
    K_AUX_ADVERT,
    N_FLOAT,
    N_INT,
    NOT_MINE,
    T_BLE_LEGACY,
    T_BLE_LONG_RANGE,
)

__all__ = ["ScanKernel", "scan_ll", "scan_ll_phdr", "scan_nordic"]

ScanKernel = Callable[
    [NDArray[np.uint8], int, int, NDArray[np.int64], NDArray[np.float64], int], int
]

# Access address bytes as sent (little-endian).
_AA0 = ADV_ACCESS_ADDRESS & 0xFF
_AA1 = (ADV_ACCESS_ADDRESS >> 8) & 0xFF
_AA2 = (ADV_ACCESS_ADDRESS >> 16) & 0xFF
_AA3 = ADV_ACCESS_ADDRESS >> 24
_UUID_LO = ASTM_UUID & 0xFF
_UUID_HI = ASTM_UUID >> 8
_EXT_ADVA = 0x01
_EXT_HEADER_LEN_MASK = 0x3F
_NORDIC_LEGACY_HEADER_LEN = 17  # 0.9.7 (BE EF) header; also the shortest versioned one
_PHDR_LEN = 10

_CRC_TABLE_I64 = np.array(CRC_TABLE, dtype=np.int64)
_CHANNEL_HZ_TABLE = np.array([channel_mhz(i) * 1e6 for i in range(40)], dtype=np.float64)


@njit(inline="always")
def _byte(buf: NDArray[np.uint8], i: int) -> int:
    """``buf[i]`` as an int64: numba keeps ``int(buf[i])`` a uint8, whose negation wraps."""
    return int(np.int64(buf[i]))


@njit()
def _channel_hz(channel: int) -> float:
    """``ble._CHANNEL_HZ.get(channel)``, NaN for None."""
    if 0 <= channel < 40:
        return float(_CHANNEL_HZ_TABLE[channel])
    return math.nan


_rf_to_index = njit()(rf_to_index)  # the reference's own function, compiled


def _make_kernel(link_type: int) -> ScanKernel:
    """The kernel of the BLE ``link_type``: 272, 256, or else 251 (plain LE LL)."""
    nordic = link_type == LINKTYPE_NORDIC_BLE
    phdr = link_type == LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR

    @njit()
    def kernel(
        buf: NDArray[np.uint8],
        start: int,
        end: int,
        ints: NDArray[np.int64],
        floats: NDArray[np.float64],
        k: int,
    ) -> int:
        if not (
            0 <= start <= end <= buf.shape[0]
            and 0 <= k < ints.shape[0]
            and k < floats.shape[0]
            and ints.shape[1] >= N_INT
            and floats.shape[1] >= N_FLOAT
        ):
            return FALLBACK

        # --- link header (frames_from_nordic, frames_from_ll_phdr, frames_from_ll)
        p = start
        rssi = math.nan
        channel = -1
        coded = False
        check_crc = True
        if nordic:
            if end - start < _NORDIC_LEGACY_HEADER_LEN:
                return FALLBACK
            if buf[start] == 0xBE and buf[start + 1] == 0xEF:
                p = start + _NORDIC_LEGACY_HEADER_LEN
            else:
                version = buf[start + 3]
                if version < 1 or version > 3:
                    return NOT_MINE
                header_len = _byte(buf, start + 7)
                if header_len < 10:
                    return FALLBACK
                p = start + 7 + header_len
            flags = buf[start + 8]
            if not flags & 1:  # CRC failed at capture
                return FALLBACK
            channel = _byte(buf, start + 9)
            # float(-raw) as the reference computes it: an integer negation, 0 gives +0.0
            rssi = float(-_byte(buf, start + 10))
            coded = (flags >> 4) & 7 == PHY_CODED
            check_crc = False
        elif phdr:
            if end - start < _PHDR_LEN:
                return FALLBACK
            phdr_flags = _byte(buf, start + 8) | _byte(buf, start + 9) << 8
            crc_checked = (phdr_flags & PHDR_CRC_CHECKED) != 0
            if crc_checked and not phdr_flags & PHDR_CRC_VALID:
                return FALLBACK
            if phdr_flags & PHDR_SIGNAL_VALID:
                signal = _byte(buf, start + 1)
                rssi = float(signal - 256 if signal > 127 else signal)
            rf = _byte(buf, start)
            if rf < 40:
                channel = _rf_to_index(rf)
            coded = phdr_flags >> PHDR_PHY_SHIFT == PHY_CODED
            check_crc = not crc_checked
            p = start + _PHDR_LEN

        # --- LE packet: access address, [CI], PDU, CRC (_pdu_frames)
        if end - p < 9:
            return FALLBACK
        if buf[p] != _AA0 or buf[p + 1] != _AA1 or buf[p + 2] != _AA2 or buf[p + 3] != _AA3:
            return NOT_MINE
        p += 5 if coded else 4
        pdu_type = buf[p] & 0x0F
        pdu = p + 2
        pend = pdu + _byte(buf, p + 1)
        if pend + 3 > end:
            return FALLBACK
        if check_crc:
            crc = CRC_INIT_ADV
            for i in range(p, pend):
                crc = (crc >> 8) ^ _CRC_TABLE_I64[(crc ^ _byte(buf, i)) & 0xFF]
            if (
                buf[pend] != crc & 0xFF
                or buf[pend + 1] != (crc >> 8) & 0xFF
                or buf[pend + 2] != (crc >> 16) & 0xFF
            ):
                return FALLBACK

        # --- advertising PDU: address and AD data (_adv_frames)
        if pdu_type in (ADV_IND, ADV_NONCONN_IND, ADV_SCAN_IND):
            if pend - pdu < 6:
                return FALLBACK
            source = pdu
            ad = pdu + 6
            transport = T_BLE_LEGACY
            kind = K_ADVERT
        elif pdu_type == ADV_EXT:
            if pend <= pdu:
                return FALLBACK
            ad = pdu + 1 + (_byte(buf, pdu) & _EXT_HEADER_LEN_MASK)
            if ad > pend:
                return FALLBACK
            source = -1
            if ad > pdu + 1 and buf[pdu + 1] & _EXT_ADVA:
                if ad < pdu + 8:
                    return FALLBACK
                source = pdu + 2
            transport = T_BLE_LONG_RANGE
            kind = K_AUX_ADVERT
        else:
            return NOT_MINE

        # --- Remote ID service data among the AD structures (_odid_service_data)
        uuid = -1  # offset of its UUID
        while ad + 1 < pend:
            ad_len = _byte(buf, ad)
            if ad_len == 0:
                break  # early termination of the AD data
            ad_type = buf[ad + 1]
            q = ad + 2
            ad += 1 + ad_len
            if ad_type != AD_SERVICE_DATA_16 or ad_len < 3:
                continue
            if ad > pend:
                if q + 1 < pend and buf[q] == _UUID_LO and buf[q + 1] == _UUID_HI:
                    if q + 3 < pend and buf[q + 2] == ASTM_APP_CODE:
                        uuid = q  # cut by the end of the PDU: its payload up to there
                        ad = pend
                        break
                    return FALLBACK  # Remote ID service data cut short
                break
            if buf[q] != _UUID_LO or buf[q + 1] != _UUID_HI:
                continue
            if ad_len >= 5 and buf[q + 2] == ASTM_APP_CODE:
                uuid = q
            break
        if uuid < 0:
            return NOT_MINE

        ints[k, C_TRANSPORT] = transport
        ints[k, C_PAYLOAD_START] = uuid + 4
        ints[k, C_PAYLOAD_END] = ad
        ints[k, C_SOURCE] = source
        ints[k, C_SOURCE_REVERSED] = 1
        ints[k, C_CHANNEL] = channel
        ints[k, C_COUNTER] = buf[uuid + 3]
        ints[k, C_KIND] = kind
        ints[k, C_LINK_SEQ] = -1
        ints[k, C_LINK_RETRY] = 0
        floats[k, F_RSSI] = rssi
        floats[k, F_FREQUENCY] = _channel_hz(channel)
        return 1

    return kernel


scan_nordic = _make_kernel(LINKTYPE_NORDIC_BLE)
scan_ll_phdr = _make_kernel(LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR)
scan_ll = _make_kernel(LINKTYPE_BLUETOOTH_LE_LL)
