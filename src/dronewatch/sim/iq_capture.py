"""The DJI OcuSync bursts a sensor hears, as a SigMF IQ recording with the idle time cut out.

:func:`dronewatch.sim.ocusync_synth.write_sigmf_capture` keeps the true time between bursts,
filled with noise: at 50 MS/s that is 200-400 MB per second of scenario, nearly all noise (a
drone sends a 0.64 ms burst about every 0.5 s). :class:`BurstRecorder` keeps true time only
between bursts less than ``gap_s`` (4 ms) apart and cuts longer idle stretches to ``gap_s``;
each cut starts a new SigMF capture segment whose ``core:datetime`` is the true time, so the
frames read back (``dronewatch decode out.sigmf-meta``) carry the simulator's times. 4 ms keeps
the in-band duty cycle near 16 %, well below the 30 % quantile the burst detector takes as its
noise floor. The recording stops at ``max_seconds`` (later bursts are counted as ``iq-cap``).

A burst's in-band SNR is its received power (the simulator's path-loss RSSI, shadowing
included) over the thermal noise in the 9.015 MHz burst band plus a 6 dB noise figure, at most
35 dB: a receiver's gain is set so that near drones do not overload it, which bounds the SNR
(a frame without an RSSI gets 20 dB). Samples are ``ci16_le`` (half the size of cf32) with the
noise at -42 dBFS, which leaves the OFDM peaks of a 35 dB burst clear of full scale.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from dronewatch.model import Frame
from dronewatch.phy.ocusync.channel import awgn
from dronewatch.phy.ocusync.coding import PAYLOAD_BYTES
from dronewatch.phy.ocusync.numerology import BANDWIDTH_HZ, Layout, burst_duration_s
from dronewatch.phy.ocusync.transmitter import transmit
from dronewatch.sources.iq import (
    burst_annotation,
    encode_samples,
    parse_datatype,
    sigmf_paths,
    write_sigmf_meta,
)

SAMPLE_RATE = 50e6  # as ocusync_synth.py and common DroneID recordings (USRP, bladeRF)
DATATYPE = "ci16_le"
NOISE_RMS_FS = 2.0**-7  # noise level, relative to full scale (-42 dBFS)
NOISE_FIGURE_DB = 6.0
NOISE_FLOOR_DBM = -174.0 + 10.0 * math.log10(BANDWIDTH_HZ) + NOISE_FIGURE_DB  # -98.5 dBm
MAX_SNR_DB = 35.0
DEFAULT_SNR_DB = 20.0  # frames without an RSSI
GAP_S = 4e-3
MAX_SECONDS = 0.5
LAYOUT = Layout.SYM9  # OcuSync 2 (Mini 2, Mavic Air 2): what the simulated payloads claim
CHUNK = 1 << 20


@dataclass(slots=True)
class IqSummary:
    meta_path: Path
    data_path: Path
    sample_rate: float
    center_freq_hz: float
    bursts: int = 0
    samples: int = 0
    segments: int = 0  # SigMF capture segments: one per cut idle stretch, plus the first
    bytes_written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # "iq-cap", "out-of-band", ...

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    def to_json(self) -> dict[str, Any]:
        return {
            "meta_path": str(self.meta_path), "data_path": str(self.data_path),
            "sample_rate": self.sample_rate, "center_freq_hz": self.center_freq_hz,
            "datatype": DATATYPE, "bursts": self.bursts, "samples": self.samples,
            "seconds": self.seconds, "segments": self.segments,
            "bytes_written": self.bytes_written, "skipped": dict(self.skipped),
        }


@dataclass(slots=True, frozen=True)
class _Pending:
    start: int  # recording sample index
    iq: npt.NDArray[np.complex64]


class BurstRecorder:
    """Streams ``dji-ocusync`` frames (in time order) into ``base.sigmf-meta``/``-data``.

    Use as a context manager, or call :meth:`close`; the metadata is written on close.
    """

    def __init__(
        self,
        base: str | Path,
        *,
        center_freq_hz: float,
        sample_rate: float = SAMPLE_RATE,
        max_seconds: float = MAX_SECONDS,
        gap_s: float = GAP_S,
        seed: int = 0,
    ) -> None:
        burst_s = burst_duration_s(LAYOUT)
        if gap_s < 4 * burst_s:
            # A shorter gap puts the duty cycle near the detector's 30 % noise-floor quantile.
            raise ValueError(f"gap_s must be >= {4 * burst_s:.4f} s, got {gap_s}")
        if not max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
        meta_path, data_path = sigmf_paths(Path(base))
        self.summary = IqSummary(meta_path, data_path, float(sample_rate), float(center_freq_hz))
        self._fs = float(sample_rate)
        self._fmt = parse_datatype(DATATYPE)
        self._gap = round(gap_s * self._fs)
        self._max_samples = round(max_seconds * self._fs)
        self._half_band = self._fs / 2 - BANDWIDTH_HZ / 2
        self._rng = np.random.default_rng(seed)
        self._segments: list[tuple[int, float]] = []  # (sample_start, UTC epoch)
        self._annotations: list[dict[str, Any]] = []
        self._pending: list[_Pending] = []
        self._written = 0
        self._last: tuple[float, int] | None = None  # (true time, sample) of the last burst
        self._full = False
        self._fh = data_path.open("wb")

    def __enter__(self) -> BurstRecorder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._fh.close()

    def add(self, frame: Frame) -> bool:
        """Record the burst of ``frame``; False when it is skipped (counted in the summary)."""
        skipped = self.summary.skipped
        if self._full:
            skipped["iq-cap"] += 1
            return False
        if len(frame.payload) != PAYLOAD_BYTES:
            skipped["payload-size"] += 1
            return False
        centre = self.summary.center_freq_hz
        offset = (frame.frequency_hz if frame.frequency_hz is not None else centre) - centre
        if abs(offset) > self._half_band:
            skipped["out-of-band"] += 1
            return False
        start, segment = self._place(frame.time)
        if start >= self._max_samples:
            self._full = True
            skipped["iq-cap"] += 1
            return False
        if segment is not None:
            self._segments.append(segment)
        self._last = (frame.time, start)
        snr = (DEFAULT_SNR_DB if frame.rssi_dbm is None
               else min(MAX_SNR_DB, frame.rssi_dbm - NOISE_FLOOR_DBM))
        # In-band SNR is burst power over the noise in BANDWIDTH_HZ of the fs-wide noise.
        amplitude = NOISE_RMS_FS * math.sqrt(10.0 ** (snr / 10.0) * BANDWIDTH_HZ / self._fs)
        iq = transmit(frame.payload, sample_rate=self._fs, freq_offset_hz=offset,
                      layout=LAYOUT, amplitude=amplitude)
        iq *= np.complex64(np.exp(2j * np.pi * self._rng.uniform()))  # carrier phase
        self._flush(start)
        self._pending.append(_Pending(start, iq))
        self._annotations.append(
            burst_annotation(start, len(iq), centre + offset - BANDWIDTH_HZ / 2,
                             centre + offset + BANDWIDTH_HZ / 2,
                             comment=f"DroneID {LAYOUT.value}-symbol burst, {snr:.1f} dB")
        )
        self.summary.bursts += 1
        return True

    def _place(self, t: float) -> tuple[int, tuple[int, float] | None]:
        """Recording sample of a burst at UTC ``t``, and the capture segment it opens, if any."""
        if self._last is None:
            lead = self._gap // 2
            return lead, (0, t - lead / self._fs)
        last_t, last_start = self._last
        if t < last_t:
            raise ValueError(f"burst at {t} comes before the previous one at {last_t}")
        seg_start, seg_time = self._segments[-1]
        start = seg_start + round((t - seg_time) * self._fs)
        if start - last_start <= self._gap:
            return start, None
        start = last_start + self._gap
        # The cut sits mid-gap, clear of both bursts: a burst found a few samples early still
        # falls in its own segment.
        cut = start - self._gap // 2
        return start, (cut, t - (start - cut) / self._fs)

    def _flush(self, upto: int) -> None:
        """Write noise plus the pending bursts up to recording sample ``upto``."""
        while self._written < upto:
            lo = self._written
            hi = min(upto, lo + CHUNK)
            x = awgn(hi - lo, NOISE_RMS_FS**2, self._rng)
            for b in self._pending:
                a, e = max(lo, b.start), min(hi, b.start + len(b.iq))
                if a < e:
                    x[a - lo : e - lo] += b.iq[a - b.start : e - b.start]
            self._fh.write(encode_samples(x, self._fmt))
            self._written = hi
        self._pending = [b for b in self._pending if b.start + len(b.iq) > self._written]

    def close(self) -> IqSummary:
        """Write the last bursts and a half gap of noise, then the metadata."""
        if self._fh.closed:
            return self.summary
        if self._pending:
            self._flush(max(b.start + len(b.iq) for b in self._pending) + self._gap // 2)
        self._fh.close()
        s = self.summary
        s.samples = self._written
        s.segments = len(self._segments)
        first = self._segments[0][1] if self._segments else None
        write_sigmf_meta(s.meta_path, self._fmt, self._fs, center_freq_hz=s.center_freq_hz,
                         start_time=first, annotations=self._annotations,
                         description="dronewatch simulate: DJI OcuSync DroneID bursts "
                                     "(idle time cut; one capture segment per cut)",
                         time_jumps=self._segments[1:])
        s.bytes_written = s.data_path.stat().st_size
        return s
