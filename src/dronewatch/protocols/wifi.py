"""IEEE 802.11 framing of drone broadcasts: radiotap, beacons, probe responses and NAN.

Parsers (pure, ``bytes -> list[Frame]``):

* radiotap (``LINKTYPE_IEEE802_11_RADIOTAP``, 127): RSSI (dBm antenna signal), channel
  frequency -> channel number, FCS-present flag (the FCS is stripped), bad-FCS flag (the
  packet is dropped as :class:`~dronewatch.errors.Corrupt` ``bad-fcs``);
* plain 802.11 (``LINKTYPE_IEEE802_11``, 105) and PPI (``LINKTYPE_PPI``, 192, e.g. Kismet:
  the 802.11-Common field gives channel and RSSI);
* beacons and probe responses: the information elements are walked and vendor-specific
  elements (221) dispatched by OUI through :data:`VENDOR_ELEMENTS` (Remote ID under the
  ASD-STAN OUI FA:0B:BC and under 90:3A:E6, which transmitters used before it was
  assigned); a Remote ID element cut by the end of the frame still gives its payload, whose
  decoder reads the complete messages in it and counts the cut one;
* Wi-Fi NAN service discovery frames (public action, Wi-Fi Alliance OUI type 0x13) carrying
  the Remote ID service (service ID = SHA-256("org.opendroneid.remoteid")[:6]). NAN
  synchronisation beacons carry no Remote ID and are passed over.

Every frame says which 802.11 frame carried it (``frame_kind``: beacon, probe_response,
action) and, for individually addressed frames (the only ones the link layer retransmits),
its sequence number and retry flag (``link_seq``, ``link_retry``) so that streams can drop
retransmissions (:mod:`dronewatch.decode`).

Builders beside them produce the same framings (radiotap + beacon with SSID, rates, DS
parameter and vendor element; NAN service discovery action frames), so every parser has a
round-trip test.
"""

from __future__ import annotations

import contextlib
import math
import struct
import zlib
from collections.abc import Sequence

from dronewatch.errors import Corrupt, DecodeError, NotMine, Partial, Truncated
from dronewatch.model import Frame, FrameKind, Transport
from dronewatch.protocols.astm.constants import (
    WIFI_BEACON_OUI,
    WIFI_BEACON_OUI_PRESTANDARD,
    WIFI_BEACON_OUI_TYPE,
    WIFI_NAN_SERVICE_ID,
)

LINKTYPE_IEEE802_11 = 105
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_PPI = 192

OUI_ASTM = WIFI_BEACON_OUI  # ASD-STAN / ASTM F3411 Remote ID, OUI type 0x0D
OUI_ASTM_PRESTANDARD = WIFI_BEACON_OUI_PRESTANDARD  # the same element before the ASD-STAN OUI
ASTM_OUI_TYPE = WIFI_BEACON_OUI_TYPE
OUI_DJI = (b"\x26\x37\x12", b"\x60\x60\x1f", b"\x48\x1c\xb9", b"\x34\xd2\x62")
OUI_FR = b"\x6a\x5c\x35"  # French "signalement electronique" beacon
OUI_WFA = b"\x50\x6f\x9a"  # Wi-Fi Alliance
NAN_OUI_TYPE = 0x13
NAN_SERVICE_ID = WIFI_NAN_SERVICE_ID  # SHA-256("org.opendroneid.remoteid")[:6]
NAN_DESTINATION = b"\x51\x6f\x9a\x01\x00\x00"  # NAN network ID
NAN_CLUSTER_ID = b"\x50\x6f\x9a\x01\x00\xff"  # fixed by ASTM F3411-22

# 802.11 frame control: management type; subtypes we read.
SUBTYPE_PROBE_RESP = 5
SUBTYPE_BEACON = 8
SUBTYPE_ACTION = 13
SUBTYPE_ACTION_NOACK = 14
ELEMENT_VENDOR = 221

# NAN attributes
NAN_ATTR_SDA = 0x03
NAN_SC_BINDING = 0x40
NAN_SC_MATCH = 0x04
NAN_SC_SRF = 0x08
NAN_SC_INFO = 0x10

# radiotap flags
RT_FLAG_FCS = 0x10
RT_FLAG_BAD_FCS = 0x40

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from


def mac_text(raw: bytes) -> str:
    """``b"\\x84\\xcc..."`` -> ``"84:cc:..."``."""
    return raw.hex(":")


