"""SoapySDR devices -> DJI DroneID frames: ``soapy:driver=uhd`` (``soapy:`` = the first found).

Any device with a Soapy module works: USRP B2xx (``soapysdr-module-uhd``), bladeRF, HackRF
(20 MS/s: one DroneID channel per tuning), LimeSDR, PlutoSDR, Airspy... The bindings are
Debian's ``python3-soapysdr`` (not on PyPI): they are imported from the system's
``dist-packages`` when the venv has none, and their absence is a clear, fatal message.

This module is thin on purpose: it tunes, reads and reports; the stream (sample counter,
drops, the receiver) is :class:`~dronewatch.sources.iq_live.IQStreamSource`. Options in
``LiveOptions.extra``: ``sdr_rate_hz`` (default 50 MS/s), ``sdr_gain_db`` (default: the
device's AGC), ``center_freq_hz`` (a fixed tuning) or ``sdr_channels`` (Hz, default the
2.4 GHz DroneID channels) with ``sdr_dwell_s`` (:mod:`.channel_plan`).

Overflows (``SOAPY_SDR_OVERFLOW``) are counted; with hardware time stamps the number of lost
samples is exact, without it the loss is a counted gap. A device that disappears (a read
error, no device found) is retried with backoff and reported in health.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dronewatch.model import Frame
from dronewatch.sources.channel_plan import (
    BAND_24_HZ,
    DEFAULT_DWELL_S,
    Hopper,
    Tuning,
    plan_tunings,
)
from dronewatch.sources.iq_live import IQChunk, IQStreamSource
from dronewatch.sources.live import LiveOptions, LiveSource, SourceError, SourceFatal

DEFAULT_RATE_HZ = 50e6
READ_SAMPLES = 1 << 17
READ_TIMEOUT_US = 250_000
SETTLE_S = 2e-3  # samples skipped after a retune (the synthesiser settling)
SYSTEM_DIST_PACKAGES = Path("/usr/lib/python3/dist-packages")
# SoapySDR's constants (SoapySDR/Constants.h, Errors.h), for fakes without the module
SOAPY_SDR_RX = 1
SOAPY_SDR_TIMEOUT = -1
SOAPY_SDR_OVERFLOW = -4
SOAPY_SDR_HAS_TIME = 1 << 2
MISSING = (
    "SoapySDR's Python bindings are not installed: on Debian/Ubuntu "
    "'apt install python3-soapysdr' and your device's module (soapysdr-module-uhd for a USRP, "
    "-hackrf, -bladerf, -lms7, -rtlsdr, -airspy...); check with 'SoapySDRUtil --find'"
)


def import_soapy() -> Any:
    """The ``SoapySDR`` module (from the system's dist-packages if the venv lacks it);
    :class:`SourceFatal` with what to install when it is nowhere."""
    try:
        return importlib.import_module("SoapySDR")
    except ImportError:
        pass
    path = str(SYSTEM_DIST_PACKAGES)
    if SYSTEM_DIST_PACKAGES.is_dir() and path not in sys.path:
        sys.path.append(path)  # last: the venv's own packages keep precedence
        try:
            return importlib.import_module("SoapySDR")
        except ImportError:
            pass
        finally:
            sys.path.remove(path)
    raise SourceFatal(MISSING)


def tunings_for(extra: Any, rate: float) -> list[Tuning]:
    """The tunings the options ask for: a fixed centre, or the plan over the channels."""
    centre = extra.get("center_freq_hz")
    if centre is not None:
        return [Tuning(float(centre), ())]
    channels = extra.get("sdr_channels") or BAND_24_HZ
    return plan_tunings(channels, rate)


class SoapySource(IQStreamSource):
    """One SoapySDR receive channel, tuned or hopping over the DroneID channel plan."""

    def __init__(self, target: str, options: LiveOptions) -> None:
        extra = options.extra
        rate = float(extra.get("sdr_rate_hz") or DEFAULT_RATE_HZ)
        self.args = target
        self.tunings = tunings_for(extra, rate)
        super().__init__(f"soapy:{target}", options, rate, self.tunings[0].center_hz)
        self.integer_samples = True  # CF32 from Soapy is scaled to +-1 full scale
        self.gain_db: float | None = extra.get("sdr_gain_db")
        self.hopper = Hopper(self.tunings, float(extra.get("sdr_dwell_s") or DEFAULT_DWELL_S))
        self.device_label: str | None = None
        self.retunes = 0

    def detail(self) -> dict[str, Any]:
        return {
            **super().detail(),
            "device": self.device_label,
            "tunings_hz": [t.center_hz for t in self.tunings],
            "dwell_s": self.hopper.dwell_s,
            "retunes": self.retunes,
        }

    def run(self, stop: threading.Event) -> None:
        import_soapy()  # missing bindings are said at once, before the receiver warms up
        super().run(stop)

    def heard(self, frame: Frame) -> None:
        self.hopper.heard(time.monotonic(), frame.frequency_hz)

    def chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        soapy = import_soapy()
        found = soapy.Device.enumerate(self.args)
        if not found:
            raise SourceError(
                f"no SDR found for {self.args or 'any driver'!r} (is it plugged in and its "
                "Soapy module installed? 'SoapySDRUtil --find' lists what Soapy sees)"
            )
        dev = soapy.Device(self.args)
        self.device_label = str(dict(found[0]).get("label") or dict(found[0]).get("driver"))
        rx = getattr(soapy, "SOAPY_SDR_RX", SOAPY_SDR_RX)
        dev.setSampleRate(rx, 0, self.sample_rate)
        if hasattr(dev, "setBandwidth"):
            with contextlib.suppress(Exception):  # not every device has a settable filter
                dev.setBandwidth(rx, 0, self.sample_rate)
        if self.gain_db is None:
            if dev.hasGainMode(rx, 0):
                dev.setGainMode(rx, 0, True)
        else:
            dev.setGain(rx, 0, float(self.gain_db))
        now = time.monotonic()
        tuning = self.hopper.start(now)
        dev.setFrequency(rx, 0, tuning.center_hz)
        stream = dev.setupStream(rx, getattr(soapy, "SOAPY_SDR_CF32", "CF32"))
        dev.activateStream(stream)
        buf = np.empty(READ_SAMPLES, np.complex64)
        expected_ns: int | None = None
        overflowed = False
        pending_skip = 0
        try:
            centre: float | None = tuning.center_hz
            while not stop.is_set():
                if self.hopper.due(time.monotonic()):
                    tuning = self.hopper.advance(time.monotonic())
                    dev.setFrequency(rx, 0, tuning.center_hz)
                    self.retunes += 1
                    centre = tuning.center_hz
                    pending_skip = int(SETTLE_S * self.sample_rate)
                    expected_ns = None
                sr = dev.readStream(stream, [buf], READ_SAMPLES, timeoutUs=READ_TIMEOUT_US)
                ret = int(sr.ret)
                if ret == SOAPY_SDR_TIMEOUT:
                    continue
                if ret == SOAPY_SDR_OVERFLOW:
                    overflowed = True
                    continue
                if ret < 0:
                    raise SourceError(f"{self.name}: read failed: {soapy.errToStr(ret)}")
                samples = buf[:ret]
                if pending_skip:
                    take = min(pending_skip, ret)
                    pending_skip -= take
                    samples = samples[take:]
                    if not len(samples):
                        yield IQChunk(samples, skipped_before=take)
                        continue
                    skipped = take
                else:
                    skipped = 0
                dropped, gap = 0, False
                has_time = bool(int(sr.flags) & SOAPY_SDR_HAS_TIME)
                if overflowed:
                    if has_time and expected_ns is not None:
                        lost_ns = int(sr.timeNs) - expected_ns
                        dropped = max(0, round(lost_ns * self.sample_rate / 1e9))
                    else:
                        gap = True
                yield IQChunk(samples.copy(), dropped_before=dropped, gap=gap,
                              center_freq_hz=centre, overflow=overflowed,
                              skipped_before=skipped)
                centre = None
                overflowed = False
                if has_time:
                    expected_ns = int(sr.timeNs) + round(ret * 1e9 / self.sample_rate)
        finally:
            with contextlib.suppress(Exception):  # the device may be gone already
                dev.deactivateStream(stream)
                dev.closeStream(stream)


def open_source(target: str, options: LiveOptions) -> LiveSource:
    """``soapy:ARGS``: SoapySDR device arguments (``driver=uhd``, ``driver=hackrf,serial=..``)."""
    return SoapySource(target, options)
