"""The cases of issue 13, built byte for byte by scripts/build_synthetic_captures.py.

* message packs announcing more messages than their element holds (Wi-Fi beacon, NAN,
  Bluetooth 5): every complete message decoded, the cut one counted, and the spoofing
  evidence they carry raises its alerts;
* Remote ID under the pre-standard OUI 90:3A:E6;
* probe responses (``frame_kind``) and 802.11 retransmissions (dropped, counted).

Both capture paths (reference parsers, compiled scan) must agree on all of them.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner
from tests.protocols.test_ble_scan import check as ble_check
from tests.protocols.test_wifi_scan import check as wifi_check
from tests.sources.test_pcap_paths import assert_same, read_both

from dronewatch.cli import main
from dronewatch.decode import RETRY_REASON, decode_frames, is_retransmission
from dronewatch.model import Frame, Transport
from dronewatch.protocols import ble, wifi
from dronewatch.protocols.link_scan import FALLBACK
from dronewatch.sources import open_capture
from dronewatch.sources.pcap import read_packets
from dronewatch.stats import DecodeStats

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "tests" / "data" / "synthetic"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_synthetic_captures", ROOT / "scripts" / "build_synthetic_captures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _decode(path: Path) -> tuple[list[dict[str, Any]], DecodeStats]:
    stats = DecodeStats()
    return [d.to_json() for d in decode_frames(open_capture(path, stats=stats), stats)], stats


def test_committed_captures_are_what_the_script_builds(tmp_path: Path) -> None:
    built = _builder().build_all(tmp_path)
    assert sorted(p.name for p in built) == sorted(p.name for p in SYNTHETIC.glob("*.pcapng"))
    for path in built:
        assert path.read_bytes() == (SYNTHETIC / path.name).read_bytes(), path.name


def test_short_packs_give_every_complete_message() -> None:
    records, stats = _decode(SYNTHETIC / "rid_short_packs.pcapng")
    # 60 packs per transport, each with 3 complete messages; the cut Operator ID counted
    assert stats.frames_read == 180 and stats.messages_decoded == 540 == len(records)
    assert stats.skipped == {f"{t}: astm-truncated": 60
                             for t in ("wifi-beacon", "wifi-nan", "ble-long-range")}
    by_transport = Counter((r["transport"], r["frame_kind"], r["type"]) for r in records)
    for transport, kind in (("wifi-beacon", "beacon"), ("wifi-nan", "action"),
                            ("ble-long-range", "aux_advert")):
        for mtype in ("basic_id", "location", "system"):
            assert by_transport[transport, kind, mtype] == 60
    assert not any(r["type"] == "operator_id" for r in records)
    wifi_ids = {r["uas_id"] for r in records if r["type"] == "basic_id"}
    assert wifi_ids == {"SPOOFRIGWIFI0000001", "SPOOFRIGNAN00000002", "SPOOFRIGBLE00000003"}


def test_short_packs_raise_the_spoof_alerts_their_content_supports() -> None:
    result = CliRunner().invoke(
        main, ["analyze", "--json", str(SYNTHETIC / "rid_short_packs.pcapng")]
    )
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    tracks = {r["uas_id"] for r in records if r["kind"] == "track"}
    assert tracks == {"SPOOFRIGWIFI0000001", "SPOOFRIGNAN00000002", "SPOOFRIGBLE00000003"}
    opened = {(r["uas_id"], r["rule"]) for r in records
              if r["kind"] == "alert" and r["status"] == "open"}
    assert opened == {(uas, rule) for uas in tracks
                      for rule in ("spoof_pilot_distance", "spoof_motion", "spoof_clock")}
    assert "540 messages decoded" in result.stderr


def test_prestandard_oui_decodes() -> None:
    records, stats = _decode(SYNTHETIC / "rid_prestandard_oui.pcapng")
    assert stats.skipped == {} and stats.frames_read == 21 and len(records) == 105
    assert {r["transport"] for r in records} == {"wifi-beacon"}
    assert {r["uas_id"] for r in records if r["type"] == "basic_id"} == {"1596A0ESP32SN2021"}
    assert {r["protocol_version"] for r in records} == {0}


def test_probe_responses_say_so_and_retransmissions_are_counted_once() -> None:
    records, stats = _decode(SYNTHETIC / "rid_probe_responses.pcapng")
    # 24 beacons, 55 probe responses captured; 32 retransmissions of which one is the
    # first copy of its probe heard (its original was missed): 31 dropped
    assert stats.frames_read == 79
    assert stats.skipped == {RETRY_REASON: 31}
    kinds = Counter(r["frame_kind"] for r in records if r["type"] == "basic_id")
    assert kinds == {"beacon": 24, "probe_response": 24}
    assert {r["transport"] for r in records} == {"wifi-beacon"}
    assert len(records) == 48 * 5


@pytest.mark.parametrize("name", ["rid_short_packs.pcapng", "rid_prestandard_oui.pcapng",
                                  "rid_probe_responses.pcapng"])
def test_both_capture_paths_agree(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    results = read_both(monkeypatch, SYNTHETIC / name)
    assert_same(results)


def test_kernels_read_the_cut_packs_themselves() -> None:
    # the cut elements are the common case of a spoofing rig: read by the kernels, not
    # handed back to the reference parsers, and equal to what those give
    statuses: Counter[tuple[int, int]] = Counter()
    for name in ("rid_short_packs.pcapng", "rid_prestandard_oui.pcapng",
                 "rid_probe_responses.pcapng"):
        for _t, linktype, data in read_packets(SYNTHETIC / name):
            check = ble_check if linktype == ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR else wifi_check
            statuses[linktype, check(linktype, bytes(data))] += 1
    assert statuses == {(wifi.LINKTYPE_IEEE802_11_RADIOTAP, 1): 120 + 21 + 79,
                        (ble.LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR, 1): 60}
    assert FALLBACK not in {status for _, status in statuses}


def _frame(time: float, seq: int | None, retry: bool = False, source: str = "02:00:00:00:00:01",
           sensor: str = "s1", payload: bytes = b"x") -> Frame:
    return Frame(payload, time, Transport.WIFI_BEACON, source, sensor_id=sensor,
                 frame_kind="probe_response", link_seq=seq, link_retry=retry)


def test_retransmission_rule() -> None:
    last: dict[Any, Any] = {}
    assert not is_retransmission(last, _frame(1.0, 7))
    assert is_retransmission(last, _frame(1.1, 7, retry=True))
    assert is_retransmission(last, _frame(1.2, 7, retry=True))  # a second retransmission
    assert not is_retransmission(last, _frame(1.3, 7))  # no retry flag: a new frame
    assert not is_retransmission(last, _frame(1.4, 8, retry=True))  # first copy heard
    # another transmitter, another sensor: their own sequence numbers
    assert not is_retransmission(last, _frame(1.5, 8, retry=True, source="02:00:00:00:00:02"))
    assert not is_retransmission(last, _frame(1.6, 8, retry=True, sensor="s2"))
    # the payloads of one packet (same time) share its decision
    assert not is_retransmission(last, _frame(2.0, 9, payload=b"a"))
    assert not is_retransmission(last, _frame(2.0, 9, payload=b"b"))
    assert is_retransmission(last, _frame(2.1, 9, retry=True, payload=b"a"))
    assert is_retransmission(last, _frame(2.1, 9, retry=True, payload=b"b"))


def test_retransmission_memory_is_bounded_least_recently_heard_first() -> None:
    last: dict[Any, Any] = {}
    for i in range(10):
        is_retransmission(last, _frame(float(i), 1, source=f"02:00:00:00:00:{i:02x}"), memory=4)
        # the first transmitter keeps being heard: it is never the one forgotten
        is_retransmission(last, _frame(i + 0.5, 100 + i, source="02:00:00:00:00:00"), memory=4)
    assert len(last) == 4
    assert ("s1", "02:00:00:00:00:00") in last
    assert ("s1", "02:00:00:00:00:09") in last and ("s1", "02:00:00:00:00:01") not in last
