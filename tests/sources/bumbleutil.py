"""Bluetooth without radio: bumble's virtual controllers on one link (the air).

One controller hosts an in-process bumble device that advertises Remote ID built by the
project's encoders (a legacy advert on 1M, an extended one on the Coded PHY); the other is
served over HCI-over-TCP, the way a remote or shared controller is reached, so dronewatch
scans through it with its production code path (``bluetooth:tcp:127.0.0.1:PORT``).

bumble's virtual link does not model PHYs or the legacy bit: a scanning controller with
extended advertising reports every advert in an LE Extended Advertising Report (as a Bluetooth
5 controller reports a long-range advert), one without reports them in LE Advertising Reports
(as a Bluetooth 4 controller does). ``scanner_extended`` picks which controller we scan with.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from typing import Any

from dronewatch.protocols.astm import codec
from dronewatch.protocols.astm.messages import BasicId, Location, OperatorId, System
from dronewatch.protocols.ble import odid_service_data

LEGACY_ADDRESS = "c4:00:00:00:00:01"
CODED_ADDRESS = "c4:00:00:00:00:02"
LEGACY_ID = "LEGACY4TESTDRONE0001"
CODED_ID = "CODED5LRTESTDRONE002"
DRONE = (48.7262, 2.3652, 120.0)
PILOT = (48.7250, 2.3600)


def legacy_advert() -> bytes:
    """One 25-byte Basic ID message: what a Bluetooth 4 legacy advert holds."""
    return odid_service_data(1, codec.encode(BasicId(uas_id=LEGACY_ID)))


def coded_advert() -> bytes:
    """A message pack (Basic ID, Location, System, Operator ID) in one extended advert."""
    pack = codec.encode_pack([
        BasicId(uas_id=CODED_ID),
        Location(lat=DRONE[0], lon=DRONE[1], alt_geo=DRONE[2], speed=3.0, direction=90.0),
        System(operator_lat=PILOT[0], operator_lon=PILOT[1]),
        OperatorId(operator_id="FRA-OP-TEST"),
    ])
    return odid_service_data(7, pack)


class VirtualAir:
    """The two controllers, in an asyncio loop of their own (``close`` ends it)."""

    def __init__(
        self, *, legacy: bool = True, coded: bool = True, scanner_extended: bool = True
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._run(self._setup(legacy, coded, scanner_extended))

    @property
    def target(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _setup(self, legacy: bool, coded: bool, scanner_extended: bool) -> None:
        from bumble import hci
        from bumble.controller import Controller
        from bumble.device import AdvertisingEventProperties, AdvertisingParameters, Device
        from bumble.host import Host
        from bumble.link import LocalLink
        from bumble.transport.common import AsyncPipeSink
        from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

        link = LocalLink()
        self.transport = await open_tcp_server_transport_with_socket(self.sock)
        self.scanner = Controller(
            "scanner", host_source=self.transport.source, host_sink=self.transport.sink, link=link
        )
        if not scanner_extended:  # a Bluetooth 4 controller
            mask = hci.LeFeatureMask.LE_EXTENDED_ADVERTISING | hci.LeFeatureMask.LE_CODED_PHY
            self.scanner.le_features = hci.LeFeatureMask(self.scanner.le_features & ~mask)
        air = Controller("drones", link=link)
        self.device = Device(
            address=hci.Address("F0:F1:F2:F3:F4:F5"), host=Host(air, AsyncPipeSink(air))
        )
        await self.device.power_on()
        if legacy:
            await self.device.create_advertising_set(
                advertising_parameters=AdvertisingParameters(
                    advertising_event_properties=AdvertisingEventProperties(
                        is_connectable=False, is_scannable=False, is_legacy=True
                    ),
                    advertising_sid=1,
                ),
                random_address=hci.Address(LEGACY_ADDRESS.upper()),
                advertising_data=legacy_advert(),
            )
        if coded:
            await self.device.create_advertising_set(
                advertising_parameters=AdvertisingParameters(
                    advertising_event_properties=AdvertisingEventProperties(
                        is_connectable=False, is_scannable=False
                    ),
                    primary_advertising_phy=hci.Phy.LE_CODED,
                    secondary_advertising_phy=hci.Phy.LE_CODED,
                    advertising_sid=2,
                ),
                random_address=hci.Address(CODED_ADDRESS.upper()),
                advertising_data=coded_advert(),
            )

    def close(self) -> None:
        async def shut() -> None:
            connection = getattr(self.transport.sink, "transport", None)
            if connection is not None:  # the controller is unplugged: its link drops
                connection.close()
            await self.transport.close()

        try:
            self._run(shut())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.sock.close()