def mac_bytes(text: str) -> bytes:
    """``"84:cc:a8:60:43:24"`` (or with ``-``) -> 6 bytes; ``ValueError`` otherwise."""
    raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return raw


def channel_from_mhz(mhz: int) -> int | None:
    """IEEE 802.11 channel number of a centre frequency (2.4, 5 and 6 GHz bands)."""
    if mhz == 2484:
        return 14
    if 2412 <= mhz <= 2472:
        return (mhz - 2407) // 5
    if 5150 <= mhz <= 5925:
        return (mhz - 5000) // 5
    if 5955 <= mhz <= 7115:
        return (mhz - 5950) // 5
    return None


def mhz_from_channel(channel: int) -> int:
    """Centre frequency of a 2.4 GHz (1-14) or 5 GHz (32-177) channel number."""
    if channel == 14:
        return 2484
    if 1 <= channel <= 13:
        return 2407 + 5 * channel
    if 32 <= channel <= 177:
        return 5000 + 5 * channel
    raise ValueError(f"no 2.4/5 GHz channel {channel}")


# --- vendor element dispatch ----------------------------------------------------------------

# OUI -> (transport, OUI type). With an OUI type the element body is OUI, type, message
# counter, payload (ASTM F3411); without, the payload is everything after the OUI.
VENDOR_ELEMENTS: dict[bytes, tuple[Transport, int | None]] = {
    OUI_ASTM: (Transport.WIFI_BEACON, ASTM_OUI_TYPE),
    OUI_ASTM_PRESTANDARD: (Transport.WIFI_BEACON, ASTM_OUI_TYPE),
    OUI_FR: (Transport.FR_BEACON, None),
    **{oui: (Transport.DJI_WIFI, None) for oui in OUI_DJI},
}
"""Vendor-specific elements carrying drone payloads, by OUI: one line per format."""


# --- radiotap --------------------------------------------------------------------------------

# (alignment, size) of the radiotap fields before and including dBm antenna signal (bit 5):
# TSFT, Flags, Rate, Channel, FHSS, dBm antenna signal.
RT_FIELDS = ((8, 8), (1, 1), (1, 1), (2, 4), (1, 2), (1, 1))
RT_EXT = 0x80000000

# Layout cache keyed by the first 8 header bytes (version, pad, length, first present word):
# they decide everything when the present word has no extension bit, which is the common
# case. Bounded, so that garbage input cannot grow it.
_rt_cache: dict[bytes, tuple[int, int, int, int]] = {}
_RT_CACHE_MAX = 512


def _rt_layout(data: bytes) -> tuple[int, int, int, int]:
    """(header length, offsets of Flags, Channel and dBm signal or -1) of ``data``'s header."""
    n = len(data)
    if n < 8:
        raise Truncated("radiotap header cut short", reason="truncated-radiotap")
    if data[0] != 0:
        raise NotMine(f"radiotap version {data[0]}", reason="radiotap-version")
    hlen = data[2] | data[3] << 8
    if hlen < 8:
        raise Corrupt(f"radiotap header length {hlen}", reason="bad-radiotap")
    present = _u32(data, 4)[0]
    words = 1
    p = present
    while p & RT_EXT:
        if 4 + 4 * (words + 1) > min(hlen, n):
            raise Corrupt("radiotap present words run past the header", reason="bad-radiotap")
        p = _u32(data, 4 + 4 * words)[0]
        words += 1
    off = 4 + 4 * words
    found = [-1] * 6
    for bit, (align, size) in enumerate(RT_FIELDS):
        if present >> bit & 1:
            off = (off + align - 1) & -align
            if off + size <= hlen:
                found[bit] = off
            off += size
    layout = (hlen, found[1], found[3], found[5])
    if not present & RT_EXT and len(_rt_cache) < _RT_CACHE_MAX:
        _rt_cache[data[:8]] = layout
    return layout


# (channel, frequency in Hz) by radiotap channel frequency in MHz (0: not given)
_CHANNELS: dict[int, tuple[int | None, float | None]] = {0: (None, None)}
# dBm by radiotap antenna signal byte (a signed 8-bit number)
_DBM = tuple(float(s - 256 if s > 127 else s) for s in range(256))


