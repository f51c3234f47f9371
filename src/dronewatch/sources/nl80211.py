"""Wi-Fi channels and interface modes through nl80211 (pyroute2), and the channel plan.

:class:`ChannelPlan` decides which channel a monitor card listens on and for how long: by
default it dwells on 2.4 GHz channel 6 (Remote ID NAN and most drone beacons) and visits the
other 2.4 GHz channels and the 5 GHz ones (149: 5 GHz NAN) in between; channels where drones
were heard recently get a longer dwell (adaptive, as commercial receivers do).

:class:`Nl80211` sends the two requests a receiver needs (set the channel, set the interface
type) over generic netlink. On a device without cfg80211 behind it (a TUN stand-in, a driver
that refuses) they raise :class:`ChannelRefused`: the source warns once and keeps receiving
on the current channel.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from dronewatch.protocols.wifi import mhz_from_channel

NL80211_IFTYPE_STATION = 2
NL80211_IFTYPE_MONITOR = 6
NL80211_CHAN_WIDTH_20_NOHT = 0  # a 20 MHz channel without HT: what a monitor card hops with

HOME_CHANNEL = 6
OTHER_24 = (1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13)
CHANNELS_5 = (36, 40, 44, 48, 149, 153, 157, 161, 165)
DEFAULT_DWELL_S = 0.4
HOME_DWELL_FACTOR = 3.0  # the default plan stays this many dwells on channel 6
HEARD_DWELL_FACTOR = 3.0  # ... and on a channel where drones were heard lately
HEARD_WINDOW_S = 30.0


class ChannelRefused(Exception):
    """The channel or interface type cannot be set (no nl80211, the driver refused)."""


def parse_channels(text: str) -> list[int]:
    """``"6,1,11,149"`` -> ``[6, 1, 11, 149]``; ``ValueError`` for anything else."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            channel = int(part)
            mhz_from_channel(channel)
        except ValueError:
            raise ValueError(f"not a Wi-Fi channel: {part!r}") from None
        out.append(channel)
    if not out:
        raise ValueError("no channel given")
    return out


class ChannelPlan:
    """Which channel next and for how long.

    Without ``channels``: channel 6 for ``HOME_DWELL_FACTOR`` dwells, then one other channel
    (2.4 GHz, then 5 GHz, in turn) for one dwell, and back. With ``channels``: each in turn
    for one dwell. A channel where drones were heard in the last ``HEARD_WINDOW_S`` seconds
    gets ``HEARD_DWELL_FACTOR`` dwells.
    """

    def __init__(self, channels: Sequence[int] | None = None, dwell_s: float = DEFAULT_DWELL_S):
        self.dwell_s = dwell_s
        if channels:
            self._cycle = [(c, 1.0) for c in channels]
        else:
            self._cycle = []
            for other in (*OTHER_24, *CHANNELS_5):
                self._cycle += [(HOME_CHANNEL, HOME_DWELL_FACTOR), (other, 1.0)]
        self._next = 0
        self._heard: dict[int, float] = {}

    @property
    def channels(self) -> list[int]:
        return list(dict.fromkeys(c for c, _ in self._cycle))

    def heard(self, channel: int | None, now: float | None = None) -> None:
        """A drone was heard on ``channel``."""
        if channel is not None:
            self._heard[channel] = time.monotonic() if now is None else now

    def next(self, now: float | None = None) -> tuple[int, float]:
        """The next channel and how long to stay on it (seconds)."""
        now = time.monotonic() if now is None else now
        channel, factor = self._cycle[self._next]
        self._next = (self._next + 1) % len(self._cycle)
        heard = self._heard.get(channel)
        if heard is not None and now - heard < HEARD_WINDOW_S:
            factor = max(factor, HEARD_DWELL_FACTOR)
        return channel, self.dwell_s * factor


# --- nl80211 requests --------------------------------------------------------------------------


def set_channel_message(ifindex: int, channel: int) -> Any:
    """NL80211_CMD_SET_WIPHY on the interface: a 20 MHz channel without HT, given by its
    frequency, width and centre (what ``iw dev IFACE set channel N`` sends)."""
    from pyroute2.netlink.nl80211 import NL80211_NAMES, nl80211cmd

    mhz = mhz_from_channel(channel)
    msg = nl80211cmd()
    msg["cmd"] = NL80211_NAMES["NL80211_CMD_SET_WIPHY"]
    msg["attrs"] = [
        ["NL80211_ATTR_IFINDEX", ifindex],
        ["NL80211_ATTR_WIPHY_FREQ", mhz],
        ["NL80211_ATTR_CHANNEL_WIDTH", NL80211_CHAN_WIDTH_20_NOHT],
        ["NL80211_ATTR_CENTER_FREQ1", mhz],
    ]
    return msg


def set_iftype_message(ifindex: int, iftype: int) -> Any:
    """NL80211_CMD_SET_INTERFACE: monitor, station... (the interface must be down)."""
    from pyroute2.netlink.nl80211 import NL80211_NAMES, nl80211cmd

    msg = nl80211cmd()
    msg["cmd"] = NL80211_NAMES["NL80211_CMD_SET_INTERFACE"]
    msg["attrs"] = [["NL80211_ATTR_IFINDEX", ifindex], ["NL80211_ATTR_IFTYPE", iftype]]
    return msg


class Nl80211:
    """A generic-netlink socket to nl80211; every failure is :class:`ChannelRefused`."""

    def __init__(self) -> None:
        try:
            from pyroute2 import IW

            self._iw: Any = IW()
        except Exception as exc:  # NetlinkError ENOENT: no nl80211 family in this kernel
            raise ChannelRefused(f"no nl80211 in this kernel ({_why(exc)})") from exc

    def _request(self, msg: Any) -> None:
        from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST

        try:
            self._iw.nlm_request(msg, msg_type=self._iw.prid, msg_flags=NLM_F_REQUEST | NLM_F_ACK)
        except Exception as exc:
            raise ChannelRefused(_why(exc)) from exc

    def set_channel(self, ifindex: int, channel: int) -> None:
        self._request(set_channel_message(ifindex, channel))

    def set_iftype(self, ifindex: int, iftype: int) -> None:
        self._request(set_iftype_message(ifindex, iftype))

    def get_iftype(self, ifindex: int) -> int:
        try:
            for reply in self._iw.get_interface_by_ifindex(ifindex):
                value = reply.get_attr("NL80211_ATTR_IFTYPE")
                if value is not None:
                    return int(value)
        except Exception as exc:
            raise ChannelRefused(_why(exc)) from exc
        raise ChannelRefused(f"nl80211 does not know interface {ifindex}")

    def close(self) -> None:
        self._iw.close()


def _why(exc: BaseException) -> str:
    import errno
    import os

    code = getattr(exc, "code", None)
    if isinstance(code, int) and code > 0:
        return f"{errno.errorcode.get(code, code)}: {os.strerror(code)}"
    return str(exc) or exc.__class__.__name__
