"""IQ sources: raw interleaved IQ and SigMF (read and write) -> DJI OcuSync frames."""

from __future__ import annotations

import json
import math
import os
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dronewatch.errors import Corrupt, DecodeError, Unsupported
from dronewatch.model import Transport
from dronewatch.phy.ocusync.channel import Impairments, apply
from dronewatch.phy.ocusync.numerology import CODED_BITS, FS, Layout
from dronewatch.phy.ocusync.transmitter import burst_baseband, transmit
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.iq import (
    burst_annotation,
    iter_samples,
    parse_datatype,
    read_frames,
    read_sigmf_meta,
    write_sigmf,
)
from dronewatch.stats import DecodeStats

PAYLOAD = bytes((11 * i + 5) % 256 for i in range(173))


def _expected(data_dir: Path) -> list[bytes]:
    blocks = json.loads((data_dir / "mavic_air_2.expected.json").read_text())
    return [bytes.fromhex(b["block_hex"])[:173] for b in blocks]


def _synthetic(fs: float = 30.72e6, snr_db: float = 25.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    burst = transmit(PAYLOAD, sample_rate=fs, freq_offset_hz=2e6)
    return apply(burst, fs, Impairments(snr_db=snr_db, cfo_hz=5e3), rng,
                 pad_before=int(0.5e-3 * fs), pad_after=int(0.5e-3 * fs))


def test_real_capture_raw_cf32(data_dir: Path) -> None:
    stats = DecodeStats()
    opts = CaptureOptions(iq_format="cf32", sample_rate_hz=50e6)
    frames = list(read_frames(data_dir / "mavic_air_2.cf32", opts, stats))
    assert [f.payload for f in frames] == _expected(data_dir)
    assert stats.packets_read == 3 and stats.frames_skipped == 0
    f = frames[0]
    assert f.transport is Transport.DJI_OCUSYNC and f.frequency_hz is None
    assert f.extra["crc_ok"] is True and f.extra["snr_db"] > 20
    assert f.extra["freq_offset_hz"] == pytest.approx(2.0074e6, abs=5e3)
    assert set(f.extra) >= {"snr_db", "cfo_hz", "crc_ok", "freq_offset_hz", "sample_offset"}
    # Raw files: start = modification time - duration; bursts at their offsets.
    path = data_dir / "mavic_air_2.cf32"
    start = os.path.getmtime(path) - os.path.getsize(path) / 8 / 50e6
    assert frames[2].time - start == pytest.approx(3.3089e-3, abs=2e-6)


def test_real_capture_with_centre_frequency_via_open_capture(data_dir: Path) -> None:
    opts = CaptureOptions(iq_format="cf32", sample_rate_hz=50e6, center_freq_hz=2.4295e9)
    frames = list(open_capture(data_dir / "mavic_air_2.cf32", opts))
    assert [round(f.frequency_hz or 0, -3) for f in frames] == [2.431507e9, 2.431507e9,
                                                                 2.41703e9]


@pytest.mark.parametrize("fmt", ["cf32", "cf64", "ci16", "ci8"])
def test_raw_formats(tmp_path: Path, fmt: str) -> None:
    x = _synthetic()
    scale = {"cf32": 1.0, "cf64": 1.0, "ci16": 3000.0, "ci8": 20.0}[fmt]
    inter = np.empty(2 * len(x))
    inter[0::2], inter[1::2] = x.real * scale, x.imag * scale
    dtype = {"cf32": "<f4", "cf64": "<f8", "ci16": "<i2", "ci8": "i1"}[fmt]
    if fmt in ("ci16", "ci8"):
        info = np.iinfo(np.dtype(dtype))
        inter = np.clip(np.round(inter), info.min, info.max)
    path = tmp_path / f"burst.{fmt}"
    inter.astype(dtype).tofile(path)
    frames = list(read_frames(path, CaptureOptions(sample_rate_hz=30.72e6), DecodeStats()))
    assert [f.payload for f in frames] == [PAYLOAD]


def test_sigmf_write_read_roundtrip(tmp_path: Path) -> None:
    x = _synthetic()
    t0 = 1_700_000_000.25
    ann = burst_annotation(15360, 30000, 2e6 - 4.5e6 + 2.44e9, 2e6 + 4.5e6 + 2.44e9)
    meta, data = write_sigmf(tmp_path / "rec", x, 30.72e6, datatype="ci16_le",
                             center_freq_hz=2.44e9, start_time=t0, annotations=[ann])
    assert meta.name == "rec.sigmf-meta" and data.name == "rec.sigmf-data"
    rec = read_sigmf_meta(meta)
    assert rec.datatype == "ci16_le" and rec.sample_rate == 30.72e6
    assert rec.captures[0].frequency_hz == 2.44e9
    assert rec.captures[0].datetime_s == pytest.approx(t0)
    assert rec.annotations[0]["core:label"] == "dji-ocusync"
    for p in (meta, data):  # either file of the pair opens the recording
        frames = list(open_capture(p, CaptureOptions()))
        assert [f.payload for f in frames] == [PAYLOAD]
        f = frames[0]
        assert f.time == pytest.approx(t0 + 0.5e-3, abs=1e-6)
        assert f.frequency_hz == pytest.approx(2.44e9 + 2e6 + 5e3, abs=200)


def test_sigmf_datatypes() -> None:
    assert parse_datatype("cf32_le").component == np.dtype("<f4")
    assert parse_datatype("ci16_be").component == np.dtype(">i2")
    cu8 = parse_datatype("cu8")
    assert np.allclose(cu8.convert(np.array([128, 0, 255, 128], np.uint8)),
                       [0.0 + -1.0j, 127 / 128 + 0j])
    for bad in ("rf32_le", "cf16_le", "x", ""):
        with pytest.raises(Unsupported):
            parse_datatype(bad)


def test_sigmf_errors(tmp_path: Path) -> None:
    meta = tmp_path / "a.sigmf-meta"
    meta.write_text("{not json")
    with pytest.raises(Corrupt):
        list(open_capture(meta))
    meta.write_text(json.dumps({"global": {"core:datatype": "cf32_le"}}))
    with pytest.raises(Corrupt, match="sample_rate"):
        list(open_capture(meta))
    meta.write_text(json.dumps({"global": {"core:datatype": "cf32_le",
                                           "core:sample_rate": 30.72e6}}))
    with pytest.raises(Corrupt, match="missing SigMF data"):
        list(open_capture(meta))
    meta.write_text(json.dumps({"global": {"core:datatype": "rf32_le",
                                           "core:sample_rate": 30.72e6}}))
    (tmp_path / "a.sigmf-data").write_bytes(b"")
    with pytest.raises(Unsupported):
        list(open_capture(meta))
    meta.write_text(json.dumps({"global": {"core:datatype": "cf32_le",
                                           "core:sample_rate": 2e6}}))
    with pytest.raises(Unsupported, match="too narrow"):
        list(open_capture(meta))


def test_raw_option_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.cf32"
    np.zeros(1000, np.complex64).tofile(path)
    with pytest.raises(DecodeError, match="sample-rate"):
        list(read_frames(path, CaptureOptions(), DecodeStats()))
    with pytest.raises(Unsupported, match="unknown IQ format"):
        list(read_frames(path, CaptureOptions(iq_format="cs4", sample_rate_hz=50e6),
                         DecodeStats()))
    other = tmp_path / "x.raw"
    other.write_bytes(b"\0" * 64)
    with pytest.raises(Unsupported):
        list(read_frames(other, CaptureOptions(sample_rate_hz=50e6), DecodeStats()))


def test_empty_short_odd_nan_files(tmp_path: Path) -> None:
    opts = CaptureOptions(iq_format="cf32", sample_rate_hz=30.72e6)
    empty = tmp_path / "e.cf32"
    empty.write_bytes(b"")
    assert list(read_frames(empty, opts, DecodeStats())) == []
    short = tmp_path / "s.cf32"
    short.write_bytes(b"\x00" * 13)
    assert list(read_frames(short, opts, DecodeStats())) == []
    odd = tmp_path / "o.cf32"
    odd.write_bytes(_synthetic().astype(np.complex64).tobytes() + b"\x01\x02\x03")
    assert [f.payload for f in read_frames(odd, opts, DecodeStats())] == [PAYLOAD]
    nan = tmp_path / "n.cf32"
    np.full(100000, np.nan + 1j * np.inf, np.complex64).tofile(nan)
    assert list(read_frames(nan, opts, DecodeStats())) == []


def test_failed_crc_counted_and_strict(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    bad = burst_baseband(PAYLOAD, Layout.SYM9, bits=rng.integers(0, 2, CODED_BITS, np.uint8))
    good = burst_baseband(PAYLOAD, Layout.SYM8)
    x = np.zeros(60000, np.complex64)
    x[5000 : 5000 + len(bad)] = bad
    x[30000 : 30000 + len(good)] = good
    x = apply(x, FS, Impairments(snr_db=20.0), rng)
    path = tmp_path / "mix.cf32"
    x.tofile(path)
    stats = DecodeStats()
    frames = list(read_frames(path, CaptureOptions(iq_format="cf32", sample_rate_hz=FS), stats))
    assert [f.payload for f in frames] == [PAYLOAD]
    assert frames[0].extra["layout"] == 8
    assert stats.packets_read == 2 and stats.skipped["dji-ocusync: crc"] == 1
    with pytest.raises(Corrupt):
        list(read_frames(path, CaptureOptions(iq_format="cf32", sample_rate_hz=FS,
                                              strict=True), DecodeStats()))


def test_iter_samples_chunks_and_bounds(tmp_path: Path) -> None:
    path = tmp_path / "c.ci8"
    data = np.arange(2 * 1000 + 1, dtype=np.int8) % 100
    data.tofile(path)
    fmt = parse_datatype("ci8")
    with path.open("rb") as fh:
        chunks = list(iter_samples(fh, fmt, chunk=300))
    assert [len(c) for c in chunks] == [300, 300, 300, 100]
    allx = np.concatenate(chunks)
    assert allx[1] == pytest.approx((2 + 3j) / 128)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=20000), fmt=st.sampled_from(["cf32", "ci16", "ci8", "cf64"]))