def frames_from_radiotap(data: bytes, time: float, sensor_id: str = "local") -> list[Frame]:
    """Drone frames in one radiotap + 802.11 packet."""
    layout = _rt_cache.get(data[:8])
    hlen, flags_off, chan_off, sig_off = layout if layout is not None else _rt_layout(data)
    end = len(data)
    if hlen > end:
        raise Truncated("radiotap header longer than the packet", reason="truncated-radiotap")
    if flags_off >= 0:
        flags = data[flags_off]
        if flags & RT_FLAG_BAD_FCS:
            raise Corrupt("802.11 frame with a bad FCS", reason="bad-fcs")
        if flags & RT_FLAG_FCS:
            end -= 4
    channel: int | None
    freq: float | None
    if chan_off >= 0:
        mhz = data[chan_off] | data[chan_off + 1] << 8
        known = _CHANNELS.get(mhz)
        if known is None:
            known = _CHANNELS[mhz] = (channel_from_mhz(mhz), mhz * 1e6)
        channel, freq = known
    else:
        channel = freq = None
    rssi = _DBM[data[sig_off]] if sig_off >= 0 else None
    return frames_from_80211(data, time, sensor_id, hlen, end, rssi, channel, freq)


# --- PPI (per-packet information, e.g. Kismet) -----------------------------------------------

_PPI_80211_COMMON = 2


def frames_from_ppi(data: bytes, time: float, sensor_id: str = "local") -> list[Frame]:
    """Drone frames in one PPI + 802.11 packet (PPI 802.11-Common field: channel, RSSI)."""
    if len(data) < 8:
        raise Truncated("PPI header cut short", reason="truncated-ppi")
    hlen = data[2] | data[3] << 8
    dlt = _u32(data, 4)[0]
    if data[0] != 0 or hlen < 8 or hlen > len(data):
        raise Corrupt("bad PPI header", reason="bad-ppi")
    if dlt != LINKTYPE_IEEE802_11:
        raise NotMine(f"PPI over link type {dlt}", reason="not-80211")
    rssi: float | None = None
    mhz: int | None = None
    p = 8
    while p + 4 <= hlen:
        ftype, flen = _u16(data, p)[0], _u16(data, p + 2)[0]
        q = p + 4
        p = q + flen
        if p > hlen:
            raise Corrupt("PPI field runs past the header", reason="bad-ppi")
        if ftype == _PPI_80211_COMMON and flen >= 20:
            mhz = _u16(data, q + 12)[0] or None
            s = data[q + 18]
            rssi = float(s - 256) if s > 127 else (float(s) if s else None)
    channel = channel_from_mhz(mhz) if mhz else None
    return frames_from_80211(
        data, time, sensor_id, hlen, len(data), rssi, channel, mhz * 1e6 if mhz else None
    )


def build_ppi(rssi_dbm: float | None = None, frequency_mhz: int | None = None) -> bytes:
    """A PPI header with an 802.11-Common field, for 802.11 frames."""
    signal = 0 if rssi_dbm is None else max(-127, min(-1, round(rssi_dbm))) & 0xFF
    common = struct.pack("<QHHHHBBBB", 0, 0, 2, frequency_mhz or 0, 0x00A0, 0, 0, signal, 0)
    field = struct.pack("<HH", _PPI_80211_COMMON, len(common)) + common
    return struct.pack("<BBHI", 0, 0, 8 + len(field), LINKTYPE_IEEE802_11) + field


# --- 802.11 ----------------------------------------------------------------------------------


_KIND_BEACON = FrameKind.BEACON.value
_KIND_PROBE_RESPONSE = FrameKind.PROBE_RESPONSE.value
_KIND_ACTION = FrameKind.ACTION.value
FC1_RETRY = 0x08

Found = list[tuple[Transport, int | None, bytes]]
"""(transport, message counter, payload) of each drone payload in a frame."""


