"""IQ recordings -> DJI OcuSync DroneID frames: raw interleaved IQ and SigMF.

Raw files (``cf32``, ``cf64``, ``ci16``, ``ci8``; aliases ``fc32``/``cfile``/``cs16``/``cs8``/
``sc16``/``sc8``) carry no metadata: the format comes from ``CaptureOptions.iq_format`` or the
file suffix, the sample rate from ``CaptureOptions.sample_rate_hz`` (required) and the centre
frequency from ``CaptureOptions.center_freq_hz`` (optional). Their capture start time is the
file's modification time minus the capture duration (a recorder closes the file when it
stops); a SigMF recording uses its ``core:datetime``.

SigMF (``.sigmf-meta`` + ``.sigmf-data``): ``core:datatype`` (``cf32_le``, ``cf64_le``,
``ci32_le``, ``ci16_le``, ``ci8``, ``cu8``, ``cu16_le``, big-endian variants), ``core:sample_rate``
and per-capture ``core:frequency`` / ``core:datetime``. :func:`write_sigmf` writes recordings
(with burst annotations) that :func:`read_frames` reads back.

Samples are streamed in chunks (bounded memory for any file length); the receiver keeps the
overlap it needs between chunks.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import numpy.typing as npt

from dronewatch.errors import Corrupt, DecodeError, Unsupported
from dronewatch.model import Frame, FrameKind, Transport
from dronewatch.sources import CaptureOptions
from dronewatch.stats import DecodeStats

if TYPE_CHECKING:
    from dronewatch.phy.ocusync.receiver import BurstResult

CHUNK_SAMPLES = 1 << 21
SIGMF_VERSION = "1.0.0"

RAW_FORMATS: dict[str, str] = {
    "cf32": "cf32_le",
    "fc32": "cf32_le",
    "cfile": "cf32_le",
    "cf64": "cf64_le",
    "fc64": "cf64_le",
    "ci16": "ci16_le",
    "cs16": "ci16_le",
    "sc16": "ci16_le",
    "ci8": "ci8",
    "cs8": "ci8",
    "sc8": "ci8",
    "cu8": "cu8",
}

_DATATYPE = re.compile(r"^c([fiu])(8|16|32|64)(_le|_be)?$")


@dataclass(slots=True, frozen=True)
class SampleFormat:
    """A complex sample layout: numpy component dtype, scale to +-1 and offset (unsigned)."""

    datatype: str
    component: np.dtype[Any]
    scale: float
    offset: float

    @property
    def sample_bytes(self) -> int:
        return 2 * self.component.itemsize

    def convert_into(self, raw: npt.NDArray[Any], out: npt.NDArray[np.complex64],
                     compiled: bool = True) -> None:
        """Interleaved components -> ``out`` (``len(raw) // 2`` samples), in one pass for
        floats and signed integers (no temporary array; ``compiled``: by a numba kernel, else
        by numpy, which needs no compiler loaded)."""
        dst = out.view(np.float32)
        if self.component == np.dtype("<f4"):
            dst[:] = raw
        elif not self.offset and self.component.kind == "i" and not compiled:
            np.multiply(raw, np.float32(self.scale), out=dst)
        elif not self.offset and self.component.kind == "i" and self.component.isnative:
            from dronewatch.sources.iq_kernels import scale_into

            scale_into(raw, self.scale, dst)
        else:
            out[:] = self.convert(raw)

    def convert(self, raw: npt.NDArray[Any]) -> npt.NDArray[np.complex64]:
        """Interleaved components -> complex64 (even length expected)."""
        if self.component == np.dtype("<f4"):
            return raw.view(np.complex64)
        if not self.offset and self.component.kind == "i":
            # One pass (convert and scale together): ci16 at 50 MS/s is 100 M values a second.
            out = np.empty(raw.shape, np.float32)
            np.multiply(raw, np.float32(self.scale), out=out)
            return out.view(np.complex64)
        with np.errstate(over="ignore"):  # cf64 beyond float32 range -> inf, zeroed later
            f = raw.astype(np.float32)
        if self.offset:
            f -= np.float32(self.offset)
        if self.scale != 1.0:
            f *= np.float32(self.scale)
        return f.view(np.complex64)


def parse_datatype(datatype: str) -> SampleFormat:
    """A SigMF complex ``core:datatype`` -> :class:`SampleFormat`; ``Unsupported`` otherwise."""
    m = _DATATYPE.match(datatype.strip().lower())
    if m is None:
        raise Unsupported(f"unsupported IQ datatype {datatype!r} (need complex samples)",
                          reason="iq-datatype")
    kind, bits_s, endian = m.group(1), int(m.group(2)), m.group(3)
    bits = bits_s
    order = ">" if endian == "_be" else "<"
    if bits == 8:
        order = "|"
    if kind == "f":
        if bits not in (32, 64):
            raise Unsupported(f"unsupported float size in {datatype!r}", reason="iq-datatype")
        return SampleFormat(datatype, np.dtype(f"{order}f{bits // 8}"), 1.0, 0.0)
    letter = "i" if kind == "i" else "u"
    dt = np.dtype(f"{order}{letter}{bits // 8}")
    half = float(2 ** (bits - 1))
    return SampleFormat(datatype, dt, 1.0 / half, half if kind == "u" else 0.0)


def raw_format(name: str) -> SampleFormat:
    key = name.strip().lower().lstrip(".")
    if key not in RAW_FORMATS:
        raise Unsupported(
            f"unknown IQ format {name!r}; use one of {', '.join(sorted(RAW_FORMATS))}",
            reason="iq-format",
        )
    return parse_datatype(RAW_FORMATS[key])


def iter_samples(
    fh: BinaryIO, fmt: SampleFormat, *, start: int = 0, count: int | None = None,
    chunk: int = CHUNK_SAMPLES,
) -> Iterator[npt.NDArray[np.complex64]]:
    """complex64 chunks of ``count`` samples (all if None) from sample ``start``.

    A trailing partial sample is ignored.
    """
    fh.seek(start * fmt.sample_bytes)
    remaining = math.inf if count is None else count
    while remaining > 0:
        n = int(min(chunk, remaining))
        data = fh.read(n * fmt.sample_bytes)
        whole = len(data) // fmt.sample_bytes
        if whole == 0:
            return
        raw = np.frombuffer(data[: whole * fmt.sample_bytes], dtype=fmt.component)
        yield fmt.convert(raw)
        remaining -= whole
        if whole < n:
            return


# -- SigMF ------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class CaptureSegment:
    sample_start: int
    frequency_hz: float | None
    datetime_s: float | None


@dataclass(slots=True)
class SigMFRecording:
    meta_path: Path
    data_path: Path
    datatype: str
    sample_rate: float
    captures: list[CaptureSegment]
    annotations: list[dict[str, Any]] = field(default_factory=list)
    global_: dict[str, Any] = field(default_factory=dict)
    data_offset: int = 0  # where the samples start in data_path (an archive's member)
    data_size: int | None = None  # bytes of samples from there (None: to the end)

    def segment_for(self, sample: int) -> CaptureSegment:
        seg = self.captures[0]
        for c in self.captures:
            if c.sample_start <= sample:
                seg = c
        return seg


def sigmf_paths(path: Path) -> tuple[Path, Path]:
    name = path.name
    for suffix in (".sigmf-meta", ".sigmf-data"):
        if name.endswith(suffix):
            base = path.with_name(name[: -len(suffix)])
            return base.with_name(base.name + ".sigmf-meta"), base.with_name(
                base.name + ".sigmf-data")
    return path.with_name(name + ".sigmf-meta"), path.with_name(name + ".sigmf-data")


def parse_datetime(text: str) -> float:
    """ISO-8601 (``...Z``) -> UTC epoch seconds; ``Corrupt`` if unreadable."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise Corrupt(f"bad core:datetime {text!r}", reason="sigmf-datetime") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def format_datetime(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: Sample rates a recording may declare (the receiver's own limit is checked again there).
MIN_SAMPLE_RATE_HZ = 10e6
MAX_SAMPLE_RATE_HZ = 250e6  # = phy.ocusync.receiver.MAX_SAMPLE_RATE_HZ (numpy-free here)


def check_sample_rate(rate: object, where: str) -> float:
    """``rate`` as a float if it is a number in the range the receiver reads, else a clear
    ``DecodeError`` (before anything sized by it is allocated)."""
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
        raise Corrupt(f"{where}: sample rate {rate!r} is not a number", reason="iq-sample-rate")
    if rate < MIN_SAMPLE_RATE_HZ:
        raise Unsupported(
            f"{where}: {rate / 1e6:g} MS/s is too narrow for DJI OcuSync DroneID "
            f"(needs >= {MIN_SAMPLE_RATE_HZ / 1e6:g} MS/s)", reason="iq-sample-rate")
    if rate > MAX_SAMPLE_RATE_HZ:
        raise Unsupported(
            f"{where}: sample rate {rate:g} S/s is above the {MAX_SAMPLE_RATE_HZ / 1e6:g} MS/s "
            "dronewatch reads", reason="iq-sample-rate")
    return float(rate)


def _check_global(meta: object, where: Path) -> tuple[str, float]:
    """(datatype, sample rate) of SigMF metadata, checked for what dronewatch reads."""
    glob = meta.get("global") if isinstance(meta, dict) else None
    if not isinstance(glob, dict):
        raise Corrupt(f"{where}: no 'global' object", reason="sigmf-meta")
    datatype = glob.get("core:datatype")
    if not isinstance(datatype, str):
        raise Corrupt(f"{where}: core:datatype missing", reason="sigmf-meta")
    parse_datatype(datatype)  # Unsupported for a sample format dronewatch does not read
    if "core:sample_rate" not in glob:
        raise Corrupt(f"{where}: core:sample_rate missing", reason="sigmf-meta")
    rate = check_sample_rate(glob["core:sample_rate"], f"{where}: core:sample_rate")
    channels = glob.get("core:num_channels", 1)
    if isinstance(channels, bool) or not isinstance(channels, int):
        raise Corrupt(f"{where}: core:num_channels {channels!r} is not a whole number",
                      reason="sigmf-meta")
    if channels != 1:
        raise Unsupported(f"{where}: {channels} channels; dronewatch reads one",
                          reason="sigmf-channels")
    return datatype, rate


def read_sigmf_meta(path: Path) -> SigMFRecording:
    """A SigMF recording (``.sigmf-meta`` + ``.sigmf-data`` pair, or ``.sigmf`` archive), read
    and validated against the SigMF schema by the ``sigmf`` library; what is invalid or
    outside what dronewatch reads is a ``Corrupt``/``Unsupported`` with a clear message."""
    import tarfile

    import jsonschema
    from sigmf import schema, sigmffile, validate
    from sigmf.error import SigMFError

    meta_path, data_path = sigmf_paths(path)
    archive = path.name.lower().endswith(".sigmf")
    where = path if archive else meta_path
    try:
        if not archive:  # what dronewatch needs first (clear messages), then the schema
            if not meta_path.exists():
                raise Corrupt(f"{meta_path}: missing SigMF metadata", reason="sigmf-meta")
            meta = json.loads(meta_path.read_bytes())
            _check_global(meta, where)
            if not data_path.exists():
                raise Corrupt(f"{data_path}: missing SigMF data file", reason="sigmf-data")
            validate.validate(meta, schema.get_schema())
            # (the samples are read here, not through the library: it maps no data file)
            rec = sigmffile.SigMFFile(metadata=meta, skip_checksum=True)
        else:
            rec = sigmffile.fromfile(str(path), skip_checksum=True)
        if not isinstance(rec, sigmffile.SigMFFile):
            raise Unsupported(f"{where}: a SigMF collection, not one recording",
                              reason="sigmf-meta")
        rec.validate()
    except DecodeError:
        raise
    except RecursionError:
        raise Corrupt(f"{where}: SigMF metadata nested too deeply", reason="sigmf-meta") from None
    except jsonschema.ValidationError as exc:
        at = "/".join(str(p) for p in exc.absolute_path) or "metadata"
        raise Corrupt(f"{where}: invalid SigMF metadata at {at}: {exc.message}",
                      reason="sigmf-meta") from None
    except (SigMFError, ValueError, TypeError, KeyError, tarfile.TarError, UnicodeError,
            OSError) as exc:
        raise Corrupt(f"{where}: unreadable SigMF recording: {exc}", reason="sigmf-meta") from None
    glob: dict[str, Any] = rec.get_global_info()
    datatype, rate = _check_global({"global": glob}, where)
    caps: list[CaptureSegment] = []
    for c in rec.get_captures() or [{}]:
        freq = c.get("core:frequency")
        when = c.get("core:datetime")
        caps.append(
            CaptureSegment(
                sample_start=int(c.get("core:sample_start", 0) or 0),
                frequency_hz=float(freq) if isinstance(freq, int | float) else None,
                datetime_s=parse_datetime(when) if isinstance(when, str) else None,
            )
        )
    caps.sort(key=lambda c: c.sample_start)
    anns = [a for a in rec.get_annotations() or [] if isinstance(a, dict)]
    offset = int(getattr(rec, "data_offset", 0) or 0)
    size = getattr(rec, "data_size_bytes", None)
    out = SigMFRecording(meta_path, Path(rec.data_file) if archive else data_path, datatype,
                         rate, caps, anns, glob)
    out.data_offset = offset
    out.data_size = int(size) if archive and size is not None else None
    return out


def write_sigmf(
    base: str | Path,
    samples: npt.NDArray[np.complexfloating],
    sample_rate: float,
    *,
    datatype: str = "cf32_le",
    center_freq_hz: float | None = None,
    start_time: float | None = None,
    annotations: Sequence[dict[str, Any]] = (),
    description: str | None = None,
) -> tuple[Path, Path]:
    """Write ``base.sigmf-data`` and ``base.sigmf-meta``; returns (meta, data) paths."""
    fmt = parse_datatype(datatype)
    meta_path, data_path = sigmf_paths(Path(base))
    data_path.write_bytes(encode_samples(samples, fmt))
    write_sigmf_meta(meta_path, fmt, sample_rate, center_freq_hz=center_freq_hz,
                     start_time=start_time, annotations=annotations, description=description)
    return meta_path, data_path


def encode_samples(samples: npt.NDArray[np.complexfloating], fmt: SampleFormat) -> bytes:
    """complex samples -> interleaved bytes of ``fmt`` (integers rounded and saturated)."""
    x = np.asarray(samples, dtype=np.complex128)
    inter = np.empty(2 * len(x), dtype=np.float64)
    inter[0::2] = x.real
    inter[1::2] = x.imag
    if fmt.component.kind == "f":
        raw = inter.astype(fmt.component)
    else:
        info = np.iinfo(fmt.component)
        raw = np.clip(np.round(inter / fmt.scale + fmt.offset), info.min, info.max).astype(
            fmt.component)
    return raw.tobytes()


def write_sigmf_meta(
    meta_path: Path,
    fmt: SampleFormat,
    sample_rate: float,
    *,
    center_freq_hz: float | None = None,
    start_time: float | None = None,
    annotations: Sequence[dict[str, Any]] = (),
    description: str | None = None,
    time_jumps: Sequence[tuple[int, float]] = (),
) -> None:
    """Write the ``.sigmf-meta`` JSON of a recording: one capture segment from sample 0 at
    ``start_time``, and one more per ``time_jumps`` ``(sample_start, UTC epoch)`` where the
    recording skips ahead in time (same centre frequency)."""
    glob: dict[str, Any] = {
        "core:datatype": fmt.datatype,
        "core:sample_rate": float(sample_rate),
        "core:version": SIGMF_VERSION,
        "core:recorder": "dronewatch",
    }
    if description:
        glob["core:description"] = description
    cap: dict[str, Any] = {"core:sample_start": 0}
    if center_freq_hz is not None:
        cap["core:frequency"] = float(center_freq_hz)
    if start_time is not None:
        cap["core:datetime"] = format_datetime(start_time)
    jumps = [{**cap, "core:sample_start": int(sample), "core:datetime": format_datetime(t)}
             for sample, t in time_jumps]
    meta = {
        "global": glob,
        "captures": [cap, *jumps],
        "annotations": sorted(annotations, key=lambda a: int(a.get("core:sample_start", 0))),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def burst_annotation(
    sample_start: int, sample_count: int, freq_lower_hz: float, freq_upper_hz: float,
    label: str = "dji-ocusync",
    comment: str | None = None,
) -> dict[str, Any]:
    ann: dict[str, Any] = {
        "core:sample_start": int(sample_start),
        "core:sample_count": int(sample_count),
        "core:freq_lower_edge": float(freq_lower_hz),
        "core:freq_upper_edge": float(freq_upper_hz),
        "core:label": label,
    }
    if comment:
        ann["core:comment"] = comment
    return ann


# -- capture reader ---------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class IQSource:
    data_path: Path
    fmt: SampleFormat
    sample_rate: float
    segments: tuple[CaptureSegment, ...]
    data_offset: int = 0
    data_size: int | None = None

    def segment_for(self, sample: int) -> CaptureSegment:
        seg = self.segments[0]
        for c in self.segments:
            if c.sample_start <= sample:
                seg = c
        return seg


def open_iq(path: Path, options: CaptureOptions) -> IQSource:
    """Resolve format, rate, frequency and start time of a raw or SigMF recording."""
    name = path.name.lower()
    if name.endswith((".sigmf-meta", ".sigmf-data", ".sigmf")) or (
        not path.exists() and sigmf_paths(path)[0].exists()
    ):
        rec = read_sigmf_meta(path)
        return IQSource(rec.data_path, parse_datatype(rec.datatype), rec.sample_rate,
                        tuple(rec.captures), rec.data_offset, rec.data_size)
    if options.iq_format:
        fmt = raw_format(options.iq_format)
    elif path.suffix.lower().lstrip(".") in RAW_FORMATS:
        fmt = raw_format(path.suffix)
    else:
        raise Unsupported(
            f"{path}: raw IQ needs --iq-format (one of cf32, cf64, ci16, ci8)",
            reason="iq-format",
        )
    rate = options.sample_rate_hz
    if rate is None:
        raise DecodeError(f"{path}: raw IQ needs --sample-rate", reason="iq-sample-rate")
    rate = check_sample_rate(rate, f"{path}: --sample-rate")
    size = path.stat().st_size
    duration = (size // fmt.sample_bytes) / rate
    start = os.path.getmtime(path) - duration
    seg = CaptureSegment(0, options.center_freq_hz, start)
    return IQSource(path, fmt, float(rate), (seg,))


def read_frames(path: Path, options: CaptureOptions, stats: DecodeStats) -> Iterator[Frame]:
    """DJI OcuSync frames (CRC-24A checked 173-byte blocks) from an IQ recording."""
    from dronewatch.phy.ocusync.receiver import Receiver

    src = open_iq(Path(path), options)  # the sample rate is checked before any allocation
    # A centre frequency given on the command line overrides missing metadata only.
    centre0 = src.segments[0].frequency_hz
    if centre0 is None:
        centre0 = options.center_freq_hz
    rx = Receiver(src.sample_rate, center_freq_hz=centre0)

    def frames(results: list[BurstResult]) -> Iterator[Frame]:
        for r in results:
            stats.packets_read += 1
            if not r.crc_ok or r.payload is None:
                stats.skip("dji-ocusync: crc")
                if options.strict:
                    raise Corrupt(f"{path}: burst at sample {r.sample_offset} failed CRC-24A",
                                  reason="crc")
                continue
            seg = src.segment_for(r.sample_offset)
            centre = seg.frequency_hz if seg.frequency_hz is not None else options.center_freq_hz
            t0 = seg.datetime_s if seg.datetime_s is not None else 0.0
            t = t0 + (r.sample_offset - seg.sample_start) / src.sample_rate
            yield burst_frame(r, t, centre, options.sensor_id)

    count = None if src.data_size is None else src.data_size // src.fmt.sample_bytes
    # The samples around the first burst candidate, kept while nothing decodes: if none ever
    # does, they are tried at the other common SDR rates (a wrong --sample-rate, see rate_hint).
    previous: npt.NDArray[np.complex64] | None = None
    candidate_samples: list[npt.NDArray[np.complex64]] = []
    try:
        with src.data_path.open("rb") as fh:
            fh.seek(src.data_offset)
            samples = iter_samples(fh, src.fmt, count=count, chunk=CHUNK_SAMPLES,
                                   start=src.data_offset // src.fmt.sample_bytes)
            if src.data_offset % src.fmt.sample_bytes:
                raise Corrupt(f"{path}: samples not aligned in the archive", reason="sigmf-data")
            for chunk in prefetch(samples):
                seen = rx.stats.candidates
                yield from frames(rx.feed(chunk))
                if not candidate_samples and rx.stats.candidates > seen and not rx.stats.crc_ok:
                    candidate_samples = [c for c in (previous, chunk) if c is not None]
                previous = chunk
            yield from frames(rx.flush())
            if not candidate_samples and rx.stats.candidates and previous is not None:
                candidate_samples = [previous]
        if candidate_samples and not rx.stats.crc_ok:
            from dronewatch.phy.ocusync.receiver import rate_hint, rate_hint_warning

            rate = rate_hint(np.concatenate(candidate_samples), src.sample_rate,
                             center_freq_hz=centre0)
            if rate is not None:
                stats.warnings.append(rate_hint_warning(rate, src.sample_rate))
    finally:
        stats.samples_zeroed += rx.stats.samples_zeroed


def burst_frame(
    r: BurstResult, time_s: float, centre_hz: float | None, sensor_id: str,
    sample_offset: int | None = None,
) -> Frame:
    """The frame of a CRC-checked burst (``r.payload`` set): at ``time_s`` (UTC), on the
    capture centre ``centre_hz`` plus the burst's offset; ``sample_offset`` (default the
    receiver's) counts from the start of the stream."""
    assert r.payload is not None
    return Frame(
        payload=r.payload,
        time=time_s,
        transport=Transport.DJI_OCUSYNC,
        frame_kind=FrameKind.BURST.value,
        frequency_hz=(centre_hz + r.freq_offset_hz) if centre_hz is not None else None,
        sensor_id=sensor_id,
        extra={
            "snr_db": round(r.snr_db, 2),
            "cfo_hz": round(r.cfo_hz, 1),
            "crc_ok": True,
            "freq_offset_hz": round(r.freq_offset_hz, 1),
            "sample_offset": r.sample_offset if sample_offset is None else sample_offset,
            "layout": int(r.layout),
            **({"combined_bursts": r.combined} if r.combined > 1 else {}),
        },
    )


def prefetch(
    chunks: Iterator[npt.NDArray[np.complex64]], depth: int = 2
) -> Iterator[npt.NDArray[np.complex64]]:
    """Read the next chunks in a background thread while the caller processes this one
    (file reads release the GIL). At most ``depth`` chunks wait in memory."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for c in chunks:
                while not stop.is_set():
                    try:
                        q.put(("chunk", c), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            q.put(("error", exc))

    thread = threading.Thread(target=work, name="iq-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "chunk":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
