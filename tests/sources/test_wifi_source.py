"""The Wi-Fi monitor source through the real kernel path: a radiotap TUN interface."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.sources.tunutil import RadiotapTun, unique_name

from dronewatch.model import Frame
from dronewatch.protocols import wifi
from dronewatch.sources import open_capture
from dronewatch.sources.live import LiveOptions, LiveSource, SourceState, open_live
from dronewatch.sources.nl80211 import (
    NL80211_IFTYPE_MONITOR,
    ChannelPlan,
    set_channel_message,
    set_iftype_message,
)
from dronewatch.sources.pcap import read_packets
from dronewatch.sources.wifi import MGMT_FILTER

DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURE = DATA / "odid_wifi_bcn_sample.pcap"
WAIT_S = 30.0
DRONEWATCH = str(Path(sys.executable).parent / "dronewatch")

pytestmark = pytest.mark.skipif(
    not Path("/dev/net/tun").exists(), reason="needs /dev/net/tun (CI and dev machines have it)"
)


def _packets() -> list[bytes]:
    return [bytes(d) for _t, _lt, d in read_packets(CAPTURE)]


def _wait(cond: object, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _drain(source: LiveSource, into: list[Frame]) -> int:
    while (batch := source.get()) is not None:
        into += batch.frames
    return len(into)


def _started(source: LiveSource, tun: RadiotapTun) -> None:
    """Wait until the source's socket is bound (its first frames would be lost otherwise)."""
    _wait(lambda: getattr(source, "_sock", None) is not None, "the socket")


def _data_frame() -> bytes:
    """An 802.11 data frame: most of the air time, never a drone element."""
    return wifi.build_radiotap(-40, 2437) + b"\x08\x02" + b"\x00" * 22 + b"\xaa" * 60


def _bad_fcs(packet: bytes) -> bytes:
    frame = wifi.frames_from_radiotap(packet, 0.0)[0]
    return wifi.build_radiotap(-50, 2437, fcs=True, bad_fcs=True) + wifi.with_fcs(
        wifi.build_80211_for_frame(frame)
    )


# A header claiming 6 bytes (less than its own fixed part), with a beacon's frame control
# byte where the filter looks: passes the kernel filter, refused by the radiotap parser.
MALFORMED_RADIOTAP = b"\x00\x00\x06\x00\x00\x00\x80\x00" + b"\x00" * 30


def test_frames_filter_times_and_bad_input() -> None:
    packets = _packets()
    want = [f.payload for f in open_capture(CAPTURE)]
    with RadiotapTun(unique_name()) as tun:
        source = open_live(f"wifi:{tun.name}", LiveOptions(sensor_id="mast", extra={"hop": False}))
        source.start()
        try:
            _started(source, tun)
            before = time.time()
            for packet in packets:
                tun.write(_data_frame())  # dropped in the kernel by the BPF filter
                tun.write(packet)
            tun.write(_bad_fcs(packets[0]))
            tun.write(MALFORMED_RADIOTAP)
            tun.write(packets[0][:40])  # a beacon cut short
            after = time.time()
            got: list[Frame] = []
            _wait(lambda: _drain(source, got) >= len(want), "the capture's frames")
            health = source.health()
            _wait(lambda: source.health().detail["packets"] >= len(packets) + 3, "bad ones")
            health = source.health()
        finally:
            source.stop()
    assert [f.payload for f in got] == want
    assert all(before <= f.time <= after + 1.0 for f in got)  # kernel receive time: now
    assert {f.sensor_id for f in got} == {"mast"}
    assert all(f.rssi_dbm is not None for f in got)
    assert health.detail["packets"] == len(packets) + 3  # no data frame got through
    assert health.skipped["wifi: bad-fcs"] == 1
    assert health.skipped["wifi: bad-radiotap"] == 1
    assert sum(health.skipped.values()) == 3
    assert health.drops == 0 and health.state is SourceState.RUNNING


def test_without_the_filter_every_frame_reaches_the_parser() -> None:
    packets = _packets()[:5]
    with RadiotapTun(unique_name()) as tun:
        extra = {"hop": False, "bpf": False}
        source = open_live(f"wifi:{tun.name}", LiveOptions(extra=extra))
        source.start()
        try:
            _started(source, tun)
            for packet in packets:
                tun.write(_data_frame())
                tun.write(packet)
            _wait(lambda: source.health().detail["packets"] >= 2 * len(packets), "packets")
        finally:
            source.stop()


def test_interface_unplugged_and_back() -> None:
    packets = _packets()
    name = unique_name()
    tun = RadiotapTun(name)
    source = open_live(f"wifi:{name}", LiveOptions(extra={"hop": False}))
    source.start()
    got: list[Frame] = []
    try:
        _started(source, tun)
        tun.write(packets[0])
        _wait(lambda: _drain(source, got) >= 1, "a frame")
        tun.close()  # unplugged
        _wait(lambda: source.state is SourceState.RETRYING, "the source to notice")
        assert "waiting" in (source.last_error or "") or "went away" in (source.last_error or "")
        tun = RadiotapTun(name)  # plugged in again
        _wait(lambda: getattr(source, "_sock", None) is not None, "the socket again")
        for packet in packets[1:4]:
            tun.write(packet)
        _wait(lambda: _drain(source, got) >= 4, "frames after the return")
        assert source.state is SourceState.RUNNING
    finally:
        source.stop()
        tun.close()
    assert [f.payload for f in got] == [f.payload for f in open_capture(CAPTURE)][:4]