def frames_from_80211(
    data: bytes,
    time: float,
    sensor_id: str = "local",
    start: int = 0,
    end: int | None = None,
    rssi: float | None = None,
    channel: int | None = None,
    frequency_hz: float | None = None,
) -> list[Frame]:
    """Drone frames in the 802.11 frame ``data[start:end]`` (no FCS).

    A frame whose drone payloads are followed by a broken element gives those payloads as a
    :class:`~dronewatch.errors.Partial` carrying the error.
    """
    if end is None:
        end = len(data)
    if end - start < 24:
        if end - start >= 1 and data[start] & 0x0C:
            raise NotMine("not a management frame", reason="not-management")
        raise Truncated("802.11 header cut short", reason="truncated-80211")
    fc0 = data[start]
    fc1 = data[start + 1]
    if fc0 & 0x0C or fc1 & 0x40:  # not management, or protected
        raise NotMine("not an unprotected management frame", reason="not-management")
    subtype = fc0 >> 4
    hdr = start + (28 if fc1 & 0x80 else 24)  # +HTC
    if subtype == SUBTYPE_BEACON:
        found = _walk_elements(data, hdr + 12, end)
        kind = _KIND_BEACON
    elif subtype == SUBTYPE_PROBE_RESP:
        found = _walk_elements(data, hdr + 12, end)
        kind = _KIND_PROBE_RESPONSE
    elif subtype in (SUBTYPE_ACTION, SUBTYPE_ACTION_NOACK):
        found = _nan_service_info(data, hdr, end)
        kind = _KIND_ACTION
    else:
        raise NotMine("management frame of another kind", reason="not-beacon")
    if not found:
        raise NotMine("no drone payload", reason="no-drone-payload")
    source = data[start + 10 : start + 16].hex(":")
    seq: int | None = None
    retry = False
    if not data[start + 4] & 1:  # individually addressed: acknowledged, so maybe retried
        seq = (data[start + 22] | data[start + 23] << 8) >> 4
        retry = bool(fc1 & FC1_RETRY)
    if len(found) == 1 and type(found) is list:  # the common case: one drone payload
        transport, counter, payload = found[0]
        return [Frame(payload, time, transport, source, rssi, channel, frequency_hz, sensor_id,
                      counter, None, kind, seq, retry)]
    frames = [
        Frame(payload, time, transport, source, rssi, channel, frequency_hz, sensor_id, counter,
              None, kind, seq, retry)
        for transport, counter, payload in found
    ]
    if isinstance(found, Partial):  # the frames, with the error after them
        return Partial(frames, found.errors)
    return frames


def _partial(found: Found, error: DecodeError) -> Found:
    """``found`` with ``error`` after it; ``error`` raised if nothing was found."""
    if not found:
        raise error
    return Partial(found, [error])


def _walk_elements(data: bytes, p: int, end: int) -> Found:
    found: Found = []
    table = VENDOR_ELEMENTS
    last = end - 2  # where the last element header can start
    while p <= last:
        if data[p] != ELEMENT_VENDOR:
            p += data[p + 1] + 2
            continue
        q = p + 2
        p = q + data[p + 1]
        kind = table.get(data[q : q + 3])
        if kind is None:
            continue
        oui_type = kind[1]
        if p > end:
            if oui_type is not None and end - q >= 5 and data[q + 3] == oui_type:
                # A Remote ID element cut by the end of the frame: its payload decoder reads
                # the complete messages and counts the cut one.
                found.append((kind[0], data[q + 4], data[q + 5 : end]))
                return found
            return _partial(found, Truncated("vendor element runs past the frame",
                                             reason="truncated-element"))
        if oui_type is None:
            found.append((kind[0], None, data[q + 3 : p]))
        elif p - q >= 4 and data[q + 3] == oui_type:
            if p - q < 6:
                return _partial(found, Truncated("vendor element without a message",
                                                 reason="short-element"))
            found.append((kind[0], data[q + 4], data[q + 5 : p]))
    return found


def _nan_service_info(data: bytes, p: int, end: int) -> Found:
    # public action (4), vendor specific (9), Wi-Fi Alliance OUI, NAN type 0x13
    if (
        end - p < 6
        or data[p] != 4
        or data[p + 1] != 9
        or data[p + 2 : p + 5] != OUI_WFA
        or data[p + 5] != NAN_OUI_TYPE
    ):
        return []
    found: Found = []
    p += 6
    while p + 3 <= end:
        aid = data[p]
        q = p + 3
        p = q + (data[p + 1] | data[p + 2] << 8)
        if aid != NAN_ATTR_SDA or data[q : q + 6] != NAN_SERVICE_ID:
            continue
        cut = p > end
        if cut:
            p = end  # the attribute is cut by the end of the frame: read what is there
        if p - q < 9:
            if cut:
                return _partial(found, Truncated("NAN service descriptor cut short",
                                                 reason="truncated-nan"))
            return _partial(found, Corrupt("NAN service descriptor too short",
                                           reason="bad-nan"))
        control = data[q + 8]
        r = q + 9
        if control & NAN_SC_BINDING:
            r += 2
        for bit in (NAN_SC_MATCH, NAN_SC_SRF):
            if control & bit:
                if r >= p:
                    return _partial(found, Truncated("NAN filter cut short",
                                                     reason="truncated-nan"))
                r += 1 + data[r]
        if not control & NAN_SC_INFO:
            continue
        # service info: length, message counter, message or pack (cut at the attribute end
        # if it runs past it: the payload decoder reads the complete messages)
        if r + 2 > p or data[r] == 0:
            return _partial(found, Truncated("NAN service info cut short",
                                             reason="truncated-nan"))
        found.append((Transport.WIFI_NAN, data[r + 1], data[r + 2 : min(r + 1 + data[r], p)]))
    return found


