"""Link-layer dispatch and the packet builder used by the simulator."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import Corrupt, DecodeError, NotMine
from dronewatch.model import Frame, Transport
from dronewatch.protocols import ble, link, wifi
from dronewatch.sources.pcap import PcapngWriter, iter_packets


def test_dispatch_table_covers_every_link_type() -> None:
    for lt in (105, 127, 187, 192, 201, 251, 256, 272):
        assert link.parser_for(lt) is not None
    assert link.family_of(127) == "wifi"
    assert link.family_of(272) == "ble"
    assert link.family_of(1) == "link"
    with pytest.raises(NotMine) as e:
        link.frames_from_packet(1, b"\x00" * 60, 0.0)  # Ethernet
    assert e.value.reason == "unsupported-linktype"


def test_register_link_one_line() -> None:
    calls: list[bytes] = []

    def parser(data: bytes, time: float, sensor: str) -> list[Frame]:
        calls.append(data)
        return [Frame(data, time, Transport.FR_BEACON, sensor_id=sensor)]

    link.register_link(147, "user0")(parser)  # LINKTYPE_USER0
    try:
        (f,) = link.frames_from_packet(147, b"abc", 2.0, "s")
        assert (f.payload, f.time, f.sensor_id, calls) == (b"abc", 2.0, "s", [b"abc"])
        assert link.family_of(147) == "user0"
    finally:
        link._PARSERS.pop(147)
        link._FAMILY.pop(147)


@pytest.mark.parametrize(
    ("transport", "linktype"),
    [
        (Transport.WIFI_BEACON, 127),
        (Transport.WIFI_NAN, 127),
        (Transport.DJI_WIFI, 127),
        (Transport.FR_BEACON, 127),
        (Transport.BLE_LEGACY, 256),
        (Transport.BLE_LONG_RANGE, 256),
    ],
)
def test_packet_from_frame_defaults(transport: Transport, linktype: int) -> None:
    frame = Frame(b"\x02" * 25, 1e9, transport, "02:11:22:33:44:55", -60.0, None, None, "a", 7)
    lt, packet = link.packet_from_frame(frame)
    assert lt == linktype
    (got,) = link.frames_from_packet(lt, packet, 1e9, "a")
    assert (got.transport, got.payload, got.source, got.rssi_dbm) == (
        transport, frame.payload, frame.source, -60.0)


def test_packet_from_frame_refuses_ocusync_and_mismatched_link_types() -> None:
    with pytest.raises(ValueError):
        link.packet_from_frame(Frame(b"x", 0.0, Transport.DJI_OCUSYNC))
    with pytest.raises(ValueError):
        link.packet_from_frame(Frame(b"x" * 25, 0.0, Transport.BLE_LEGACY), 127)
    with pytest.raises(ValueError):
        link.packet_from_frame(Frame(b"x", 0.0, Transport.WIFI_BEACON), 256)


@pytest.mark.parametrize("transport", [Transport.WIFI_BEACON, Transport.BLE_LONG_RANGE])
def test_packet_from_frame_tolerates_odd_metadata(transport: Transport) -> None:
    """The simulator may hand over NaN RSSI or a channel number no band has."""
    frame = Frame(b"\x02" * 25, 5.0, transport, "02:11:22:33:44:55", math.nan, 250, None)
    lt, packet = link.packet_from_frame(frame)
    (got,) = link.frames_from_packet(lt, packet, 5.0)
    assert got.rssi_dbm is None and got.payload == frame.payload
    assert got.channel in (None, 10)


frames = st.builds(
    Frame,
    payload=st.binary(min_size=1, max_size=150),
    time=st.floats(min_value=1e9, max_value=2e9, allow_nan=False),
    transport=st.sampled_from([t for t in Transport if t not in (
        Transport.DJI_OCUSYNC, Transport.ANTSDR_DRONEID)]),  # no link-layer packets
    source=st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":")),
    rssi_dbm=st.none() | st.integers(-100, -1).map(float),
    counter=st.integers(0, 255),
)
WIFI_LTS = [wifi.LINKTYPE_IEEE802_11_RADIOTAP, wifi.LINKTYPE_IEEE802_11, wifi.LINKTYPE_PPI]
BLE_LTS = sorted(ble.BLE_LINKTYPES)


@given(st.lists(st.tuples(frames, st.integers(0, 10)), min_size=1, max_size=6))
@settings(max_examples=100, deadline=None)
def test_round_trip_through_pcapng(items: list[tuple[Frame, int]]) -> None:
    """Frames -> packets of every link type -> one pcapng -> frames again."""
    buf = io.BytesIO()
    w = PcapngWriter(buf)
    sent: list[Frame] = []
    for frame, pick in items:
        if frame.transport is Transport.BLE_LEGACY:
            frame = Frame((frame.payload * 25)[:25], frame.time, frame.transport, frame.source,
                          frame.rssi_dbm, None, None, "local", frame.counter)
        lts = BLE_LTS if frame.transport in (Transport.BLE_LEGACY, Transport.BLE_LONG_RANGE) else WIFI_LTS
        lt, packet = link.packet_from_frame(frame, lts[pick % len(lts)])
        w.write(frame.time, lt, packet)
        sent.append(frame)
    got: list[Frame] = []
    for t, lt, data in iter_packets(buf.getvalue()):
        got += link.frames_from_packet(lt, data, t, "local")
    assert [(f.transport, f.payload, f.source) for f in got] == [
        (f.transport, f.payload, f.source) for f in sent]
    for a, b in zip(sent, got, strict=True):
        assert b.time == pytest.approx(a.time, abs=1e-6)


@given(st.integers(0, 300), st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_fuzz_any_link_type(linktype: int, data: bytes) -> None:
    try:
        out = link.frames_from_packet(linktype, data, 0.0)
    except DecodeError as exc:
        assert isinstance(exc, NotMine | Corrupt) or exc.reason
        return
    assert out


def test_every_transport_has_a_decoder() -> None:
    from dronewatch.model import Transport
    from dronewatch.protocols import decoders

    assert set(decoders()) == set(Transport)


def test_a_decoder_module_that_fails_to_import_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    import dronewatch.protocols as protocols

    (tmp_path / "broken_decoder_for_test.py").write_text("raise RuntimeError('a bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(protocols, "_loaded", False)
    monkeypatch.setattr(protocols, "_DECODER_MODULES",
                        (*protocols._DECODER_MODULES, "broken_decoder_for_test"))
    with pytest.raises(protocols.DecoderImportError, match="a bug"):
        protocols.decoders()
    with pytest.raises(protocols.DecoderImportError):  # again at the next use, not silence
        protocols.decoders()
    sys.modules.pop("broken_decoder_for_test", None)
    # a module that imports but leaves a transport without a decoder
    (tmp_path / "empty_decoder_for_test.py").write_text("")
    monkeypatch.setattr(protocols, "_DECODER_MODULES", ("empty_decoder_for_test",))
    monkeypatch.setattr(protocols, "_DECODERS", {})
    with pytest.raises(protocols.DecoderImportError, match="no decoder registered"):
        protocols.decoders()
