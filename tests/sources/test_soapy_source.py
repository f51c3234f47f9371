"""The SoapySDR source around the device (issue 11). No SDR here: a fake ``SoapySDR`` module
stands in for the bindings; what is tested is this side of them - tuning and hopping,
overflow accounting (exact with time stamps), a device that disappears, bindings missing."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from dronewatch.sources import soapy as soapy_source
from dronewatch.sources.live import LiveOptions, SourceFatal, SourceState, open_live

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import iqplay  # noqa: E402

RATE = 15.36e6
WAIT_S = 60.0


class _Result:
    def __init__(self, ret: int, flags: int = 0, time_ns: int = 0) -> None:
        self.ret, self.flags, self.timeNs = ret, flags, time_ns


class FakeDevice:
    """Plays ``signal`` (complex64 at RATE); ``overflow_at``: samples lost at that index."""

    signal: np.ndarray = np.zeros(0, np.complex64)
    overflow_at: int | None = None
    lost = 0
    fail_at: int | None = None
    found: ClassVar[list[dict[str, str]]] = [{"driver": "fake", "label": "Fake SDR"}]
    throttle: Any = None
    log: ClassVar[list[tuple[str, Any]]] = []

    def __init__(self, args: str) -> None:
        self.pos = 0
        self.overflowed = False

    @staticmethod
    def enumerate(args: str) -> list[dict[str, str]]:
        return FakeDevice.found

    def setSampleRate(self, d: int, ch: int, rate: float) -> None:
        FakeDevice.log.append(("rate", rate))

    def hasGainMode(self, d: int, ch: int) -> bool:
        return True

    def setGainMode(self, d: int, ch: int, on: bool) -> None:
        FakeDevice.log.append(("agc", on))

    def setGain(self, d: int, ch: int, g: float) -> None:
        FakeDevice.log.append(("gain", g))

    def setFrequency(self, d: int, ch: int, f: float) -> None:
        FakeDevice.log.append(("freq", f))

    def setupStream(self, d: int, fmt: str) -> str:
        return "stream"

    def activateStream(self, s: str) -> None:
        pass

    def deactivateStream(self, s: str) -> None:
        pass

    def closeStream(self, s: str) -> None:
        pass

    def readStream(self, s: str, bufs: list[np.ndarray], n: int, timeoutUs: int = 0
                   ) -> _Result:
        if FakeDevice.throttle is not None:
            FakeDevice.throttle()
        if FakeDevice.fail_at is not None and self.pos >= FakeDevice.fail_at:
            return _Result(-5)
        if (FakeDevice.overflow_at is not None and not self.overflowed
                and self.pos >= FakeDevice.overflow_at):
            self.overflowed = True
            self.pos += FakeDevice.lost
            return _Result(soapy_source.SOAPY_SDR_OVERFLOW)
        if self.pos >= len(FakeDevice.signal):
            time.sleep(0.01)
            return _Result(soapy_source.SOAPY_SDR_TIMEOUT)
        chunk = FakeDevice.signal[self.pos : self.pos + n]
        bufs[0][: len(chunk)] = chunk
        t_ns = round(self.pos * 1e9 / RATE)
        self.pos += len(chunk)
        return _Result(len(chunk), soapy_source.SOAPY_SDR_HAS_TIME, t_ns)


@pytest.fixture()
def fake_soapy(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    mod = types.ModuleType("SoapySDR")
    mod.Device = FakeDevice  # type: ignore[attr-defined]
    mod.SOAPY_SDR_RX = 1  # type: ignore[attr-defined]
    mod.SOAPY_SDR_CF32 = "CF32"  # type: ignore[attr-defined]
    mod.errToStr = lambda ret: f"error {ret}"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "SoapySDR", mod)
    FakeDevice.log = []
    FakeDevice.overflow_at = FakeDevice.fail_at = None
    FakeDevice.found = [{"driver": "fake", "label": "Fake SDR"}]
    FakeDevice.throttle = None
    return mod


def _frames_until(source: Any, n: int) -> list[Any]:
    frames: list[Any] = []
    deadline = time.monotonic() + WAIT_S
    while len(frames) < n and time.monotonic() < deadline:
        batch = source.get(0.25)
        if batch is not None:
            frames += batch.frames
    return frames


def test_fixed_tuning_overflow_counted_exactly(fake_soapy: types.ModuleType) -> None:
    from dronewatch.phy.ocusync.receiver import warm_up

    warm_up()
    periods = [iqplay.period_samples(RATE, 0.6, iqplay.blocks()[k % 2], k) for k in range(3)]
    FakeDevice.signal = np.concatenate(periods)
    n = len(periods[0])
    FakeDevice.overflow_at = n + 40_000  # inside period 2, before its burst
    FakeDevice.lost = 77_777
    source = open_live("soapy:driver=fake", LiveOptions(extra={
        "sdr_rate_hz": RATE, "center_freq_hz": 2414.5e6, "sdr_gain_db": 30.0}))
    FakeDevice.throttle = lambda: _wait_idle(source)
    source.start()
    try:
        frames = _frames_until(source, 3)
        deadline = time.monotonic() + WAIT_S
        while source.health().detail["samples"] < len(FakeDevice.signal) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        source.stop()
    at = round(iqplay.BURST_AT_S * RATE)
    offsets = [f.extra["sample_offset"] for f in frames]
    # The lost samples (before period 2's burst) advance the counter exactly: every burst's
    # stream offset is its true position in the signal.
    assert len(frames) == 3
    assert [abs(o - (k * n + at)) <= 3 for k, o in enumerate(offsets)] == [True] * 3
    d = source.health().detail
    assert d["overflows"] == 1 and d["dropped_samples"] == FakeDevice.lost and d["gaps"] == 0
    assert d["device"] == "Fake SDR"
    assert ("freq", 2414.5e6) in FakeDevice.log and ("gain", 30.0) in FakeDevice.log


def _wait_idle(source: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while source._wq_samples > 0 and time.monotonic() < deadline:
        time.sleep(0.005)


def test_hops_over_the_plan_and_a_vanishing_device_is_retried(
    fake_soapy: types.ModuleType,
) -> None:
    FakeDevice.signal = np.zeros(int(0.5 * RATE), np.complex64) + np.complex64(1e-3)
    FakeDevice.fail_at = int(0.4 * RATE)
    source = open_live("soapy:driver=fake", LiveOptions(extra={
        "sdr_rate_hz": 30.72e6, "sdr_channels": [2414.5e6, 2444.5e6, 2474.5e6],
        "sdr_dwell_s": 0.02}))

    def slow() -> None:
        time.sleep(0.004)

    FakeDevice.throttle = slow
    source.start()
    deadline = time.monotonic() + WAIT_S
    while source.health().state is not SourceState.RETRYING and time.monotonic() < deadline:
        time.sleep(0.02)
    source.stop()
    h = source.health()
    assert "read failed" in (h.last_error or "")
    tuned = [f for k, f in FakeDevice.log if k == "freq"]
    assert set(tuned) == {2414.5e6, 2444.5e6, 2474.5e6} and len(tuned) >= 4
    assert h.detail["retunes"] >= 3 and h.detail["samples_skipped"] > 0
    assert h.detail["dropped_samples"] == 0
    assert ("agc", True) in FakeDevice.log


def test_no_device_found_is_retried_with_a_message(fake_soapy: types.ModuleType) -> None:
    FakeDevice.found = []
    source = open_live("soapy:driver=uhd", LiveOptions())
    source.start()
    deadline = time.monotonic() + WAIT_S
    while source.health().state is not SourceState.RETRYING and time.monotonic() < deadline:
        time.sleep(0.02)
    source.stop()
    assert "no SDR found for 'driver=uhd'" in (source.health().last_error or "")


def test_bindings_missing_is_fatal_with_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "SoapySDR", None)  # import fails
    monkeypatch.setattr(soapy_source, "SYSTEM_DIST_PACKAGES", tmp_path)
    with pytest.raises(SourceFatal, match="apt install python3-soapysdr"):
        soapy_source.import_soapy()
    source = open_live("soapy:", LiveOptions())
    source.start()
    deadline = time.monotonic() + WAIT_S
    while not source.done and time.monotonic() < deadline:
        time.sleep(0.02)
    h = source.health()
    assert h.state is SourceState.FAILED and "python3-soapysdr" in (h.last_error or "")


def test_default_plan_and_bad_rate() -> None:
    source = open_live("soapy:driver=hackrf", LiveOptions(extra={"sdr_rate_hz": 20e6}))
    assert len(source.detail()["tunings_hz"]) == 6  # a HackRF: one channel per tuning
    with pytest.raises(ValueError):
        open_live("soapy:", LiveOptions(extra={"sdr_rate_hz": 5e6}))