# --- builders --------------------------------------------------------------------------------

DEFAULT_SOURCE = "02:00:00:00:00:01"
PROBING_STATION = bytes.fromhex("020000000099")  # who a built probe response answers
_RATES_24 = bytes([0x82, 0x84, 0x8B, 0x96, 0x0C, 0x12, 0x18, 0x24])


def build_radiotap(
    rssi_dbm: float | None = None,
    frequency_mhz: int | None = None,
    *,
    fcs: bool = False,
    bad_fcs: bool = False,
    rate_500kbps: int = 2,
) -> bytes:
    """A radiotap header with Flags, Rate, [Channel], [dBm antenna signal]."""
    present = 0x02 | 0x04  # Flags, Rate
    body = bytes([(RT_FLAG_FCS if fcs else 0) | (RT_FLAG_BAD_FCS if bad_fcs else 0), rate_500kbps])
    if frequency_mhz is not None:
        present |= 0x08
        cflags = 0x0080 | 0x00A0 if frequency_mhz < 3000 else 0x0100 | 0x0040
        body += struct.pack("<HH", frequency_mhz, cflags)
    if rssi_dbm is not None:
        present |= 0x20
        body += struct.pack("<b", max(-128, min(127, round(rssi_dbm))))
    return struct.pack("<BBHI", 0, 0, 8 + len(body), present) + body


def mgmt_header(
    subtype: int, da: bytes, sa: bytes, bssid: bytes, seq: int = 0, *, retry: bool = False
) -> bytes:
    """A 24-byte 802.11 management header (``retry``: the retry flag, a retransmission)."""
    fc1 = FC1_RETRY if retry else 0
    return (struct.pack("<BBH", subtype << 4, fc1, 0) + da + sa + bssid
            + struct.pack("<H", (seq & 0xFFF) << 4))


def element(eid: int, body: bytes) -> bytes:
    if len(body) > 255:
        raise ValueError(f"element body of {len(body)} bytes (at most 255)")
    return bytes((eid, len(body))) + body


def vendor_element(oui: bytes, body: bytes) -> bytes:
    """A vendor-specific element (221): OUI, then ``body`` (which may start with a type)."""
    return element(ELEMENT_VENDOR, oui + body)


def astm_element(counter: int, pack: bytes) -> bytes:
    """The ASTM F3411 Remote ID beacon element: OUI, type 0x0D, counter, message (pack)."""
    return vendor_element(OUI_ASTM, bytes((ASTM_OUI_TYPE, counter & 0xFF)) + pack)


def build_beacon(
    source: bytes,
    elements: Sequence[bytes],
    *,
    ssid: bytes = b"",
    channel: int = 6,
    timestamp_us: int = 0,
    interval_tu: int = 100,
    seq: int = 0,
    probe_response: bool = False,
    destination: bytes | None = None,
    retry: bool = False,
) -> bytes:
    """An 802.11 beacon (or probe response) with SSID, rates, DS parameter and ``elements``.

    A beacon goes to broadcast; a probe response to ``destination`` (the station that
    probed; default: a locally administered address). ``retry`` sets the retry flag.
    """
    subtype = SUBTYPE_PROBE_RESP if probe_response else SUBTYPE_BEACON
    if destination is None:
        destination = PROBING_STATION if probe_response else b"\xff" * 6
    out = mgmt_header(subtype, destination, source, source, seq, retry=retry)
    out += struct.pack("<QHH", timestamp_us & 0xFFFFFFFFFFFFFFFF, interval_tu, 0x0421)
    out += element(0, ssid) + element(1, _RATES_24) + element(3, bytes((channel & 0xFF,)))
    return out + b"".join(elements)


