"""The OcuSync IQ recorder of the simulator: idle time cut with true times kept, SNR from the
received power, cap and bad frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from dronewatch.model import Frame, Transport
from dronewatch.sim.iq_capture import (
    GAP_S,
    MAX_SNR_DB,
    NOISE_FLOOR_DBM,
    BurstRecorder,
)
from dronewatch.sources import open_capture
from dronewatch.sources.iq import read_sigmf_meta

FS = 50e6
CENTRE = 2414.5e6
T0 = 1_780_000_000.0


def _payload(k: int) -> bytes:
    from dronewatch.protocols.dji_droneid import DjiSerial
    from dronewatch.protocols.dji_ocusync import encode_payload

    return encode_payload(DjiSerial(serial=f"1WNTEST{k:07d}"))


def _frame(t: float, k: int, rssi: float | None = -70.0, freq: float = CENTRE) -> Frame:
    return Frame(payload=_payload(k), time=t, transport=Transport.DJI_OCUSYNC,
                 rssi_dbm=rssi, frequency_hz=freq)


def test_idle_time_cut_true_times_and_snr(tmp_path: Path) -> None:
    # (time from T0, RSSI): a pair 1.5 ms apart keeps its spacing; 10 s of idle time is cut
    plan = [(0.0, -90.0), (0.0015, None), (10.0, -20.0), (10.7, -80.0)]
    with BurstRecorder(tmp_path / "r", center_freq_hz=CENTRE, seed=1) as rec:
        for k, (dt, rssi) in enumerate(plan):
            assert rec.add(_frame(T0 + dt, k, rssi))
    s = rec.summary
    assert s.bursts == 4 and s.segments == 3 and not s.skipped
    meta = read_sigmf_meta(s.meta_path)
    starts = [a["core:sample_start"] for a in meta.annotations]
    # epoch floats near 1.8e9 s resolve 0.24 us: 12 samples
    assert abs(starts[1] - starts[0] - 0.0015 * FS) <= 12
    assert starts[2] - starts[1] == starts[3] - starts[2] == round(GAP_S * FS)
    assert s.samples == starts[3] + meta.annotations[3]["core:sample_count"] + round(GAP_S * FS) // 2
    assert s.bytes_written == s.samples * 4  # ci16

    got = list(open_capture(s.meta_path))
    assert [f.payload for f in got] == [_payload(k) for k in range(4)]
    assert [round(f.time - T0, 6) for f in got] == [dt for dt, _ in plan]
    want_snr = [-90.0 - NOISE_FLOOR_DBM, 20.0, MAX_SNR_DB, -80.0 - NOISE_FLOOR_DBM]
    for f, want in zip(got, want_snr, strict=True):
        assert f.extra is not None
        assert f.extra["snr_db"] == pytest.approx(want, abs=2.0)
        assert f.frequency_hz == pytest.approx(CENTRE, abs=2e3)


def test_cap_bad_frames_and_order(tmp_path: Path) -> None:
    rec = BurstRecorder(tmp_path / "c", center_freq_hz=CENTRE, max_seconds=0.01)
    assert rec.add(_frame(T0, 0))
    assert not rec.add(_frame(T0 + 1, 1, freq=CENTRE + 30e6))  # outside the 50 MHz band
    bad = Frame(payload=b"\x00" * 10, time=T0 + 1, transport=Transport.DJI_OCUSYNC)
    assert not rec.add(bad)
    with pytest.raises(ValueError, match="before"):
        rec.add(_frame(T0 - 1, 2))
    assert rec.add(_frame(T0 + 2, 3))  # at 6 ms of recording
    assert not rec.add(_frame(T0 + 3, 4))  # would start at 10 ms: the cap
    assert not rec.add(_frame(T0 + 4, 5))
    s = rec.close()
    assert s.bursts == 2
    assert s.skipped == {"out-of-band": 1, "payload-size": 1, "iq-cap": 2}
    assert [f.payload for f in open_capture(s.meta_path)] == [_payload(0), _payload(3)]


def test_empty_recording_and_bad_settings(tmp_path: Path) -> None:
    s = BurstRecorder(tmp_path / "e", center_freq_hz=CENTRE).close()
    assert s.bursts == 0 and s.samples == 0 and s.data_path.stat().st_size == 0
    assert list(open_capture(s.meta_path)) == []
    with pytest.raises(ValueError, match="gap_s"):
        BurstRecorder(tmp_path / "g", center_freq_hz=CENTRE, gap_s=1e-3)
    with pytest.raises(ValueError, match="max_seconds"):
        BurstRecorder(tmp_path / "m", center_freq_hz=CENTRE, max_seconds=0)