def test_fuzz_random_bytes_never_crash(tmp_path: Path, blob: bytes, fmt: str) -> None:
    path = tmp_path / f"fuzz.{fmt}"
    path.write_bytes(blob)
    try:
        frames = list(read_frames(path, CaptureOptions(sample_rate_hz=15.36e6), DecodeStats()))
    except DecodeError:
        return
    assert all(f.transport is Transport.DJI_OCUSYNC for f in frames)


def test_synthetic_sigmf_capture_from_frames(tmp_path: Path) -> None:
    from dronewatch.model import Frame
    from dronewatch.sim.ocusync_synth import write_sigmf_capture

    t = 1_750_000_000.0
    frames = [
        Frame(payload=PAYLOAD, time=t, transport=Transport.DJI_OCUSYNC, frequency_hz=2.4445e9),
        Frame(payload=PAYLOAD[::-1], time=t + 0.004, transport=Transport.DJI_OCUSYNC,
              frequency_hz=2.4295e9, extra={"snr_db": 5.0}),
        Frame(payload=PAYLOAD, time=t + 0.005, transport=Transport.DJI_OCUSYNC,
              frequency_hz=2.50e9),  # outside the captured band
        Frame(payload=b"\x01", time=t, transport=Transport.DJI_WIFI),
    ]
    summary = write_sigmf_capture(frames, tmp_path / "sim", sample_rate=30.72e6,
                                  center_freq_hz=2.437e9, datatype="ci16_le", seed=3)
    assert summary.bursts == 2 and summary.skipped == {"out-of-band": 1}
    rec = read_sigmf_meta(summary.meta_path)
    assert len(rec.annotations) == 2
    got = list(open_capture(summary.meta_path))
    assert [f.payload for f in got] == [PAYLOAD, PAYLOAD[::-1]]
    assert [round(f.time - t, 6) for f in got] == [0.0, 0.004]
    assert [round(f.frequency_hz or 0, -3) for f in got] == [2.4445e9, 2.4295e9]


