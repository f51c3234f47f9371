"""Frames of pcap and pcapng captures: what :func:`dronewatch.sources.open_capture` reads.

Two paths give the same frames and counts: the reference (:mod:`.pcap`'s reader, every
packet through its link-layer parser in :mod:`dronewatch.protocols.link`) and, for large
captures, the compiled index and link scan (:mod:`.pcap_index`,
:mod:`dronewatch.protocols.link_batch`) with the reference parsers reading the packets the
kernels leave. Both depend on :mod:`.pcap`; this module chooses between them, so that the
reader and the kernels that mirror it do not import each other.
"""

from __future__ import annotations

import mmap
import time as _time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from dronewatch.errors import Corrupt, DecodeError, NotMine, Partial
from dronewatch.model import Frame
from dronewatch.sources import CaptureOptions
from dronewatch.sources.pcap import (
    Capture,
    Damage,
    InterfaceTap,
    Packet,
    Resume,
    count_or_raise,
    leading_sensors,
    resume_packets,
)
from dronewatch.stats import DecodeStats

if TYPE_CHECKING:
    from dronewatch.protocols.link import LinkParser

__all__ = ["FAST_PATH_MIN_BYTES", "parse_packets", "read_frames", "time_bounds"]


#: Captures at least this large are read through the compiled index and link scan
#: (:mod:`.pcap_index`, :mod:`dronewatch.protocols.link_batch`); smaller ones by the
#: reference parsers alone: below ~150,000 packets the kernels take longer to load (~1 s)
#: than they save.
FAST_PATH_MIN_BYTES = 32 << 20


def read_frames(path: Path, options: CaptureOptions, stats: DecodeStats) -> Iterator[Frame]:
    """Frames carrying drone payloads from a pcap/pcapng file, in file order (a file that
    cannot be mapped, such as a pipe, is streamed in bounded memory).

    Packets without a drone payload are passed over silently (they are counted in
    ``stats.packets_read`` only); broken ones are counted by reason in ``stats.skipped``
    (or raise with ``options.strict``).

    Frames of a capture with sensor interfaces (several sensors, :mod:`.pcap`) carry the id of
    the sensor that received them; those captures are read by the reference parsers.
    """
    capture = Capture(Path(path))
    try:
        buf = capture.buf
        tap = InterfaceTap() if buf is not None and leading_sensors(buf) else None
        packets = capture.packets(tap)  # a wrong magic raises here, before any frame
        try:
            if tap is not None:
                yield from parse_packets(packets, options, stats, tap)
            elif buf is not None and len(buf) >= FAST_PATH_MIN_BYTES:
                yield from _scanned_frames(buf, packets, options, stats)
            else:  # small, or streamed (a pipe...): the reference parsers
                yield from parse_packets(packets, options, stats)
        except Damage as stop:
            count_or_raise(stop.error, stats, options.strict)
    finally:
        capture.close()


#: Capture times a packet may have: from 2000-01-01T00:00:00Z to one day after the time the
#: capture is read (:func:`time_bounds`). A drone packet stamped outside (a sniffer clock
#: never set, a damaged or hostile timestamp offset) cannot be placed in time: it is counted
#: (``pcap: bad-timestamp``) and skipped, so no output shows an absurd time.
EARLIEST_TIME = 946_684_800.0
FUTURE_SLACK_S = 86_400.0
BAD_TIMESTAMP = "bad-timestamp"


def time_bounds() -> tuple[float, float]:
    """(earliest, latest) capture time accepted now."""
    return EARLIEST_TIME, _time.time() + FUTURE_SLACK_S


def _bad_time(time: float, options: CaptureOptions, stats: DecodeStats) -> None:
    """Count (or, strict, raise for) a drone packet whose capture time is out of bounds."""
    if options.strict:
        raise Corrupt(f"capture time {time!r} is outside 2000-01-01 .. now + 1 day",
                      reason=BAD_TIMESTAMP)
    stats.skip(f"pcap: {BAD_TIMESTAMP}")


