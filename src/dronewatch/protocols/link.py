"""Link-layer dispatch: (link type, packet bytes) -> frames, and frames -> packets.

:func:`frames_from_packet` looks the link type up in a dispatch table (one line per link
type, :func:`register_link`) and returns the drone payload frames of the packet. It raises
:class:`~dronewatch.errors.NotMine` for packets without a drone payload (ordinary Wi-Fi and
Bluetooth traffic; a stream counts nothing for them) and :class:`~dronewatch.errors.Corrupt`
/ :class:`~dronewatch.errors.Truncated` for broken packets.

:func:`packet_from_frame` is the inverse: a realistic packet carrying a frame, used by the
simulator and the benchmark to write captures of every format.
"""

from __future__ import annotations

from collections.abc import Callable

from dronewatch.errors import NotMine
from dronewatch.model import Frame, FrameKind, Transport
from dronewatch.protocols import ble, wifi

LinkParser = Callable[[bytes, float, str], list[Frame]]

_PARSERS: dict[int, LinkParser] = {}
_FAMILY: dict[int, str] = {}


def register_link(linktype: int, family: str) -> Callable[[LinkParser], LinkParser]:
    """Register ``fn`` as the parser of ``linktype``; ``family`` prefixes its skip reasons."""

    def wrap(fn: LinkParser) -> LinkParser:
        _PARSERS[linktype] = fn
        _FAMILY[linktype] = family
        return fn

    return wrap


register_link(wifi.LINKTYPE_IEEE802_11_RADIOTAP, "wifi")(wifi.frames_from_radiotap)
register_link(wifi.LINKTYPE_IEEE802_11, "wifi")(wifi.frames_from_80211)
register_link(wifi.LINKTYPE_PPI, "wifi")(wifi.frames_from_ppi)
register_link(ble.LINKTYPE_NORDIC_BLE, "ble")(ble.frames_from_nordic)
register_link(ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR, "ble")(ble.frames_from_ll_phdr)
register_link(ble.LINKTYPE_BLUETOOTH_LE_LL, "ble")(ble.frames_from_ll)
register_link(ble.LINKTYPE_BLUETOOTH_HCI_H4, "ble")(ble.frames_from_hci_h4)
register_link(ble.LINKTYPE_BLUETOOTH_HCI_H4_WITH_PHDR, "ble")(ble.frames_from_hci_h4_phdr)


def parsers() -> dict[int, LinkParser]:
    """The live dispatch table (link type -> parser), for hot loops that inline the lookup."""
    return _PARSERS


def family_of(linktype: int) -> str:
    """``"wifi"``, ``"ble"``... for skip-counter keys; ``"link"`` for unknown link types."""
    return _FAMILY.get(linktype, "link")


def parser_for(linktype: int) -> LinkParser:
    """The parser of ``linktype``; ``NotMine`` (reason ``unsupported-linktype``) if none."""
    fn = _PARSERS.get(linktype)
    if fn is None:
        raise NotMine(f"link type {linktype} carries no drone payload we read",
                      reason="unsupported-linktype")
    return fn


def frames_from_packet(linktype: int, data: bytes, time: float, sensor_id: str = "local") -> list[Frame]:
    """The drone payload frames in one captured packet.

    Raises ``NotMine`` for packets without a drone payload and ``Corrupt``/``Truncated``
    for broken ones. Never returns an empty list.
    """
    fn = _PARSERS.get(linktype)
    if fn is None:
        raise NotMine(f"link type {linktype} carries no drone payload we read",
                      reason="unsupported-linktype")
    return fn(data, time, sensor_id)


#: The kind of frame :func:`packet_from_frame` builds for each transport (and the kind a
#: frame of that transport has when nothing else is known, e.g. in the simulator).
DEFAULT_FRAME_KIND: dict[Transport, str] = {
    Transport.WIFI_BEACON: FrameKind.BEACON.value,
    Transport.DJI_WIFI: FrameKind.BEACON.value,
    Transport.FR_BEACON: FrameKind.BEACON.value,
    Transport.WIFI_NAN: FrameKind.ACTION.value,
    Transport.BLE_LEGACY: FrameKind.ADVERT.value,
    Transport.BLE_LONG_RANGE: FrameKind.AUX_ADVERT.value,
    Transport.DJI_OCUSYNC: FrameKind.BURST.value,
    Transport.ANTSDR_DRONEID: FrameKind.REPORT.value,
}

_WIFI = frozenset((Transport.WIFI_BEACON, Transport.WIFI_NAN, Transport.DJI_WIFI, Transport.FR_BEACON))
_BLE = frozenset((Transport.BLE_LEGACY, Transport.BLE_LONG_RANGE))


def packet_from_frame(frame: Frame, linktype: int | None = None) -> tuple[int, bytes]:
    """A realistic ``(linktype, packet)`` carrying ``frame``.

    Wi-Fi transports default to radiotap + 802.11 (beacon with SSID, rates, DS parameter and
    the vendor element; NAN service discovery action frame); Bluetooth to
    ``LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR`` (legacy ADV_NONCONN_IND, or AUX_ADV_IND on LE
    Coded for long range). Other link types: 105 (plain 802.11), 192 (PPI), 272 (Nordic),
    251, 187, 201.
    ``ValueError`` for a transport/link type pair that cannot carry the frame.
    """
    t = frame.transport
    lt = default_linktype(t) if linktype is None else linktype
    if t in _WIFI:
        return lt, wifi.build_wifi_packet(frame, lt)
    if t in _BLE:
        return lt, ble.build_ble_packet(frame, lt)
    raise ValueError(f"{t.value} frames are not carried in link-layer packets")


def default_linktype(transport: Transport) -> int:
    """The link type :func:`packet_from_frame` writes ``transport`` frames in (``ValueError``
    for a transport without link-layer packets)."""
    if transport in _WIFI:
        return wifi.LINKTYPE_IEEE802_11_RADIOTAP
    if transport in _BLE:
        return ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR
    raise ValueError(f"{transport.value} frames are not carried in link-layer packets")