def test_early_close_and_small_chunks_do_not_hang(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dronewatch.sources.iq as iq

    monkeypatch.setattr(iq, "CHUNK_SAMPLES", 4096)  # many chunks through the prefetch thread
    opts = CaptureOptions(iq_format="cf32", sample_rate_hz=50e6)
    gen = read_frames(data_dir / "mavic_air_2.cf32", opts, DecodeStats())
    first = next(gen)
    assert isinstance(gen, types.GeneratorType)
    gen.close()
    assert first.payload == _expected(data_dir)[0]
    assert [f.payload for f in read_frames(data_dir / "mavic_air_2.cf32", opts,
                                           DecodeStats())] == _expected(data_dir)


def test_cli_decode_real_capture(data_dir: Path) -> None:
    from click.testing import CliRunner

    from dronewatch.cli import main

    result = CliRunner().invoke(main, ["decode", "--json", "--iq-format", "cf32",
                                       "--sample-rate", "50e6",
                                       str(data_dir / "mavic_air_2.cf32")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["type"] for r in rows] == ["dji_serial", "dji_telemetry", "dji_telemetry"]
    assert [r.get("sequence") for r in rows] == [None, 589, 591]
    assert all(r["transport"] == "dji-ocusync" and r["crc_ok"] for r in rows)


def test_absurd_samples_before_a_burst_are_zeroed_and_counted(tmp_path: Path) -> None:
    """One 3.4e38 sample (and a NaN) before a burst must not hide the burst."""
    x = np.concatenate([np.zeros(2000, np.complex64), _synthetic().astype(np.complex64)])
    x[100] = np.complex64(3.4e38 + 3.4e38j)
    x[200] = np.complex64(np.nan)
    path = tmp_path / "spike.cf32"
    x.tofile(path)
    stats = DecodeStats()
    frames = list(read_frames(path, CaptureOptions(iq_format="cf32", sample_rate_hz=30.72e6),
                              stats))
    assert [f.payload for f in frames] == [PAYLOAD]
    assert stats.samples_zeroed == 2
    assert "2 IQ samples" in stats.summary()


def test_sample_rates_are_checked_before_allocating(tmp_path: Path) -> None:
    raw = tmp_path / "r.cf32"
    raw.write_bytes(bytes(800))
    for rate, match in ((1e12, "above"), (math.inf, "not a number"), (2e6, "too narrow")):
        with pytest.raises(DecodeError, match=match):
            list(read_frames(raw, CaptureOptions(sample_rate_hz=rate), DecodeStats()))


def _sigmf_pair(tmp_path: Path, name: str, meta: dict[str, object] | str) -> Path:
    path = tmp_path / f"{name}.sigmf-meta"
    path.write_text(meta if isinstance(meta, str) else json.dumps(meta))
    (tmp_path / f"{name}.sigmf-data").write_bytes(bytes(800))
    return path


_GOOD_META = {"global": {"core:datatype": "cf32_le", "core:sample_rate": 50e6,
                         "core:version": "1.0.0"}, "captures": [], "annotations": []}


def test_sigmf_metadata_is_validated_with_clear_errors(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, object] | str, str]] = [
        ({**_GOOD_META, "global": {**_GOOD_META["global"], "core:sample_rate": 1e300}},
         "core:sample_rate.*above"),
        ({**_GOOD_META, "global": {**_GOOD_META["global"], "core:num_channels": "two"}},
         "num_channels 'two' is not a whole number"),
        ('{"global": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ({**_GOOD_META, "captures": "none"}, "invalid SigMF metadata at captures"),
    ]
    for i, (meta, match) in enumerate(cases):
        path = _sigmf_pair(tmp_path, f"bad{i}", meta)
        with pytest.raises(DecodeError, match=match):
            list(open_capture(path))
    assert list(open_capture(_sigmf_pair(tmp_path, "good", _GOOD_META))) == []


def test_sigmf_archive_is_read(tmp_path: Path) -> None:
    """A .sigmf archive (tar of the pair) is read in place: the same frames as the pair."""
    import tarfile

    x = np.concatenate([np.zeros(1000, np.complex64), _synthetic().astype(np.complex64)])
    meta = {"global": {"core:datatype": "cf32_le", "core:sample_rate": 30.72e6,
                       "core:version": "1.0.0"},
            "captures": [{"core:sample_start": 0, "core:datetime": "2026-01-01T00:00:00Z"}],
            "annotations": []}
    pair = _sigmf_pair(tmp_path, "rec", meta)
    x.tofile(tmp_path / "rec.sigmf-data")
    archive = tmp_path / "rec.sigmf"
    with tarfile.open(archive, "w") as tar:
        tar.add(pair, arcname="rec/rec.sigmf-meta")
        tar.add(tmp_path / "rec.sigmf-data", arcname="rec/rec.sigmf-data")
    from_pair = [(f.payload, f.time) for f in open_capture(pair)]
    assert from_pair == [(PAYLOAD, from_pair[0][1])]
    assert [(f.payload, f.time) for f in open_capture(archive)] == from_pair
