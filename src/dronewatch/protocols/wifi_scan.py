"""Compiled scan of 802.11 packets: the fast path of :mod:`.wifi` (see :mod:`.link_scan`).

:func:`scan_radiotap` (link type 127) and :func:`scan_80211` (link type 105) follow the
per-packet kernel contract of :mod:`.link_scan`. They mirror, step by step,
:func:`.wifi.frames_from_radiotap` / :func:`.wifi.frames_from_80211` and the helpers behind
them (``_rt_layout``, ``_walk_elements``, ``_nan_service_info``): a frame count means the
reference returns exactly those frames, ``NOT_MINE`` that it raises ``NotMine``; everything
it treats as an error (and a few odd layouts) is ``FALLBACK``.

Compilation choices, each worth a factor in speed or correctness:

* The tables the kernels read from :mod:`.wifi` (vendor elements, NAN identifiers, radiotap
  field layout) are built from it at import and reach the kernels through the closure of
  :func:`_make_kernels`, so a format added there is one line in :mod:`.wifi` only.
* The pieces are inlined into the two kernels (``inline="always"``): numba's atomic
  reference counting of the array arguments at every call boundary cost ~150 ns a packet,
  six times the work itself.
* Bytes are read as int64 (:func:`_byte`): numba widens uint8 arithmetic to uint64, and
  uint64 mixed with int64 becomes float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from dronewatch.jit import njit
from dronewatch.protocols import wifi
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
    K_ACTION,
    K_BEACON,
    K_PROBE_RESPONSE,
    MAX_FRAMES_PER_PACKET,
    N_FLOAT,
    N_INT,
    NOT_MINE,
    T_WIFI_NAN,
    TRANSPORTS,
)

__all__ = ["ScanKernel", "WifiTables", "scan_80211", "scan_radiotap", "wifi_tables"]

# IEEE 802.11 numbers, shared with the reference parser.
SUBTYPE_PROBE_RESP = wifi.SUBTYPE_PROBE_RESP
SUBTYPE_BEACON = wifi.SUBTYPE_BEACON
SUBTYPE_ACTION = wifi.SUBTYPE_ACTION
SUBTYPE_ACTION_NOACK = wifi.SUBTYPE_ACTION_NOACK
ELEMENT_VENDOR = wifi.ELEMENT_VENDOR
NAN_ATTR_SDA = wifi.NAN_ATTR_SDA
NAN_SC_BINDING = wifi.NAN_SC_BINDING
NAN_SC_MATCH = wifi.NAN_SC_MATCH
NAN_SC_SRF = wifi.NAN_SC_SRF
NAN_SC_INFO = wifi.NAN_SC_INFO
RT_FLAG_FCS = wifi.RT_FLAG_FCS
RT_FLAG_BAD_FCS = wifi.RT_FLAG_BAD_FCS
RT_EXT = wifi.RT_EXT
FC1_RETRY = wifi.FC1_RETRY
# radiotap present bits whose offsets the reference keeps (its ``found[1]``, ``[3]``, ``[5]``)
_RT_BIT_FLAGS = 1
_RT_BIT_CHANNEL = 3
_RT_BIT_SIGNAL = 5
_FCS_LEN = 4


class WifiTables(NamedTuple):
    """The data of :mod:`.wifi` the kernels need, as tuples of ints.

    Tuples of ints rather than arrays: numba folds them into the code as constants.
    """

    vendor_oui: tuple[int, ...]  # OUI as a 24-bit big-endian integer
    vendor_transport: tuple[int, ...]  # code in link_scan.TRANSPORTS
    vendor_oui_type: tuple[int, ...]  # OUI type, or -1 when the element has none
    nan_header: tuple[int, ...]  # public action, vendor specific, Wi-Fi Alliance OUI, NAN type
    nan_service_id: tuple[int, ...]
    rt_align: tuple[int, ...]  # radiotap fields up to dBm antenna signal
    rt_size: tuple[int, ...]
    # The int constants of this module (column numbers, IEEE 802.11 numbers), which numba
    # compiles in: unused by the kernels, here so that a change in them changes the cache key.
    module_constants: tuple[int, ...]


def wifi_tables() -> WifiTables:
    """:class:`WifiTables` built from the current contents of :mod:`.wifi`."""
    elements = wifi.VENDOR_ELEMENTS.items()
    return WifiTables(
        tuple(int.from_bytes(oui, "big") for oui, _ in elements),
        tuple(TRANSPORTS.index(transport) for _, (transport, _) in elements),
        tuple(-1 if oui_type is None else oui_type for _, (_, oui_type) in elements),
        tuple(bytes((4, 9)) + wifi.OUI_WFA + bytes((wifi.NAN_OUI_TYPE,))),
        tuple(wifi.NAN_SERVICE_ID),
        tuple(align for align, _ in wifi.RT_FIELDS),
        tuple(size for _, size in wifi.RT_FIELDS),
        tuple(value for _, value in sorted(globals().items()) if type(value) is int),
    )


# --- kernel pieces (inlined into the kernels; every read is checked against the packet end) --


_channel_from_mhz = njit(inline="always")(wifi.channel_from_mhz)  # the reference's own


@njit(inline="always")
def _byte(buf: NDArray[np.uint8], i: int) -> int:
    """``buf[i]`` as an int64 (see the module doc)."""
    return int(np.int64(buf[i]))


@njit(inline="always")
def _u16(buf: NDArray[np.uint8], i: int) -> int:
    return _byte(buf, i) | _byte(buf, i + 1) << 8


@njit(inline="always")
def _u32(buf: NDArray[np.uint8], i: int) -> int:
    return _u16(buf, i) | _u16(buf, i + 2) << 16


@njit(inline="always")
def _matches(buf: NDArray[np.uint8], i: int, limit: int, pattern: tuple[int, ...]) -> bool:
    """``buf[i:i + len(pattern)] == pattern`` where the slice stops at ``limit`` (as in Python)."""
    size = len(pattern)
    if i + size > limit:
        return False
    j = 0
    while j < size and buf[i + j] == pattern[j]:
        j += 1
    return j == size


@njit(inline="always")
def _put_frame(
    ints: NDArray[np.int64],
    row: int,
    transport: int,
    counter: int,
    payload_start: int,
    payload_end: int,
) -> None:
    ints[row, C_TRANSPORT] = transport
    ints[row, C_COUNTER] = counter
    ints[row, C_PAYLOAD_START] = payload_start
    ints[row, C_PAYLOAD_END] = payload_end


@njit(inline="always")
def _walk_elements(
    buf: NDArray[np.uint8],
    p: int,
    end: int,
    packet_end: int,
    ints: NDArray[np.int64],
    k: int,
    rows: int,
    tables: WifiTables,
) -> int:
    """``wifi._walk_elements``: frames written from row ``k`` (at most ``rows``), or FALLBACK."""
    n = 0
    while p + 2 <= end:
        eid = buf[p]
        q = p + 2
        p = q + _byte(buf, p + 1)
        # The reference reads the OUI as data[q:q+3], bounded by the packet (FCS included),
        # not by the element or the frame.
        if eid != ELEMENT_VENDOR or q + 3 > packet_end:
            continue
        oui = _byte(buf, q) << 16 | _byte(buf, q + 1) << 8 | _byte(buf, q + 2)  # big-endian
        kind = -1
        for i in range(len(tables.vendor_oui)):
            if tables.vendor_oui[i] == oui:
                kind = i
                break
        if kind < 0:
            continue
        oui_type = tables.vendor_oui_type[kind]
        if p > end:
            # A Remote ID element cut by the end of the frame gives its payload up to the
            # end, as in the reference; any other cut element is an error (its reasons come
            # from the reference).
            if oui_type >= 0 and end - q >= 5 and buf[q + 3] == oui_type and n < rows:
                _put_frame(ints, k + n, tables.vendor_transport[kind], _byte(buf, q + 4),
                           q + 5, end)
                return n + 1
            return FALLBACK
        if oui_type < 0:
            if q + 3 > p:
                # an element shorter than its OUI: the reference matched bytes past it and
                # returns an empty payload; too odd to copy
                return FALLBACK
            if n == rows:
                return FALLBACK
            _put_frame(ints, k + n, tables.vendor_transport[kind], -1, q + 3, p)
            n += 1
        elif p - q >= 4 and buf[q + 3] == oui_type:
            if p - q < 6 or n == rows:
                return FALLBACK
            _put_frame(ints, k + n, tables.vendor_transport[kind], _byte(buf, q + 4), q + 5, p)
            n += 1
    return n


@njit(inline="always")
def _nan_service_info(
    buf: NDArray[np.uint8],
    p: int,
    end: int,
    packet_end: int,
    ints: NDArray[np.int64],
    k: int,
    rows: int,
    tables: WifiTables,
) -> int:
    """``wifi._nan_service_info``: frames written from row ``k`` (at most ``rows``), or FALLBACK."""
    if end - p < 6 or not _matches(buf, p, end, tables.nan_header):
        return 0
    n = 0
    p += 6
    while p + 3 <= end:
        aid = buf[p]
        q = p + 3
        p = q + _u16(buf, p + 1)
        # data[q:q+6] in the reference: bounded by the packet, not the attribute
        if aid != NAN_ATTR_SDA or not _matches(buf, q, packet_end, tables.nan_service_id):
            continue
        if p > end:
            p = end  # cut by the end of the frame: read what is there, as the reference
        if p - q < 9:
            return FALLBACK
        control = buf[q + 8]
        r = q + 9
        if control & NAN_SC_BINDING:
            r += 2
        if control & NAN_SC_MATCH:
            if r >= p:
                return FALLBACK
            r += 1 + _byte(buf, r)
        if control & NAN_SC_SRF:
            if r >= p:
                return FALLBACK
            r += 1 + _byte(buf, r)
        if not control & NAN_SC_INFO:
            continue
        if r + 2 > p or buf[r] == 0 or n == rows:
            return FALLBACK
        # service info: length, counter, message or pack (cut at the attribute end)
        _put_frame(ints, k + n, T_WIFI_NAN, _byte(buf, r + 1), r + 2,
                   min(r + 1 + _byte(buf, r), p))
        n += 1
    return n


@njit(inline="always")
def _room(buf: NDArray[np.uint8], start: int, end: int, ints: NDArray[np.int64],
          floats: NDArray[np.float64], k: int) -> int:
    """Rows the kernel may write from ``k`` (-1: bad arguments)."""
    if start < 0 or end < start or end > buf.shape[0] or k < 0:
        return -1
    if ints.shape[1] < N_INT or floats.shape[1] < N_FLOAT:
        return -1
    return min(MAX_FRAMES_PER_PACKET, int(ints.shape[0]) - k, int(floats.shape[0]) - k)


@njit(inline="always")
def _scan_mac(
    buf: NDArray[np.uint8],
    start: int,
    end: int,
    packet_end: int,
    rssi: float,
    channel: int,
    frequency: float,
    ints: NDArray[np.int64],
    floats: NDArray[np.float64],
    k: int,
    tables: WifiTables,
) -> int:
    """``wifi.frames_from_80211`` on ``buf[start:end]``; ``packet_end`` bounds what it may read."""
    rows = _room(buf, start, packet_end, ints, floats, k)
    if rows < 0 or end > packet_end:
        return FALLBACK
    if end - start < 24:
        if end - start >= 1 and buf[start] & 0x0C:
            return NOT_MINE
        return FALLBACK
    fc0 = _byte(buf, start)
    fc1 = _byte(buf, start + 1)
    if fc0 & 0x0C or fc1 & 0x40:  # not management, or protected
        return NOT_MINE
    subtype = fc0 >> 4
    hdr = start + (28 if fc1 & 0x80 else 24)  # +HTC
    if subtype in (SUBTYPE_BEACON, SUBTYPE_PROBE_RESP):
        n = _walk_elements(buf, hdr + 12, end, packet_end, ints, k, rows, tables)
        kind = K_BEACON if subtype == SUBTYPE_BEACON else K_PROBE_RESPONSE
    elif subtype in (SUBTYPE_ACTION, SUBTYPE_ACTION_NOACK):
        n = _nan_service_info(buf, hdr, end, packet_end, ints, k, rows, tables)
        kind = K_ACTION
    else:
        return NOT_MINE
    if n == 0:
        return NOT_MINE
    seq = -1
    retry = 0
    if not buf[start + 4] & 1:  # individually addressed: acknowledged, so maybe retried
        seq = _u16(buf, start + 22) >> 4
        retry = 1 if fc1 & FC1_RETRY else 0
    for row in range(k, k + n):  # n == FALLBACK skips this
        ints[row, C_SOURCE] = start + 10
        ints[row, C_SOURCE_REVERSED] = 0
        ints[row, C_CHANNEL] = channel
        ints[row, C_KIND] = kind
        ints[row, C_LINK_SEQ] = seq
        ints[row, C_LINK_RETRY] = retry
        floats[row, F_RSSI] = rssi
        floats[row, F_FREQUENCY] = frequency
    return n


@njit(inline="always")
def _scan_radiotap(
    buf: NDArray[np.uint8],
    start: int,
    end: int,
    ints: NDArray[np.int64],
    floats: NDArray[np.float64],
    k: int,
    tables: WifiTables,
) -> int:
    """``wifi.frames_from_radiotap`` (with ``wifi._rt_layout``) on ``buf[start:end]``."""
    if _room(buf, start, end, ints, floats, k) < 0:
        return FALLBACK
    size = end - start
    if size < 8:
        return FALLBACK
    if buf[start] != 0:
        return NOT_MINE
    hlen = _u16(buf, start + 2)
    if hlen < 8:
        return FALLBACK
    present = _u32(buf, start + 4)
    words = 1
    word = present
    while word & RT_EXT:
        if 4 + 4 * (words + 1) > min(hlen, size):
            return FALLBACK
        word = _u32(buf, start + 4 + 4 * words)
        words += 1
    off = 4 + 4 * words
    flags_off = channel_off = signal_off = -1
    for bit in range(len(tables.rt_align)):
        if present >> bit & 1:
            align = tables.rt_align[bit]
            off = (off + align - 1) & -align
            if off + tables.rt_size[bit] <= hlen:
                if bit == _RT_BIT_FLAGS:
                    flags_off = off
                elif bit == _RT_BIT_CHANNEL:
                    channel_off = off
                elif bit == _RT_BIT_SIGNAL:
                    signal_off = off
            off += tables.rt_size[bit]
    if hlen > size:
        return FALLBACK
    # every field offset found is within the header, itself within the packet
    frame_end = end
    if flags_off >= 0:
        flags = buf[start + flags_off]
        if flags & RT_FLAG_BAD_FCS:
            return FALLBACK
        if flags & RT_FLAG_FCS:
            frame_end -= _FCS_LEN
    channel = -1
    frequency = np.nan
    if channel_off >= 0:
        mhz = _u16(buf, start + channel_off)
        if mhz:
            number = _channel_from_mhz(mhz)
            if number is not None:
                channel = number
            frequency = mhz * 1e6
    rssi = np.nan
    if signal_off >= 0:
        signal = _byte(buf, start + signal_off)
        rssi = float(signal - 256 if signal > 127 else signal)
    return _scan_mac(
        buf, start + hlen, frame_end, end, rssi, channel, frequency, ints, floats, k, tables
    )


ScanKernel = Callable[
    [NDArray[np.uint8], int, int, NDArray[np.int64], NDArray[np.float64], int], int
]


def _make_kernels(tables: WifiTables) -> tuple[ScanKernel, ScanKernel]:
    """The two link-scan kernels, with ``tables`` bound in their closure (see module doc)."""

    @njit()
    def scan_radiotap(
        buf: NDArray[np.uint8],
        start: int,
        end: int,
        ints: NDArray[np.int64],
        floats: NDArray[np.float64],
        k: int,
    ) -> int:
        """Frames of the radiotap + 802.11 packet ``buf[start:end]`` (link type 127)."""
        return _scan_radiotap(buf, start, end, ints, floats, k, tables)

    @njit()
    def scan_80211(
        buf: NDArray[np.uint8],
        start: int,
        end: int,
        ints: NDArray[np.int64],
        floats: NDArray[np.float64],
        k: int,
    ) -> int:
        """Frames of the plain 802.11 packet ``buf[start:end]`` (link type 105)."""
        return _scan_mac(buf, start, end, end, np.nan, -1, np.nan, ints, floats, k, tables)

    return scan_radiotap, scan_80211


scan_radiotap, scan_80211 = _make_kernels(wifi_tables())
