"""Frames of a batch of captured packets: the compiled scan, rows turned into frames.

:func:`scan_batch` runs the link-layer kernels of :mod:`.wifi_scan` and :mod:`.ble_scan`
(contract in :mod:`.link_scan`) over many packets of one buffer in a single call and returns,
per packet, how many frames it found, ``NOT_MINE`` or ``FALLBACK``, plus the frames
themselves, built in bulk. The caller reads the ``FALLBACK`` packets with the reference
parsers (:func:`.link.frames_from_packet`), which also name what is wrong with a packet.
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np
import numpy.typing as npt

from dronewatch.jit import njit
from dronewatch.model import Frame
from dronewatch.protocols import ble, ble_scan, wifi, wifi_scan
from dronewatch.protocols.link_scan import (
    C_ADDRESS,
    C_CHANNEL,
    C_COUNTER,
    C_KIND,
    C_LINK_RETRY,
    C_LINK_SEQ,
    C_PACKET,
    C_PAYLOAD_END,
    C_PAYLOAD_START,
    C_SOURCE,
    C_SOURCE_REVERSED,
    C_TRANSPORT,
    F_FREQUENCY,
    F_RSSI,
    FALLBACK,
    FRAME_KINDS,
    MAX_FRAMES_PER_PACKET,
    N_FLOAT,
    N_INT,
    TRANSPORTS,
)

__all__ = ["scan_batch"]

_RADIOTAP = wifi.LINKTYPE_IEEE802_11_RADIOTAP
_IEEE802_11 = wifi.LINKTYPE_IEEE802_11
_NORDIC = ble.LINKTYPE_NORDIC_BLE
_LL_PHDR = ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR
_LL = ble.LINKTYPE_BLUETOOTH_LE_LL
_scan_radiotap = wifi_scan.scan_radiotap
_scan_80211 = wifi_scan.scan_80211
_scan_nordic = ble_scan.scan_nordic
_scan_ll_phdr = ble_scan.scan_ll_phdr
_scan_ll = ble_scan.scan_ll


@njit()
def _scan(
    buf: Any,
    offsets: Any,
    lengths: Any,
    linktypes: Any,
    status: Any,
    ints: Any,
    floats: Any,
) -> tuple[int, int]:
    """Scan packets in order until done or the rows are full: (packets done, rows written)."""
    k = 0
    rows = ints.shape[0]
    size = buf.shape[0]
    for i in range(offsets.shape[0]):
        if k + MAX_FRAMES_PER_PACKET > rows:
            return i, k
        start = offsets[i]
        end = start + lengths[i]
        if start < 0 or end > size or end < start:
            status[i] = FALLBACK
            continue
        lt = linktypes[i]
        if lt == _RADIOTAP:
            n = _scan_radiotap(buf, start, end, ints, floats, k)
        elif lt == _NORDIC:
            n = _scan_nordic(buf, start, end, ints, floats, k)
        elif lt == _LL_PHDR:
            n = _scan_ll_phdr(buf, start, end, ints, floats, k)
        elif lt == _IEEE802_11:
            n = _scan_80211(buf, start, end, ints, floats, k)
        elif lt == _LL:
            n = _scan_ll(buf, start, end, ints, floats, k)
        else:
            n = FALLBACK
        status[i] = n
        for j in range(k, k + max(n, 0)):
            ints[j, C_PACKET] = i
            s = ints[j, C_SOURCE]
            if s < 0:
                ints[j, C_ADDRESS] = -1
                continue
            address = 0
            if ints[j, C_SOURCE_REVERSED]:
                for b in range(5, -1, -1):
                    address = address << 8 | buf[s + b]
            else:
                for b in range(6):
                    address = address << 8 | buf[s + b]
            ints[j, C_ADDRESS] = address
        if n > 0:
            k += n
    return offsets.shape[0], k


# Address texts by 48-bit value: a capture holds few transmitters, each in many frames.
_ADDRESS_TEXT: dict[int, str | None] = {-1: None}
_ADDRESS_TEXT_MAX = 65536


def _address_text(address: int) -> str | None:
    text = _ADDRESS_TEXT.get(address)
    if text is None and address >= 0:
        if len(_ADDRESS_TEXT) >= _ADDRESS_TEXT_MAX:
            _ADDRESS_TEXT.clear()
            _ADDRESS_TEXT[-1] = None
        text = _ADDRESS_TEXT[address] = address.to_bytes(6, "big").hex(":")
    return text


def scan_batch(
    buf: bytes | mmap.mmap,
    view: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    times: list[float],
    linktypes: npt.NDArray[np.int64],
    sensor_id: str = "local",
) -> tuple[npt.NDArray[np.int64], list[Frame]]:
    """(per-packet status, frames in packet order) of the packets ``buf[offsets[i]:...]``.

    ``view`` is ``buf`` as a uint8 array (shared, not copied); ``times`` the packets' capture
    times. A status is the packet's number of frames, ``NOT_MINE`` or ``FALLBACK``.
    """
    n = len(offsets)
    status = np.empty(n, np.int64)
    frames: list[Frame] = []
    done = 0
    # Rows for one frame per packet on average; a fuller batch is scanned in several calls.
    capacity = n + MAX_FRAMES_PER_PACKET
    ints = np.empty((capacity, N_INT), np.int64)
    floats = np.empty((capacity, N_FLOAT), np.float64)
    while done < n:
        end, m = _scan(
            view,
            offsets[done:],
            lengths[done:],
            linktypes[done:],
            status[done:],
            ints,
            floats,
        )
        if m:
            frames += _frames_from_rows(buf, ints[:m], floats[:m], times[done:end], sensor_id)
        done += end
    return status, frames


def _frames_from_rows(
    buf: bytes | mmap.mmap,
    ints: npt.NDArray[np.int64],
    floats: npt.NDArray[np.float64],
    times: list[float],
    sensor_id: str,
) -> list[Frame]:
    col = ints.T.tolist()
    fcol = floats.T.tolist()
    transports = TRANSPORTS
    kinds = FRAME_KINDS
    address_text = _ADDRESS_TEXT.get
    # One pass over the columns; -1 and NaN mean absent (None).
    return [
        Frame(
            buf[start:end],
            times[packet],
            transports[transport],
            address_text(address) or _address_text(address),
            None if rssi != rssi else rssi,
            None if channel < 0 else channel,
            None if frequency != frequency else frequency,
            sensor_id,
            None if counter < 0 else counter,
            None,
            kinds[kind],
            None if seq < 0 else seq,
            retry == 1,
        )
        for (packet, transport, start, end, address, channel, counter, kind, seq, retry, rssi,
             frequency) in zip(
            col[C_PACKET],
            col[C_TRANSPORT],
            col[C_PAYLOAD_START],
            col[C_PAYLOAD_END],
            col[C_ADDRESS],
            col[C_CHANNEL],
            col[C_COUNTER],
            col[C_KIND],
            col[C_LINK_SEQ],
            col[C_LINK_RETRY],
            fcol[F_RSSI],
            fcol[F_FREQUENCY],
            strict=True,
        )
    ]