def test_not_in_monitor_mode() -> None:
    with RadiotapTun(unique_name(), linktype=1) as tun:  # ARPHRD_ETHER: a managed card
        source = open_live(f"wifi:{tun.name}")
        source.start()
        _wait(lambda: source.done, "the source to give up")
        source.stop()
    assert source.state is SourceState.FAILED
    assert "not in monitor mode" in (source.last_error or "")
    assert "set type monitor" in (source.last_error or "") and "--monitor" in source.last_error


def test_channel_change_refused_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    packets = _packets()
    caplog.set_level(logging.WARNING, logger="dronewatch.sources.wifi")
    with RadiotapTun(unique_name()) as tun:
        source = open_live(f"wifi:{tun.name}", LiveOptions(extra={"dwell_s": 0.05}))
        source.start()
        try:
            _started(source, tun)
            _wait(lambda: source.detail()["channel_control"].startswith("refused"), "refusal")
            for packet in packets:
                tun.write(packet)
            got: list[Frame] = []
            _wait(lambda: _drain(source, got) >= len(packets), "frames after the refusal")
        finally:
            source.stop()
    warnings = [r for r in caplog.records if "cannot set" in r.getMessage()]
    assert len(warnings) == 1
    assert source.state is SourceState.STOPPED and source.errors == 0


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_missing_cap_net_raw_says_how_to_fix_it() -> None:
    with RadiotapTun(unique_name()) as tun:
        proc = subprocess.run(
            ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw",
             DRONEWATCH, "decode", "--json", "--wifi", tun.name, "--no-hop"],
            capture_output=True, text=True, timeout=120,
        )
    assert proc.returncode == 1
    assert "CAP_NET_RAW" in proc.stderr and "setcap" in proc.stderr


# -- nl80211 messages and the channel plan ------------------------------------------------------


def _decoded(msg: object) -> dict[str, object]:
    from pyroute2.netlink.nl80211 import nl80211cmd

    msg.encode()  # type: ignore[attr-defined]
    back = nl80211cmd(msg.data)  # type: ignore[attr-defined]
    back.decode()
    return {"cmd": back["cmd"], **{name: value for name, value in back["attrs"]}}


def test_set_channel_message() -> None:
    # Numbers from the kernel's include/uapi/linux/nl80211.h.
    msg = _decoded(set_channel_message(7, 6))
    assert msg["cmd"] == 2  # NL80211_CMD_SET_WIPHY
    assert msg["NL80211_ATTR_IFINDEX"] == 7
    assert msg["NL80211_ATTR_WIPHY_FREQ"] == 2437
    assert msg["NL80211_ATTR_CHANNEL_WIDTH"] == 0  # NL80211_CHAN_WIDTH_20_NOHT
    assert msg["NL80211_ATTR_CENTER_FREQ1"] == 2437
    assert _decoded(set_channel_message(7, 149))["NL80211_ATTR_WIPHY_FREQ"] == 5745
    raw = set_channel_message(7, 11)
    raw.encode()
    # attribute 38 (NL80211_ATTR_WIPHY_FREQ), u32 2462, little-endian, after the genl header
    assert bytes.fromhex("0800") + (38).to_bytes(2, "little") + (2462).to_bytes(4, "little") in (
        bytes(raw.data)
    )


def test_set_iftype_message() -> None:
    msg = _decoded(set_iftype_message(3, NL80211_IFTYPE_MONITOR))
    assert msg["cmd"] == 6  # NL80211_CMD_SET_INTERFACE
    assert msg["NL80211_ATTR_IFINDEX"] == 3 and msg["NL80211_ATTR_IFTYPE"] == 6


def test_default_plan_dwells_on_6() -> None:
    plan = ChannelPlan(dwell_s=0.4)
    steps = [plan.next(now=0.0) for _ in range(2 * len(plan.channels))]
    time_on = {}
    for channel, dwell in steps:
        time_on[channel] = time_on.get(channel, 0.0) + dwell
    assert steps[0] == (6, pytest.approx(1.2))
    assert {1, 11, 13, 36, 149, 165} <= set(time_on)
    assert time_on[6] > 0.5 * sum(time_on.values())  # most of the time on channel 6
    assert all(d == pytest.approx(0.4) for c, d in steps if c != 6)


def test_plan_stays_longer_where_drones_were_heard() -> None:
    plan = ChannelPlan([1, 11, 149], dwell_s=0.2)
    plan.heard(11, now=100.0)
    steps = [plan.next(now=110.0) for _ in range(3)]
    assert steps == [(1, pytest.approx(0.2)), (11, pytest.approx(0.6)), (149, pytest.approx(0.2))]
    assert plan.next(now=200.0) == (1, pytest.approx(0.2))
    assert plan.next(now=200.0) == (11, pytest.approx(0.2))  # heard too long ago


def test_filter_program_shape() -> None:
    assert MGMT_FILTER[-1][0] == 0x06 and MGMT_FILTER[-1][3] > 0  # the last one accepts
    for i, (code, jt, jf, _k) in enumerate(MGMT_FILTER):
        if code == 0x15:  # every jump lands inside the program
            assert i + 1 + jt < len(MGMT_FILTER) and i + 1 + jf < len(MGMT_FILTER)


def test_monitor_switch_refused_without_nl80211() -> None:
    """--monitor on a card nl80211 cannot switch (here: a TUN device, no cfg80211)."""
    with RadiotapTun(unique_name(), linktype=1) as tun:
        source = open_live(f"wifi:{tun.name}", LiveOptions(extra={"monitor": True}))
        source.start()
        _wait(lambda: source.done, "the source to give up")
        source.stop()
    assert source.state is SourceState.FAILED
    assert "cannot switch to monitor mode" in (source.last_error or "")