def parse_packets(
    packets: Iterable[Packet], options: CaptureOptions, stats: DecodeStats,
    tap: InterfaceTap | None = None,
) -> Iterator[Frame]:
    """The reference path: every packet through its link-layer parser (files, streams and
    live interfaces alike); packets without a drone payload give nothing, broken ones and
    ones stamped out of bounds are counted in ``stats`` by reason. With ``tap`` (filled by
    the reader), a packet on a sensor interface is that sensor's, others ``options``'."""
    from dronewatch.protocols.link import parsers

    table = parsers()
    earliest, latest = time_bounds()
    sensor_id = options.sensor_id
    # The hot loop of reading a capture: the packet count is kept in a local and written back
    # before each frame goes out; _parse's work is inlined for packets that parse cleanly.
    n = stats.packets_read
    try:
        for time, linktype, data in packets:
            n += 1
            parse = table.get(linktype)
            if parse is None:
                continue
            sensor = sensor_id
            if tap is not None and (cur := tap.current) is not None and cur.sensor_id:
                sensor = cur.sensor_id  # a packet on a sensor's interface is that sensor's
            try:
                frames = parse(data, time, sensor)
            except NotMine:
                continue
            except DecodeError as exc:
                stats.packets_read = n
                _count_error(exc, linktype, options, stats)
                continue
            if type(frames) is not list:  # a Partial: its errors are counted
                stats.packets_read = n
                _count_errors(frames, linktype, options, stats)
            if frames:
                stats.packets_read = n
                if earliest <= time <= latest:
                    yield from frames
                else:
                    _bad_time(time, options, stats)
    finally:
        stats.packets_read = n


def _count_error(
    error: DecodeError, linktype: int, options: CaptureOptions, stats: DecodeStats
) -> None:
    """Count (or, strict, raise) the error of a broken packet."""
    from dronewatch.protocols.link import family_of

    if options.strict:
        raise error
    stats.skip(f"{family_of(linktype)}: {error.reason}")


def _count_errors(
    frames: list[Frame], linktype: int, options: CaptureOptions, stats: DecodeStats
) -> None:
    """Count (or, strict, raise) the errors of a :class:`Partial` packet."""
    if isinstance(frames, Partial):  # good frames, then a broken part: count it
        for error in frames.errors:
            _count_error(error, linktype, options, stats)


def _parse(
    parse: LinkParser,
    linktype: int,
    data: bytes,
    time: float,
    options: CaptureOptions,
    stats: DecodeStats,
) -> list[Frame]:
    """The frames of one packet; none for a packet that is not ours or is broken (counted)."""
    try:
        frames = parse(data, time, options.sensor_id)
    except NotMine:
        return []
    except DecodeError as exc:
        _count_error(exc, linktype, options, stats)
        return []
    _count_errors(frames, linktype, options, stats)
    return frames


def _scanned_frames(
    buf: bytes | mmap.mmap,
    packets: Iterator[Packet],
    options: CaptureOptions,
    stats: DecodeStats,
) -> Iterator[Frame]:
    """The fast path: the same frames as :func:`parse_packets`, from the compiled index and
    link scan; the packets the kernels leave (``FALLBACK``) go through the reference parsers,
    and after an early stop of the index (damage) the reference reader takes over."""
    import numpy as np

    from dronewatch.protocols.link import parsers
    from dronewatch.protocols.link_batch import scan_batch
    from dronewatch.protocols.link_scan import FALLBACK
    from dronewatch.sources.pcap_index import index_packets

    table = parsers()
    earliest, latest = time_bounds()
    handover: int | None = None
    view = np.frombuffer(buf, np.uint8)
    try:
        resume: Resume | None = None
        for batch in index_packets(buf):
            times = batch.time.tolist()
            status, frames = scan_batch(
                buf, view, batch.offset, batch.length, times, batch.linktype, options.sensor_id
            )
            # The packets the kernels read give their frames in runs; the reference parsers
            # read the few others (FALLBACK) in between, and the frames of packets stamped
            # out of bounds (rare) are counted instead of given.
            frame_ends = np.cumsum(np.maximum(status, 0)).tolist()
            out_of_time = ~((batch.time >= earliest) & (batch.time <= latest))
            done_packets = done_frames = 0
            special = (status == FALLBACK) | (out_of_time & (status > 0))
            for i in np.flatnonzero(special).tolist():
                stats.packets_read += i - done_packets
                n = int(status[i])
                yield from frames[done_frames : frame_ends[i] - max(n, 0)]
                stats.packets_read += 1
                done_packets, done_frames = i + 1, frame_ends[i]
                if n > 0:  # the kernel's frames of a packet stamped out of bounds
                    _bad_time(times[i], options, stats)
                    continue
                linktype = int(batch.linktype[i])
                parse = table.get(linktype)
                if parse is not None:
                    start = int(batch.offset[i])
                    data = buf[start : start + int(batch.length[i])]
                    packet_frames = _parse(parse, linktype, data, times[i], options, stats)
                    if packet_frames and out_of_time[i]:
                        _bad_time(times[i], options, stats)
                    else:
                        yield from packet_frames
            stats.packets_read += len(status) - done_packets
            yield from frames[done_frames:]
            handover, resume = batch.handover, batch.resume
    finally:
        del view  # an mmap cannot close while a view of it exists
    if resume is not None:  # the index stopped (damage): the reference reads on from there
        yield from parse_packets(resume_packets(buf, resume), options, stats)
    elif handover is not None:
        yield from parse_packets(islice(packets, handover, None), options, stats)
