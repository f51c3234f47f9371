"""Every message of every capture in tests/data, field by field, against independent decoders.

``<capture>.expected.jsonl`` holds what independent decoders read from each capture (tshark
with the opendroneid Wireshark dissector for Remote ID; see scripts/regenerate_expected.py,
which regenerates them, for DJI Wi-Fi and OcuSync), with dronewatch's JSON keys. Here
``dronewatch decode --json`` must print the same messages, in the same order, with every
field equal, except the few fields no independent decoder knows (``NOT_INDEPENDENT``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from dronewatch.decode import decode_frames
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.stats import DecodeStats

DATA = Path(__file__).parent / "data"
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cf32")
EXPECTED = sorted([*DATA.glob("*.expected.jsonl"), *DATA.glob("synthetic/*.expected.jsonl")])

# Keys dronewatch prints that no independent decoder gives, by transport:
NOT_INDEPENDENT: dict[str, frozenset[str]] = {
    # the model name is dronewatch's table's (cited entry by entry in dji_droneid.py) for the
    # product code, which is compared
    "dji-wifi": frozenset({"product"}),
    # the independent OcuSync chain gives the transport blocks, not where in the file nor how
    # strong each burst was: time (sample position), SNR, CFO, channel offset, layout
    "dji-ocusync": frozenset({"product", "time", "snr_db", "cfo_hz", "crc_ok",
                              "freq_offset_hz", "sample_offset", "layout"}),
}
TIME_TOL = 1e-6  # capture times: tshark prints nanoseconds; floats of epoch seconds
VALUE_TOL = 1e-9  # decoded values: the same integers scaled by the same factors


def _options(capture: Path) -> CaptureOptions:
    if capture.suffix == ".cf32":  # raw IQ: its format and rate are documented with it
        return CaptureOptions(iq_format="cf32", sample_rate_hz=50e6)
    return CaptureOptions()


def _dronewatch(capture: Path) -> list[dict[str, Any]]:
    stats = DecodeStats()
    frames = open_capture(capture, _options(capture), stats)
    # through the JSON encoder, as `dronewatch decode --json` prints them
    return [json.loads(json.dumps(d.to_json())) for d in decode_frames(frames, stats)]


def _same(key: str, got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
        return math.isclose(got, want, rel_tol=0.0, abs_tol=TIME_TOL if key == "time" else
                            VALUE_TOL * max(1.0, abs(want)))
    return bool(got == want and type(got) is type(want))


def test_every_real_capture_has_an_expected_decode() -> None:
    captures = sorted(p for p in DATA.iterdir() if p.suffix in CAPTURE_SUFFIXES)
    assert len(captures) == 6
    for capture in captures:
        assert capture.with_name(capture.name + ".expected.jsonl") in EXPECTED, capture.name


@pytest.mark.parametrize("expected", EXPECTED, ids=[p.name for p in EXPECTED])
def test_every_field_matches(expected: Path) -> None:
    capture = expected.with_name(expected.name.removesuffix(".expected.jsonl"))
    want = [json.loads(line) for line in expected.read_text().splitlines()]
    got = _dronewatch(capture)
    assert len(got) == len(want) > 0
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        skipped = NOT_INDEPENDENT.get(g["transport"], frozenset())
        assert set(g) - skipped == set(w), (i, set(g) ^ set(w))
        wrong = {k: (g[k], w[k]) for k in w if not _same(k, g[k], w[k])}
        assert not wrong, (i, g["type"], wrong)
