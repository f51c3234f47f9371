"""Synthetic OcuSync IQ captures: DJI OcuSync frames -> a SigMF recording with noise.

The simulator produces :class:`~dronewatch.model.Frame` objects (payload, time, frequency);
:func:`write_sigmf_capture` turns the ``dji-ocusync`` ones into DroneID bursts in a SigMF
recording (one annotation per burst), streamed chunk by chunk so memory stays bounded. Mind
the size: a second at 50 MS/s cf32 is 400 MB (ci8: 100 MB).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dronewatch.model import Frame, Transport
from dronewatch.phy.ocusync.channel import awgn, noise_variance
from dronewatch.phy.ocusync.coding import PAYLOAD_BYTES
from dronewatch.phy.ocusync.numerology import BANDWIDTH_HZ, Layout
from dronewatch.phy.ocusync.transmitter import transmit
from dronewatch.sources.iq import (
    burst_annotation,
    encode_samples,
    parse_datatype,
    sigmf_paths,
    write_sigmf_meta,
)

CHUNK = 1 << 20


@dataclass(slots=True)
class SynthSummary:
    meta_path: Path
    data_path: Path
    samples: int = 0
    bursts: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class _Burst:
    start: int
    iq: npt.NDArray[np.complex64]


def write_sigmf_capture(
    frames: Iterable[Frame],
    base: str | Path,
    *,
    sample_rate: float = 50e6,
    center_freq_hz: float,
    snr_db: float = 20.0,
    layout: Layout = Layout.SYM9,
    datatype: str = "cf32_le",
    lead_s: float = 1e-3,
    seed: int = 0,
) -> SynthSummary:
    """Write the ``dji-ocusync`` frames as DroneID bursts at their time and frequency.

    Time zero of the recording is ``lead_s`` before the first frame; ``snr_db`` is the in-band
    SNR of every burst (the frame's ``extra["snr_db"]`` overrides it). Frames of another
    transport, with a wrong payload size or outside the captured band are skipped (counted).
    """
    fmt = parse_datatype(datatype)
    rng = np.random.default_rng(seed)
    meta_path, data_path = sigmf_paths(Path(base))
    summary = SynthSummary(meta_path, data_path)

    def skip(reason: str) -> None:
        summary.skipped[reason] = summary.skipped.get(reason, 0) + 1

    todo = sorted(
        (f for f in frames if f.transport is Transport.DJI_OCUSYNC), key=lambda f: f.time
    )
    if not todo:
        write_sigmf_meta(meta_path, fmt, sample_rate, center_freq_hz=center_freq_hz)
        data_path.write_bytes(b"")
        return summary
    t0 = todo[0].time - lead_s
    noise_var = noise_variance(1.0, 0.0, sample_rate)  # a 0 dB burst has unit power
    half_band = sample_rate / 2 - BANDWIDTH_HZ / 2
    bursts: list[_Burst] = []
    annotations = []
    for f in todo:
        if len(f.payload) != PAYLOAD_BYTES:
            skip("payload-size")
            continue
        offset = (f.frequency_hz if f.frequency_hz is not None else center_freq_hz) - center_freq_hz
        if abs(offset) > half_band:
            skip("out-of-band")
            continue
        snr = float((f.extra or {}).get("snr_db", snr_db))
        iq = transmit(f.payload, sample_rate=sample_rate, freq_offset_hz=offset, layout=layout,
                      amplitude=float(np.sqrt(10 ** (snr / 10))))
        phase = np.complex64(np.exp(2j * np.pi * rng.uniform()))
        start = round((f.time - t0) * sample_rate)
        bursts.append(_Burst(start, (iq * phase).astype(np.complex64)))
        annotations.append(
            burst_annotation(
                start, len(iq), center_freq_hz + offset - BANDWIDTH_HZ / 2,
                center_freq_hz + offset + BANDWIDTH_HZ / 2,
                comment=f"DroneID {layout.value}-symbol burst, {snr:.1f} dB",
            )
        )
    total = (max(b.start + len(b.iq) for b in bursts) if bursts else 0) + int(
        lead_s * sample_rate)
    with data_path.open("wb") as fh:
        first = 0
        for lo in range(0, total, CHUNK):
            hi = min(total, lo + CHUNK)
            x = awgn(hi - lo, noise_var, rng)
            while first < len(bursts) and bursts[first].start + len(bursts[first].iq) <= lo:
                first += 1
            for b in bursts[first:]:
                if b.start >= hi:
                    break
                a, e = max(lo, b.start), min(hi, b.start + len(b.iq))
                x[a - lo : e - lo] += b.iq[a - b.start : e - b.start]
            fh.write(encode_samples(x, fmt))
    summary.samples = total
    summary.bursts = len(bursts)
    write_sigmf_meta(meta_path, fmt, sample_rate, center_freq_hz=center_freq_hz, start_time=t0,
                     annotations=annotations,
                     description="dronewatch synthetic DJI OcuSync DroneID capture")
    return summary
