"""``read_frames`` gives the same frames and counts through both of its paths.

Large captures are read by the compiled index and link scan, small ones by the reference
parsers (``FAST_PATH_MIN_BYTES``). Here both paths read the same files, real and built,
whole, damaged and cut short, and must agree on every frame, every count and every error.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dronewatch.decode import decode_frames
from dronewatch.errors import DecodeError
from dronewatch.model import Frame, Transport
from dronewatch.protocols import ble, dji_wifi, fr_beacon, wifi
from dronewatch.protocols.astm import BasicId, IdType, Location, encode, encode_pack
from dronewatch.protocols.link import packet_from_frame
from dronewatch.sources import CaptureOptions
from dronewatch.sources import pcap_frames as pcap
from dronewatch.sources.pcap import PcapngWriter, PcapWriter
from dronewatch.sources.pcap_frames import read_frames
from dronewatch.stats import DecodeStats

PATHS = {"reference": 1 << 62, "scanned": 0}


def read_both(
    monkeypatch: pytest.MonkeyPatch, path: Path, *, strict: bool = False
) -> dict[str, tuple[list[Frame] | str, DecodeStats]]:
    """Frames (or the error raised, as text) and stats of ``path`` through each path."""
    out: dict[str, tuple[list[Frame] | str, DecodeStats]] = {}
    for name, threshold in PATHS.items():
        monkeypatch.setattr(pcap, "FAST_PATH_MIN_BYTES", threshold)
        stats = DecodeStats()
        frames: list[Frame] = []
        try:
            for frame in read_frames(path, CaptureOptions(strict=strict), stats):
                frames.append(frame)
        except DecodeError as exc:
            out[name] = (f"{type(exc).__name__} {exc.reason} after {len(frames)}", stats)
            continue
        out[name] = (frames, stats)
    return out


def assert_same(results: dict[str, tuple[list[Frame] | str, DecodeStats]]) -> None:
    (ref, ref_stats), (fast, fast_stats) = results["reference"], results["scanned"]
    assert fast == ref
    assert fast_stats == ref_stats


def test_real_captures(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    captures = sorted(p for p in data_dir.iterdir() if p.suffix in (".pcap", ".pcapng"))
    assert len(captures) >= 5
    for path in captures:
        results = read_both(monkeypatch, path)
        assert_same(results)
        frames, _ = results["scanned"]
        assert isinstance(frames, list) and frames, path.name


def _dji_payload() -> bytes:
    """A DJI DroneID Wi-Fi payload from the real capture in tests/data."""
    path = Path(__file__).parent.parent / "data" / "dji_wifi_spoofed_single.pcapng"
    frames = list(read_frames(path, CaptureOptions(), DecodeStats()))
    assert frames and frames[0].transport is Transport.DJI_WIFI
    return dji_wifi.encode(dji_wifi.decode(frames[0].payload)[0])


def _mixed_traffic(n: int, seed: int) -> list[tuple[float, int, bytes]]:
    """Packets of every link type and transport, ordinary traffic and broken packets."""
    rng = random.Random(seed)
    dji = _dji_payload()
    packets: list[tuple[float, int, bytes]] = []
    for i in range(n):
        t = 1_700_000_000.0 + i * 0.01
        mac = f"02:00:00:00:{i % 7:02x}:{i % 5:02x}"
        loc = encode(Location(lat=48.0 + i * 1e-5, lon=2.0, alt_geo=100.0, speed=5.0))
        basic = encode(BasicId(id_type=IdType.SERIAL_NUMBER, uas_id=f"SN{i % 7:06d}"))
        pack = encode_pack([basic, loc])
        kind = rng.randrange(9)
        if kind == 0:
            frame = Frame(pack, t, Transport.WIFI_BEACON, mac, -50.0, 6, 2437e6, counter=i & 255)
            lt = rng.choice((wifi.LINKTYPE_IEEE802_11_RADIOTAP, wifi.LINKTYPE_IEEE802_11,
                             wifi.LINKTYPE_PPI))
        elif kind == 1:
            frame = Frame(pack, t, Transport.WIFI_NAN, mac, -60.0, 6, 2437e6, counter=i & 255)
            lt = wifi.LINKTYPE_IEEE802_11_RADIOTAP
        elif kind == 2:
            frame = Frame(loc, t, Transport.BLE_LEGACY, mac, -70.0, 37, 2402e6, counter=i & 255)
            lt = rng.choice((ble.LINKTYPE_NORDIC_BLE, ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR,
                             ble.LINKTYPE_BLUETOOTH_LE_LL, ble.LINKTYPE_BLUETOOTH_HCI_H4))
        elif kind == 3:
            frame = Frame(pack, t, Transport.BLE_LONG_RANGE, mac, -80.0, 5, None, counter=i & 255)
            lt = rng.choice((ble.LINKTYPE_NORDIC_BLE, ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR))
        elif kind == 4 and i % 2:
            beacon = fr_beacon.FrBeacon(uas_id=f"FRA{i % 7:027d}", lat=48.0, lon=2.0, alt=100.0)
            frame = Frame(fr_beacon.encode(beacon), t, Transport.FR_BEACON, mac, -75.0, 1,
                          2412e6)
            lt = wifi.LINKTYPE_IEEE802_11_RADIOTAP
        elif kind == 4:
            frame = Frame(dji, t, Transport.DJI_WIFI, mac, -55.0, 6, 2437e6)
            lt = wifi.LINKTYPE_IEEE802_11_RADIOTAP
        elif kind == 5:  # an ordinary access point
            ap = wifi.build_beacon(bytes.fromhex(f"0011223344{i % 256:02x}"), [], ssid=b"office")
            packets.append((t, 127, wifi.build_radiotap(-40, 2437) + ap))
            continue
        elif kind == 6:  # a Bluetooth advert received with a failed CRC
            pdu = ble.legacy_pdu(b"\x01" * 6, ble.odid_service_data(0, loc))
            packets.append((t, 272, ble.nordic_packet(pdu, 37, -90.0, good_crc=False)))
            continue
        elif kind == 7:  # a damaged packet: a real one cut short
            frame = Frame(pack, t, Transport.WIFI_BEACON, mac, -50.0, 6, 2437e6, counter=1)
            lt, data = packet_from_frame(frame)
            packets.append((t, lt, data[: rng.randrange(len(data))]))
            continue
        else:  # a link type nobody reads
            packets.append((t, 1, b"\xff" * 60))
            continue
        lt, data = packet_from_frame(frame, lt)
        packets.append((t, lt, data))
    return packets


@pytest.mark.parametrize("writer", [PcapngWriter, PcapWriter])
def test_mixed_traffic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, writer: type) -> None:
    packets = _mixed_traffic(3000, seed=1)
    path = tmp_path / "mixed.pcap"
    args: tuple[int, ...] = ()
    if writer is PcapWriter:  # one link type per classic pcap file
        packets = [p for p in packets if p[1] == 127]
        args = (127,)
    with writer(path, *args) as w:
        for t, lt, data in packets:
            w.write(t, lt, data)
    results = read_both(monkeypatch, path)
    assert_same(results)
    frames, stats = results["scanned"]
    assert isinstance(frames, list) and len(frames) > len(packets) // 3
    assert stats.packets_read == len(packets)
    assert stats.skipped  # the broken packets are counted, not lost
    decoded = list(decode_frames(frames))
    assert {d.frame.transport for d in decoded} >= {Transport.WIFI_BEACON}


def test_damaged_captures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Cut short or overwritten files: the index hands over to the reference reader."""
    whole = tmp_path / "whole.pcapng"
    with PcapngWriter(whole) as w:
        for t, lt, data in _mixed_traffic(400, seed=2):
            w.write(t, lt, data)
    raw = whole.read_bytes()
    rng = random.Random(3)
    damaged = tmp_path / "damaged.pcapng"
    for _ in range(12):
        cut = bytearray(raw[: rng.randrange(len(raw))])
        if rng.random() < 0.5 and len(cut) > 200:
            at = rng.randrange(100, len(cut))
            cut[at : at + 8] = bytes(rng.randrange(256) for _ in range(8))
        damaged.write_bytes(bytes(cut))
        assert_same(read_both(monkeypatch, damaged))
        assert_same(read_both(monkeypatch, damaged, strict=True))