def build_nan_sdf(source: bytes, counter: int, pack: bytes, *, seq: int = 0, instance: int = 1) -> bytes:
    """A NAN service discovery frame publishing the Remote ID service (counter + pack)."""
    info = bytes((counter & 0xFF,)) + pack
    if len(info) > 255:
        raise ValueError(f"NAN service info of {len(info)} bytes (at most 255)")
    sda = NAN_SERVICE_ID + bytes((instance, 0, NAN_SC_INFO, len(info))) + info
    sdea = bytes((instance,)) + struct.pack("<H", 0x0200) + b"\x00"
    body = bytes((4, 9)) + OUI_WFA + bytes((NAN_OUI_TYPE,))
    body += struct.pack("<BH", NAN_ATTR_SDA, len(sda)) + sda
    body += struct.pack("<BH", 0x0E, len(sdea)) + sdea
    return mgmt_header(SUBTYPE_ACTION, NAN_DESTINATION, source, NAN_CLUSTER_ID, seq) + body


def build_nan_sync_beacon(source: bytes, *, timestamp_us: int = 0) -> bytes:
    """A NAN synchronisation beacon (master indication, cluster, service ID list)."""
    attrs = struct.pack("<BH", 0x00, 2) + b"\xfe\xea"
    attrs += struct.pack("<BH", 0x01, 13) + source + b"\xea\xfe\x00" + b"\x00" * 4
    attrs += struct.pack("<BH", 0x02, 6) + NAN_SERVICE_ID
    out = mgmt_header(SUBTYPE_BEACON, b"\xff" * 6, source, NAN_CLUSTER_ID)
    out += struct.pack("<QHH", timestamp_us, 0x0200, 0x0420)
    return out + vendor_element(OUI_WFA, bytes((NAN_OUI_TYPE,)) + attrs)


def with_fcs(frame: bytes) -> bytes:
    """``frame`` followed by its IEEE 802.11 FCS (CRC-32, little-endian)."""
    return frame + struct.pack("<I", zlib.crc32(frame))


def build_80211_for_frame(frame: Frame, *, seq: int = 0) -> bytes:
    """The 802.11 frame (no radiotap) that carries ``frame``'s payload.

    A probe response (``frame_kind``) is built as one, with the frame's ``link_seq`` and
    retry flag when it has them; anything else as a beacon or NAN frame with ``seq``.
    """
    source = mac_bytes(frame.source) if frame.source else mac_bytes(DEFAULT_SOURCE)
    probe_response = frame.frame_kind == _KIND_PROBE_RESPONSE
    if frame.link_seq is not None:
        seq = frame.link_seq
    counter = (frame.counter or 0) & 0xFF
    channel = frame.channel or 6
    ts = round(frame.time * 1e6)
    t = frame.transport
    if t is Transport.WIFI_NAN:
        return build_nan_sdf(source, counter, frame.payload, seq=seq)
    if t is Transport.WIFI_BEACON:
        elem = astm_element(counter, frame.payload)
        ssid = b"RID-" + source[3:].hex().upper().encode()
    elif t is Transport.DJI_WIFI:
        elem = vendor_element(OUI_DJI[0], frame.payload)
        ssid = b"DJI-" + source[3:].hex().upper().encode()
    elif t is Transport.FR_BEACON:
        elem = vendor_element(OUI_FR, frame.payload)
        ssid = b"FR-" + source[3:].hex().upper().encode()
    else:
        raise ValueError(f"{t.value} is not carried over Wi-Fi")
    return build_beacon(source, [elem], ssid=ssid, channel=channel, timestamp_us=ts, seq=seq,
                        probe_response=probe_response, retry=probe_response and frame.link_retry)


def build_wifi_packet(frame: Frame, linktype: int = LINKTYPE_IEEE802_11_RADIOTAP, *, seq: int = 0) -> bytes:
    """A realistic packet of ``linktype`` (radiotap, PPI or plain 802.11) carrying ``frame``."""
    mac = build_80211_for_frame(frame, seq=seq)
    if linktype == LINKTYPE_IEEE802_11:
        return mac
    mhz: int | None = None
    if frame.frequency_hz and math.isfinite(frame.frequency_hz) and 0 < frame.frequency_hz < 65.5e9:
        mhz = round(frame.frequency_hz / 1e6)
    elif frame.channel:
        with contextlib.suppress(ValueError):  # an unknown channel number: no channel field
            mhz = mhz_from_channel(frame.channel)
    rssi = frame.rssi_dbm if frame.rssi_dbm is not None and math.isfinite(frame.rssi_dbm) else None
    if linktype == LINKTYPE_PPI:
        return build_ppi(rssi, mhz) + mac
    if linktype != LINKTYPE_IEEE802_11_RADIOTAP:
        raise ValueError(f"link type {linktype} is not a Wi-Fi link type")
    return build_radiotap(rssi, mhz) + mac
