"""Wi-Fi monitor interfaces: radiotap frames from a raw ``AF_PACKET`` socket (``wifi:IFACE``).

* A kernel BPF filter passes only the management frames that can carry drone elements
  (beacons, probe responses, action and action-no-ack frames: NAN); everything else (data,
  control, probe requests: most of the air time) never reaches Python.
* Frame time is the kernel's receive time (``SO_TIMESTAMPNS``); RSSI, channel and the FCS
  flags come from radiotap (:func:`dronewatch.protocols.wifi.frames_from_radiotap`, through
  the capture reader's :func:`~dronewatch.sources.pcap_frames.parse_packets`): a frame with a bad
  FCS is dropped and counted (``wifi: bad-fcs``), as is malformed radiotap.
* The channel plan (:mod:`.nl80211`) runs in a thread of its own; a card whose channel cannot
  be set (no nl80211, the driver refuses) is warned about once and received from on the
  channel it is on.
* An interface that is not in monitor mode (link type not radiotap, 803) fails for good with
  how to fix it (``--monitor`` switches it and switches it back on exit); missing
  CAP_NET_RAW too. An interface that disappears (card unplugged) is waited for and received
  from again when it comes back.
* Frames the kernel dropped because we fell behind (``PACKET_STATISTICS``) are counted in
  ``drops``, like batches the consumer could not take.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import select
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

from dronewatch.protocols.wifi import LINKTYPE_IEEE802_11_RADIOTAP
from dronewatch.sources import CaptureOptions
from dronewatch.sources.live import LiveOptions, LiveSource, SourceError, SourceFatal, SourceState
from dronewatch.sources.nl80211 import (
    NL80211_IFTYPE_MONITOR,
    ChannelPlan,
    ChannelRefused,
    Nl80211,
)
from dronewatch.sources.pcap import Packet
from dronewatch.sources.pcap_frames import parse_packets

log = logging.getLogger(__name__)

ARPHRD_IEEE80211_RADIOTAP = 803
ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
SOL_PACKET = 263
PACKET_STATISTICS = 6
RECV_BYTES = 4096  # a management frame with radiotap is far smaller
RCVBUF_BYTES = 8 << 20  # the kernel's queue for us: ~2 s at 5,000 frames/s
BATCH_PACKETS = 512  # read at most this many before handing a batch on
# After a batch, let frames gather this long before reading again: at thousands of frames/s
# every wake-up (select, the hand-over to the pipeline thread, its wake-up) would otherwise
# carry one or two frames and cost more than their decoding. Bounds the added latency.
COALESCE_S = 0.002
POLL_S = 0.25
STATS_INTERVAL_S = 1.0
_GONE = frozenset((errno.ENETDOWN, errno.ENXIO, errno.ENODEV))
_TIMESPEC = struct.Struct("qq")
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)

# Classic BPF over radiotap: X = radiotap length (little-endian u16 at offset 2), then the
# 802.11 frame control byte at X: type/subtype beacon (0x80), probe response (0x50), action
# (0xd0), action no-ack (0xe0) pass whole; anything else (or too short to read) is dropped.
_ACCEPT = 0x40000
MGMT_FILTER: tuple[tuple[int, int, int, int], ...] = (
    (0x30, 0, 0, 3),  # ldb [3]
    (0x64, 0, 0, 8),  # lsh #8
    (0x07, 0, 0, 0),  # tax
    (0x30, 0, 0, 2),  # ldb [2]
    (0x4C, 0, 0, 0),  # or x
    (0x07, 0, 0, 0),  # tax
    (0x50, 0, 0, 0),  # ldb [x + 0]: frame control, first byte
    (0x54, 0, 0, 0xFC),  # and #0xfc: type and subtype
    (0x15, 4, 0, 0x80),  # jeq #0x80 (beacon) -> accept
    (0x15, 3, 0, 0x50),  # jeq #0x50 (probe response) -> accept
    (0x15, 2, 0, 0xD0),  # jeq #0xd0 (action) -> accept
    (0x15, 1, 0, 0xE0),  # jeq #0xe0 (action no-ack) -> accept
    (0x06, 0, 0, 0),  # ret #0: drop
    (0x06, 0, 0, _ACCEPT),  # ret: accept
)

PERMISSION_HELP = (
    "receiving from a Wi-Fi interface needs CAP_NET_RAW (changing its channel CAP_NET_ADMIN): "
    "run as root, or grant them once with "
    "'sudo setcap cap_net_raw,cap_net_admin+eip $(readlink -f $(which python3))', "
    "or AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN in a systemd unit"
)


def attach_filter(sock: socket.socket, program: tuple[tuple[int, int, int, int], ...]) -> None:
    """Attach a classic BPF program to ``sock`` (the kernel copies it)."""
    code = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HL", len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def interface_type(iface: str) -> int | None:
    """The ARPHRD link type of ``iface``; ``None`` if there is no such interface."""
    try:
        return int(Path(f"/sys/class/net/{iface}/type").read_text())
    except (OSError, ValueError):
        return None


def not_monitor_message(iface: str, linktype: int) -> str:
    return (
        f"{iface} is not in monitor mode (its link type is {linktype}, not radiotap "
        f"{ARPHRD_IEEE80211_RADIOTAP}): switch it with 'sudo ip link set {iface} down && "
        f"sudo iw dev {iface} set type monitor && sudo ip link set {iface} up', "
        f"or pass --monitor"
    )


class WifiSource(LiveSource):
    """A monitor-mode interface; see the module doc. ``options.extra``: ``channels``,
    ``dwell_s``, ``hop`` (default on), ``monitor`` (switch the interface), ``bpf``
    (default on; off for measuring it)."""

    kind = "wifi"

    def __init__(self, iface: str, options: LiveOptions) -> None:
        if not iface or "/" in iface or len(iface) > 15:
            raise ValueError(f"wifi:{iface}: not a network interface name")
        super().__init__(f"wifi:{iface}", queue_batches=options.queue_batches)
        extra = options.extra
        self.iface = iface
        self.capture_options = CaptureOptions(sensor_id=options.sensor_id)
        channels = extra.get("channels")
        self.plan = ChannelPlan(channels, float(extra.get("dwell_s", 0.4)))
        self.hop = bool(extra.get("hop", True))
        self.set_monitor = bool(extra.get("monitor", False))
        self.bpf = bool(extra.get("bpf", True))
        self.channel: int | None = None  # the channel we set last (None: never set)
        self.channel_control = "hopping" if self.hop else "fixed"
        self.kernel_drops = 0
        self.packets = 0
        self._sock: socket.socket | None = None
        self._restore_iftype: int | None = None
        self._hopper: threading.Thread | None = None
        self._refused_warned = False

    def detail(self) -> dict[str, Any]:
        return {
            "interface": self.iface,
            "channel": self.channel,
            "channel_control": self.channel_control,
            "channels": self.plan.channels,
            "packets": self.packets,
            "kernel_drops": self.kernel_drops,
            "bpf": self.bpf,
            "listening": self._sock is not None,  # the socket is bound: frames are received
        }

    # -- receiving ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self._wait_for_interface(stop)
        if stop.is_set():
            return
        linktype = interface_type(self.iface)
        if linktype is not None and linktype != ARPHRD_IEEE80211_RADIOTAP:
            if not self.set_monitor:
                raise SourceFatal(not_monitor_message(self.iface, linktype))
            self._switch_to_monitor()
        sock = self._open()
        self._sock = sock
        self._start_hopper(stop)
        log.info("%s: receiving (BPF filter %s)", self.name, "on" if self.bpf else "off")
        try:
            self._receive(sock, stop)
        finally:
            self._sock = None
            sock.close()

    def _wait_for_interface(self, stop: threading.Event) -> None:
        """Until ``iface`` exists (a card being plugged in again) or we are stopped."""
        if interface_type(self.iface) is not None:
            return
        message = f"no interface {self.iface} (unplugged?); waiting for it"
        if self.last_error != message:
            self.failed(message)
        self.state = SourceState.RETRYING
        while interface_type(self.iface) is None:
            if stop.wait(POLL_S):
                return
        log.info("%s: the interface is back", self.name)

    def _open(self) -> socket.socket:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # receives nothing yet
        except PermissionError:
            raise SourceFatal(f"{self.iface}: {PERMISSION_HELP}") from None
        try:
            if self.bpf:
                attach_filter(sock, MGMT_FILTER)  # before bind: no unfiltered frame gets in
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
            sock.bind((self.iface, ETH_P_ALL))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            if exc.errno in _GONE:
                raise SourceError(f"{self.iface} disappeared") from exc
            raise
        return sock

    def _receive(self, sock: socket.socket, stop: threading.Event) -> None:
        recvmsg = sock.recvmsg
        unpack = _TIMESPEC.unpack_from
        next_stats = time.monotonic() + STATS_INTERVAL_S
        while not stop.is_set():
            ready, _, _ = select.select([sock], [], [], POLL_S)
            packets: list[Packet] = []
            try:
                while len(packets) < BATCH_PACKETS:
                    data, ancillary, _flags, _addr = recvmsg(RECV_BYTES, _CMSG_SPACE)
                    when = None
                    for level, kind, value in ancillary:
                        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                            sec, nsec = unpack(value)
                            when = sec + nsec * 1e-9
                    packets.append(
                        (time.time() if when is None else when, LINKTYPE_IEEE802_11_RADIOTAP, data)
                    )
            except BlockingIOError:
                pass
            except OSError as exc:
                self._deliver(packets)
                if exc.errno in _GONE:
                    raise SourceError(f"{self.iface} went away ({os.strerror(exc.errno)})") from exc
                raise
            if not ready and not packets:
                continue
            self._deliver(packets)
            now = time.monotonic()
            if now >= next_stats:
                next_stats = now + STATS_INTERVAL_S
                self._kernel_stats(sock)
            if len(packets) < BATCH_PACKETS:
                time.sleep(COALESCE_S)

    def _deliver(self, packets: list[Packet]) -> None:
        if not packets:
            return
        self.packets += len(packets)
        frames = list(parse_packets(packets, self.capture_options, self.stats))
        for frame in frames:
            self.plan.heard(frame.channel)
        self.emit(frames)

    def _kernel_stats(self, sock: socket.socket) -> None:
        """Frames the kernel dropped since the last look (reading resets its counters)."""
        try:
            _received, dropped = struct.unpack(
                "II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
            )
        except OSError:
            return
        if dropped:
            self.kernel_drops += dropped
            with self._cond:
                self.drops += dropped

    # -- channels and modes ----------------------------------------------------------------

    def _refused(self, what: str, exc: ChannelRefused) -> None:
        self.channel_control = f"refused: {exc}"
        if not self._refused_warned:
            self._refused_warned = True
            log.warning(
                "%s: cannot %s (%s); receiving on the current channel", self.name, what, exc
            )

    def _start_hopper(self, stop: threading.Event) -> None:
        if self._hopper is not None and self._hopper.is_alive():
            return
        channels = self.plan.channels
        if not self.hop and len(channels) != 1:
            return  # --no-hop without a single --channels: leave the card where it is
        self._hopper = threading.Thread(
            target=self._hop, args=(stop,), name=f"dronewatch-hop-{self.iface}", daemon=True
        )
        self._hopper.start()

    def _hop(self, stop: threading.Event) -> None:
        try:
            nl = Nl80211()
        except ChannelRefused as exc:
            self._refused("set channels", exc)
            return
        try:
            while not stop.is_set():
                channel, dwell = self.plan.next()
                if channel != self.channel:
                    try:
                        nl.set_channel(socket.if_nametoindex(self.iface), channel)
                    except OSError:  # the interface is gone: the receiver waits for it
                        if stop.wait(POLL_S):
                            return
                        continue
                    except ChannelRefused as exc:
                        self._refused(f"set channel {channel}", exc)
                        return
                    self.channel = channel
                    if self.channel_control.startswith("refused"):
                        self.channel_control = "hopping"
                if not self.hop:
                    return  # one channel, set once
                stop.wait(dwell)
        finally:
            nl.close()

    def _switch_to_monitor(self) -> None:
        """--monitor: interface down, type monitor, up; the old type comes back in close()."""
        from pyroute2 import IPRoute

        try:
            nl = Nl80211()
        except ChannelRefused as exc:
            raise SourceFatal(f"{self.iface}: cannot switch to monitor mode: {exc}") from exc
        try:
            index = socket.if_nametoindex(self.iface)
            old = nl.get_iftype(index)
            with IPRoute() as ipr:
                ipr.link("set", index=index, state="down")
                nl.set_iftype(index, NL80211_IFTYPE_MONITOR)
                ipr.link("set", index=index, state="up")
            self._restore_iftype = old
            log.info("%s: switched to monitor mode (was nl80211 type %d)", self.name, old)
        except ChannelRefused as exc:
            raise SourceFatal(f"{self.iface}: cannot switch to monitor mode: {exc}") from exc
        except PermissionError:
            raise SourceFatal(f"{self.iface}: {PERMISSION_HELP}") from None
        finally:
            nl.close()

    def close(self) -> None:
        # (The receiving loop sees the stop flag within POLL_S and closes its socket.)
        old, self._restore_iftype = self._restore_iftype, None
        if old is None or old == NL80211_IFTYPE_MONITOR:
            return
        from pyroute2 import IPRoute

        try:
            nl = Nl80211()
            try:
                index = socket.if_nametoindex(self.iface)
                with IPRoute() as ipr:
                    ipr.link("set", index=index, state="down")
                    nl.set_iftype(index, old)
                    ipr.link("set", index=index, state="up")
            finally:
                nl.close()
            log.info("%s: back to nl80211 interface type %d", self.name, old)
        except (ChannelRefused, OSError) as exc:
            log.warning("%s: could not restore the interface type: %s", self.name, exc)


def open_source(target: str, options: LiveOptions) -> WifiSource:
    """``wifi:IFACE``: a monitor-mode interface (see the module doc)."""
    return WifiSource(target, options)
