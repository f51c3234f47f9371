"""Bluetooth LE controllers through bumble (``bluetooth:CONTROLLER``).

CONTROLLER is ``hci0`` (a Linux HCI socket), ``usb:N`` (the N-th USB controller, or a
VID:PID), ``serial:/dev/ttyACM0`` (an HCI UART), ``tcp:HOST:PORT`` (HCI over TCP, e.g. a
controller shared by bumble or an emulator), or ``bumble:SPEC`` for any other bumble transport.

The source runs bumble's host stack on the controller and scans passively, with no duplicate
filtering (every advert counts): extended scanning on the 1M and, where the controller has it,
the Coded PHY (Bluetooth 5 long range), else legacy scanning on 1M (Bluetooth 4). What the
controller can and cannot receive is said at start-up and in the source's health. Each advert
carrying Remote ID service data (0xFFFA) becomes a frame through
:func:`dronewatch.protocols.ble.frames_from_ad`, with its RSSI; legacy adverts are
``ble-legacy``, extended ones ``ble-long-range``. A controller that errors or goes away is
opened again with backoff (state ``retrying``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import time
from collections import Counter
from typing import Any

from dronewatch.errors import DecodeError, NotMine
from dronewatch.protocols.ble import frames_from_ad
from dronewatch.sources.live import LiveOptions, LiveSource, SourceError, SourceFatal

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 10.0
POLL_S = 0.1
SCAN_INTERVAL_MS = 100.0  # scan window = interval: listen all the time
RSSI_NOT_AVAILABLE = 127
_PHYS = {1: "1M", 2: "2M", 3: "coded"}

PERMISSION_HELP = (
    "opening a Bluetooth controller through a Linux HCI socket needs CAP_NET_RAW and "
    "CAP_NET_ADMIN (and the controller down for BlueZ: 'sudo hciconfig hci0 down' or "
    "'sudo systemctl stop bluetooth'): run as root, or grant them once with "
    "'sudo setcap cap_net_raw,cap_net_admin+eip $(readlink -f $(which python3))'; a USB "
    "controller needs read/write access to its /dev/bus/usb device (a udev rule)"
)


def transport_spec(target: str) -> str:
    """The bumble transport of a ``--bluetooth`` target; ``ValueError`` for anything else."""
    match = re.fullmatch(r"hci(\d+)", target)
    if match:
        return f"hci-socket:{match.group(1)}"
    kind, sep, rest = target.partition(":")
    if sep and rest:
        if kind in ("usb", "serial"):
            return f"{kind}:{rest}"
        if kind == "tcp" and re.fullmatch(r"[^:]+:\d{1,5}", rest):
            return f"tcp-client:{rest}"
        if kind == "bumble":
            return rest
    raise ValueError(
        f"bluetooth:{target}: expected hciN, usb:N, serial:DEVICE, tcp:HOST:PORT or bumble:SPEC"
    )


class BluetoothSource(LiveSource):
    """A Bluetooth controller scanned passively for Remote ID adverts (see the module doc)."""

    kind = "bluetooth"

    def __init__(self, target: str, options: LiveOptions) -> None:
        self.transport = transport_spec(target)
        super().__init__(f"bluetooth:{target}", queue_batches=options.queue_batches)
        self.sensor_id = options.sensor_id
        self.capabilities: dict[str, bool] = {}
        self.adverts = 0
        self.phys: Counter[str] = Counter()  # adverts by primary PHY as the controller says

    def detail(self) -> dict[str, Any]:
        return {
            "transport": self.transport,
            "receives": dict(self.capabilities),
            "adverts": self.adverts,
            "adverts_by_phy": dict(self.phys),
        }

    def run(self, stop: threading.Event) -> None:
        asyncio.run(self._session(stop))

    async def _session(self, stop: threading.Event) -> None:
        from bumble import hci
        from bumble.device import Device
        from bumble.transport import open_transport

        if self.transport.startswith("hci-socket:") and not getattr(socket, "AF_BLUETOOTH", 0):
            raise SourceFatal(
                f"{self.name}: this system has no Bluetooth sockets (kernel or Python built "
                "without AF_BLUETOOTH); use usb:N, serial:DEVICE or tcp:HOST:PORT"
            )
        try:
            transport = await asyncio.wait_for(open_transport(self.transport), OPEN_TIMEOUT_S)
        except PermissionError:
            raise SourceFatal(f"{self.name}: {PERMISSION_HELP}") from None
        except Exception as exc:  # no such device, refused, timed out: try again later
            raise SourceError(f"cannot open {self.transport}: {exc or type(exc).__name__}") from exc
        try:
            device = Device.with_hci(
                "dronewatch", hci.Address("F0:D0:00:00:00:01"), transport.source, transport.sink
            )
            device.on("advertisement", self._advert)
            await asyncio.wait_for(device.power_on(), OPEN_TIMEOUT_S)
            extended = bool(device.supports_le_extended_advertising)
            coded = extended and bool(device.supports_le_features(hci.LeFeatureMask.LE_CODED_PHY))
            self.capabilities = {"legacy_1m": True, "extended": extended, "long_range_coded": coded}
            phys = [hci.HCI_LE_1M_PHY] + ([hci.HCI_LE_CODED_PHY] if coded else [])
            await device.start_scanning(
                legacy=not extended,
                active=False,
                scan_interval=SCAN_INTERVAL_MS,
                scan_window=SCAN_INTERVAL_MS,
                filter_duplicates=False,
                scanning_phys=phys,
            )
            log.info(
                "%s: scanning; receives Bluetooth 4 legacy adverts: yes, Bluetooth 5 extended "
                "adverts: %s, long range (Coded PHY): %s",
                self.name,
                "yes" if extended else "NO (the controller has no extended advertising)",
                "yes" if coded else "NO (the controller has no LE Coded PHY)",
            )
            terminated = transport.source.terminated
            while not stop.is_set():
                if terminated.done():
                    raise SourceError(f"{self.name}: the controller went away")
                await asyncio.sleep(POLL_S)
        finally:
            await transport.close()

    def _advert(self, advert: Any) -> None:
        """bumble's advertisement event: an advert (reassembled if it came in fragments)."""
        self.adverts += 1
        self.stats.packets_read += 1
        self.phys[_PHYS.get(advert.primary_phy, "1M" if advert.is_legacy else "?")] += 1
        if advert.is_truncated:
            self.stats.skip("ble: truncated-advert")
            return
        rssi = None if advert.rssi == RSSI_NOT_AVAILABLE else float(advert.rssi)
        source = advert.address.to_string(False).lower()
        try:
            frames = frames_from_ad(
                advert.data_bytes, advert.is_legacy, source, rssi, time.time(), self.sensor_id
            )
        except NotMine:
            return
        except DecodeError as exc:
            self.stats.skip(f"ble: {exc.reason}")
            return
        self.emit(frames)


def open_source(target: str, options: LiveOptions) -> BluetoothSource:
    """``bluetooth:CONTROLLER`` (see the module doc)."""
    return BluetoothSource(target, options)
