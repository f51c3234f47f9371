"""A Wi-Fi monitor interface stand-in: a TUN device whose link type is radiotap (ARPHRD 803).

Frames written into it reach AF_PACKET sockets (and libpcap, dumpcap) as if a monitor-mode
card had received them; closing it makes the interface disappear (a card unplugged).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import struct
import subprocess
from pathlib import Path

TUNSETIFF = 0x400454CA
TUNSETLINK = 0x400454CD
IFF_TUN = 0x0001
ARPHRD_IEEE80211_RADIOTAP = 803
_PI = struct.pack("!HH", 0, 0x0019)  # packet information: ETH_P_80211_RAW
_names = itertools.count()


def unique_name(prefix: str = "dwt") -> str:
    """An interface name no other test (of this or another process) uses: <= 15 chars."""
    return f"{prefix}{os.getpid() % 100000}x{next(_names)}"[:15]


class RadiotapTun:
    def __init__(self, name: str, linktype: int = ARPHRD_IEEE80211_RADIOTAP) -> None:
        self.name = name
        self.fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN))
        fcntl.ioctl(self.fd, TUNSETLINK, linktype)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)

    def write(self, frame: bytes) -> None:
        os.write(self.fd, _PI + frame)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @property
    def exists(self) -> bool:
        return Path(f"/sys/class/net/{self.name}").exists()

    def __enter__(self) -> RadiotapTun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