def test_consumer_stops_early(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Closing the frame stream half-way releases the file (no view of the mmap is left)."""
    path = tmp_path / "mixed.pcapng"
    with PcapngWriter(path) as w:
        for t, lt, data in _mixed_traffic(500, seed=4):
            w.write(t, lt, data)
    monkeypatch.setattr(pcap, "FAST_PATH_MIN_BYTES", 0)
    stream = read_frames(path, CaptureOptions(), DecodeStats())
    first = [next(stream) for _ in range(10)]
    stream.close()  # would raise BufferError if the mmap were still exported
    assert len(first) == 10


def test_a_capture_that_cannot_be_mapped_is_streamed(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, tmp_path: Path
) -> None:
    """A FIFO named *.pcapng is read in bounded chunks (small ones here, so that blocks
    straddle them), giving what the file gives; nothing is read whole."""
    import os
    import threading

    from dronewatch.sources import open_capture
    from dronewatch.sources import pcap as reader

    monkeypatch.setattr(reader, "STREAM_CHUNK", 700)
    for path in sorted(p for p in data_dir.iterdir() if p.suffix in (".pcap", ".pcapng")):
        want_stats = DecodeStats()
        want = list(open_capture(path, CaptureOptions(), want_stats))
        fifo = tmp_path / f"stream{path.suffix}"
        os.mkfifo(fifo)

        def feed(source: Path = path, target: Path = fifo) -> None:
            with target.open("wb") as out:
                out.write(source.read_bytes())

        writer = threading.Thread(target=feed)
        writer.start()
        got_stats = DecodeStats()
        got = list(open_capture(fifo, CaptureOptions(), got_stats))
        writer.join(timeout=60)
        fifo.unlink()
        assert got == want, path.name
        assert got_stats == want_stats, path.name
