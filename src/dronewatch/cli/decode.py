"""``dronewatch decode``: captures in, messages out.

With ``--json``: JSON Lines on stdout, one object per decoded message (message packs are
expanded). Without: a table for people, one row per drone with its latest state. Either way
a one-line summary (packets, frames, messages, skips by reason) goes to stderr at the end.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
import time as _time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import IO, TypeVar

import click

from dronewatch.cli.live import (
    Receivers,
    open_sources,
    receiver_options,
    sigterm_as_interrupt,
)
from dronewatch.decode import decode_frame_messages, warm_up
from dronewatch.errors import DecodeError
from dronewatch.model import Decoded, Frame, JsonLineEncoder, Message, Observation
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.live import LiveOptions, LiveSet, SourceState
from dronewatch.stats import DecodeStats

_T = TypeVar("_T")

IQ_FORMATS = ("cf32", "cf64", "ci16", "ci8", "cu8")


@dataclass(slots=True)
class DroneRow:
    """The latest known state of one transmitter, for the table."""

    key: str
    transports: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    uas_id: str | None = None
    serial: str | None = None
    operator_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    alt: float | None = None
    height: float | None = None
    speed: float | None = None
    operator_lat: float | None = None
    operator_lon: float | None = None
    last_seen: float = 0.0
    messages: int = 0

    def update(self, obs: Observation) -> None:
        self.messages += 1
        self.transports.add(obs.transport.value)
        if obs.source:
            self.sources.add(obs.source)
        self.last_seen = max(self.last_seen, obs.time)
        for name, value in _row_values(obs).items():
            setattr(self, name, value)

    def merge(self, other: DroneRow) -> None:
        """Fold in another transmitter of the same drone (e.g. its Bluetooth and Wi-Fi)."""
        newer = other.last_seen > self.last_seen
        self.transports |= other.transports
        self.sources |= other.sources
        self.messages += other.messages
        self.last_seen = max(self.last_seen, other.last_seen)
        for name in _STATE_FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None and (mine is None or newer):
                setattr(self, name, theirs)


_STATE_FIELDS = ("uas_id", "serial", "operator_id", "lat", "lon", "alt", "height", "speed",
                 "operator_lat", "operator_lon")


def _row_values(obs: Observation) -> dict[str, object]:
    """The row fields an observation sets: its known values (a position only as a pair)."""
    out: dict[str, object] = {}
    for name in ("uas_id", "serial", "operator_id", "height", "speed",
                 "operator_lat", "operator_lon"):
        value = getattr(obs, name)
        if value is not None:
            out[name] = value
    if obs.lat is not None and obs.lon is not None:
        out["lat"], out["lon"] = obs.lat, obs.lon
    alt = obs.alt_geo if obs.alt_geo is not None else obs.alt_baro
    if alt is not None:
        out["alt"] = alt
    return out


# The row fields each message type can set (see _row_values and track.observe). Types whose
# sets are disjoint can be applied type by type instead of message by message.
_TYPE_FIELDS: dict[str, frozenset[str]] = {
    "basic_id": frozenset({"uas_id", "serial"}),
    "location": frozenset({"lat", "lon", "alt", "height", "speed"}),
    "system": frozenset({"operator_lat", "operator_lon"}),
    "operator_id": frozenset({"operator_id"}),
    "self_id": frozenset(),
    "dji_telemetry": frozenset({"serial", "lat", "lon", "alt", "height", "speed",
                                "operator_lat", "operator_lon"}),
    "dji_antsdr": frozenset({"serial", "lat", "lon", "alt", "height", "speed",
                             "operator_lat", "operator_lon"}),
    "dji_serial": frozenset({"serial"}),
    "dji_flight_info": frozenset({"serial"}),
    "fr_beacon": frozenset({"uas_id", "serial", "lat", "lon", "alt", "height", "speed"}),
}


def _observe(decoded: Decoded) -> Observation | None:
    from dronewatch.track.observe import observe

    obs = observe(decoded)
    if obs is not None and obs.uas_id is None and obs.message_type == "basic_id":
        # ID type "none" still names the drone for people reading the table
        obs.uas_id = getattr(decoded.message, "uas_id", None)
    return obs


class DroneTable:
    """Rows keyed by transmitter address (or the drone's ID when there is none).

    The table shows the last state of each transmitter: each field is the latest value a
    message gave it. Messages are taken in batches; per transmitter and message type, the
    batch is read from its newest message back until every field that type sets is known,
    which gives the same rows as reading every message in order (messages without a
    transmitter address, and transmitters sending types that set the same fields, are read
    in order) at a fraction of the cost: most messages only count. (One difference: a
    message whose fields ``observe`` cannot read counts for its transmitter all the same.)
    """

    BATCH = 65536

    def __init__(self) -> None:
        self.rows: dict[str, DroneRow] = {}
        self._pending: list[tuple[Frame, list[Message]]] = []
        self._count = 0

    def add(self, decoded: Decoded) -> None:
        self.add_frame(decoded.frame, [decoded.message])

    def add_frame(self, frame: Frame, messages: list[Message]) -> None:
        """Add the messages of one frame."""
        self.add_frames(((frame, messages),))

    def add_frames(self, frames: Iterable[tuple[Frame, list[Message]]]) -> None:
        """Add the messages of each frame, as :func:`decode_frame_messages` gives them."""
        pending = self._pending
        for item in frames:
            pending.append(item)
            self._count += len(item[1])
            if self._count >= self.BATCH:
                self.flush()
                pending = self._pending

    def flush(self) -> None:
        """Apply the messages added since the last flush."""
        pending, self._pending, self._count = self._pending, [], 0
        by_key: dict[str, list[tuple[Frame, list[Message]]]] = {}
        for item in pending:
            source = item[0].source
            if not source:  # the key comes from the message: read the batch in order
                for f, messages in pending:
                    for m in messages:
                        self._add_one(Decoded(f, m))
                return
            group = by_key.get(source)
            if group is None:
                group = by_key[source] = []
            group.append(item)
        for source, group in by_key.items():
            self._add_group(source.lower(), group)

    def _add_one(self, decoded: Decoded) -> None:
        obs = _observe(decoded)
        if obs is None:
            return
        key = obs.source or obs.uas_id or obs.serial or f"{obs.transport.value}?"
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = DroneRow(key)
        row.update(obs)

    def _add_group(self, key: str, group: list[tuple[Frame, list[Message]]]) -> None:
        """The frames of one transmitter (one ``key``), in order, with their messages."""
        from dronewatch.track.observe import OBSERVED_TYPES

        classes: set[type[Message]] = set()
        update = classes.update
        for item in group:
            update(map(type, item[1]))
        names = {c.type for c in classes}
        present = names & OBSERVED_TYPES
        if not present:
            return
        if names <= OBSERVED_TYPES:  # the common case: every message counts
            frames = group
            count = sum(map(len, map(itemgetter(1), group)))
        else:  # only the frames and messages of observed types
            frames = [item for item in group if any(m.type in present for m in item[1])]
            count = sum(1 for _, messages in frames for m in messages if m.type in present)
        claimed: set[str] = set()
        for name in present:
            fields = _TYPE_FIELDS.get(name)
            if fields is None or fields & claimed:  # types overlap: in order
                for f, messages in frames:
                    for m in messages:
                        if m.type in OBSERVED_TYPES:
                            self._add_one(Decoded(f, m))
                return
            claimed |= fields
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = DroneRow(key)
        row.messages += count
        row.transports.update(t.value for t in {f.transport for f, _ in frames})
        row.sources.add(key)
        row.last_seen = max(row.last_seen, max(f.time for f, _ in frames))
        # Newest first, per type: the first value found per field wins (the types set
        # disjoint fields, so they can be read together).
        wanted = {name: set(_TYPE_FIELDS[name]) for name in present if _TYPE_FIELDS[name]}
        for f, messages in reversed(frames):
            if not wanted:
                break
            for m in reversed(messages):
                left = wanted.get(m.type)
                if left is None:
                    continue
                obs = _observe(Decoded(f, m))
                if obs is None:
                    continue
                for field_name, value in _row_values(obs).items():
                    if field_name in left:
                        setattr(row, field_name, value)
                        left.discard(field_name)
                if not left:
                    del wanted[m.type]

    def drones(self) -> list[DroneRow]:
        """One row per drone: transmitters that sent the same ID are merged, newest first."""
        self.flush()
        merged: dict[str, DroneRow] = {}
        for row in sorted(self.rows.values(), key=lambda r: r.last_seen):
            ident = row.serial or row.uas_id or row.key
            into = merged.get(ident)
            if into is None:
                merged[ident] = dataclasses.replace(
                    row, transports=set(row.transports), sources=set(row.sources))
            else:
                into.merge(row)
        return sorted(merged.values(), key=lambda r: r.last_seen, reverse=True)

    def render(self, out: IO[str]) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console(file=out, width=None if out.isatty() else 160)
        rows = self.drones()
        if not rows:
            console.print("No drones found.")
            return
        table = Table(title=f"{len(rows)} drone(s)")
        for col in ("ID", "transport", "source", "position", "alt m", "speed m/s",
                    "operator", "last seen UTC"):
            table.add_column(col, overflow="fold")
        for row in rows:
            ident = row.serial or row.uas_id or "?"
            if row.operator_id:
                ident += f"\n[dim]op {row.operator_id}[/dim]"
            table.add_row(
                ident,
                ", ".join(sorted(row.transports)),
                ", ".join(sorted(row.sources)) or "-",
                _pos(row.lat, row.lon),
                _num(row.alt),
                _num(row.speed),
                _pos(row.operator_lat, row.operator_lon),
                _utc_text(row.last_seen),
            )
        console.print(table)


def _utc_text(time: float) -> str:
    """``time`` as UTC text to the millisecond; ``"-"`` for one no calendar can show (the
    capture readers bound times, but frames may come from elsewhere)."""
    try:
        return datetime.fromtimestamp(time, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    except (OverflowError, OSError, ValueError):
        return "-"


def _pos(lat: float | None, lon: float | None) -> str:
    return "-" if lat is None or lon is None else f"{lat:.6f}, {lon:.6f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _progress(items: Iterator[_T], stats: DecodeStats, label: str, enabled: bool) -> Iterator[_T]:
    """``items`` (a capture's frames with their messages), showing a live counter on stderr
    for long runs when ``enabled``."""
    return _shown_progress(items, stats, label) if enabled else items


def _shown_progress(items: Iterator[_T], stats: DecodeStats, label: str) -> Iterator[_T]:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    start = _time.monotonic()
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=True,
    )
    task = progress.add_task(label)
    shown = False
    n = 0
    try:
        for item in items:
            n += 1
            if n & 0xFF == 0:
                if not shown and _time.monotonic() - start > 0.5:
                    progress.start()
                    shown = True
                if shown:
                    progress.update(task, description=(
                        f"{label}: {stats.packets_read} packets, {stats.messages_decoded} messages"))
            yield item
    finally:
        if shown:
            progress.stop()


def _note_first_compile(files: tuple[Path, ...]) -> None:
    """Say so when large captures will first compile the capture kernels (a one-off pause)."""
    from dronewatch.sources.pcap_frames import FAST_PATH_MIN_BYTES

    large = [p for p in files if p.suffix.lower() in {".pcap", ".pcapng", ".cap"}
             and p.is_file() and p.stat().st_size >= FAST_PATH_MIN_BYTES]
    if not large:
        return
    from dronewatch import jit

    if not jit.compiled("link_batch"):
        click.echo("note: compiling the capture kernels for large files, once (~30 s)", err=True)


class _JsonLines:
    """JSON Lines to a text stream, written in chunks (the --json hot path)."""

    CHUNK = 256  # frames

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._binary: IO[bytes] | None = getattr(out, "buffer", None)
        self._lines = JsonLineEncoder().lines
        self._pending: list[bytes] = []

    def add_frame(self, frame: Frame, messages: list[Message]) -> None:
        """The lines of one frame's messages."""
        self.add_frames(((frame, messages),))

    def add_frames(self, frames: Iterable[tuple[Frame, list[Message]]]) -> None:
        """The lines of each frame's messages, as :func:`decode_frame_messages` gives them."""
        lines = self._lines
        pending = self._pending
        for frame, messages in frames:
            pending.append(lines(frame, messages))
            if len(pending) >= self.CHUNK:
                self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if self._binary is not None:
            self._out.flush()  # keep text written earlier in order
            self._binary.write(data)
        else:
            self._out.write(data.decode())


def _quiet_exit() -> None:
    """The reader of stdout went away: leave without a traceback at interpreter exit."""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the dead stdout until exit
    sys.exit(0)


def _is_stream(arg: str) -> bool:
    """``-``, ``tcp://`` and FIFOs are streams (pcap, or IQ with --iq-format)."""
    if arg.startswith("tcp://") or arg == "-":
        return True
    try:
        return stat.S_ISFIFO(os.stat(arg).st_mode)
    except OSError:
        return False


@click.command("decode")
@click.argument("inputs", nargs=-1, metavar="[CAPTURE|-|FIFO|tcp://HOST:PORT]...")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout, one per message.")
@click.option("--strict", is_flag=True, help="Stop at the first undecodable packet or frame.")
@click.option("--sensor", "sensor_id", default="local", show_default=True,
              help="Sensor ID recorded with every frame.")
@click.option("--iq-format", type=click.Choice(IQ_FORMATS),
              help="Sample format of raw IQ files and streams ('-', a FIFO, tcp://).")
@click.option("--sample-rate", type=float, help="Sample rate of raw IQ files and streams, Hz.")
@click.option("--center-freq", type=float,
              help="Centre frequency of raw IQ files and streams, Hz.")
@click.option("--iq-zmq", "iq_zmq", multiple=True, metavar="URL",
              help="Receive IQ from GNU Radio: a ZMQ PUSH sink with "
              "'tcp://127.0.0.1:5555?pattern=pull' (recommended: no loss) or a ZMQ PUB sink "
              "with tcp://127.0.0.1:5555 (needs --sample-rate; pip install 'dronewatch[sdr]'). "
              "Items are complex floats, or complex shorts with '&format=ci16' (or "
              "--iq-format ci16): half the bytes.")
@click.option("--source", "live_specs", multiple=True, metavar="KIND:TARGET",
              help="Also receive from this live source (repeatable), e.g. stream:-, "
              "tcp://HOST:PORT, wifi:IFACE.")
@receiver_options
def command(
    inputs: tuple[str, ...],
    as_json: bool,
    strict: bool,
    sensor_id: str,
    iq_format: str | None,
    sample_rate: float | None,
    center_freq: float | None,
    live_specs: tuple[str, ...],
    iq_zmq: tuple[str, ...],
    receivers: Receivers,
) -> None:
    """Decode captures (pcap, pcapng, SigMF, raw IQ) and live input into drone messages.

    Files are read whole. '-' (stdin), a FIFO and tcp://HOST:PORT are pcap/pcapng streams,
    read as they arrive (e.g. 'dumpcap -i wlan1 -w - | dronewatch decode --json -'), as are
    --wifi and --bluetooth receivers: with --json each frame's messages are printed as soon
    as it arrives. The table (one row per drone, latest state) is printed at the end (end of
    input or Ctrl-C). A summary line goes to stderr.
    """
    streams = [a for a in inputs if _is_stream(a)]
    files = tuple(Path(a) for a in inputs if a not in streams)
    specs = receivers.specs(live_specs)
    if iq_format is not None:  # raw IQ streams
        specs[:0] = [f"iq:{a}" for a in streams]
    else:
        specs[:0] = [a if a.startswith("tcp://") else f"stream:{a}" for a in streams]
    specs += [f"zmq:{url}" for url in iq_zmq]
    extra = receivers.extra()
    if iq_format is not None:
        extra["iq_format"] = iq_format
    if sample_rate is not None:
        extra["sample_rate_hz"] = sample_rate
    if center_freq is not None:
        extra["center_freq_hz"] = center_freq
    if not files and not specs:
        raise click.UsageError("nothing to decode: give captures, '-', --wifi or --bluetooth")
    options = CaptureOptions(
        sensor_id=sensor_id, strict=strict, iq_format=iq_format,
        sample_rate_hz=sample_rate, center_freq_hz=center_freq,
    )
    live = open_sources(specs, LiveOptions(sensor_id=sensor_id, extra=extra))
    stats = DecodeStats()
    table = DroneTable()
    out = sys.stdout
    progress = sys.stderr.isatty()  # a live counter for people only, never in pipelines
    failed = False
    lines = _JsonLines(out) if as_json else None
    _note_first_compile(files)
    for path in files:
        try:
            frames = open_capture(path, options, stats)
            decoded = decode_frame_messages(frames, stats, strict=strict)
            sink = table if lines is None else lines
            try:
                sink.add_frames(_progress(decoded, stats, path.name, progress))
            finally:
                if lines is not None:
                    lines.flush()
        except KeyboardInterrupt:
            click.echo(f"interrupted in {path}", err=True)
            failed = True
            break
        except BrokenPipeError:  # e.g. piped into head: stop quietly
            _quiet_exit()
        except DecodeError as exc:
            msg = str(exc)
            if not msg.startswith(str(path)):
                msg = f"{path}: {msg}"
            click.echo(f"error: {msg} ({exc.reason})", err=True)
            failed = True
            if strict:
                break
        except OSError as exc:
            click.echo(f"error: {path}: {exc.strerror or exc}", err=True)
            failed = True
            if strict:
                break
    if live.sources and not (failed and strict):
        failed |= _decode_live(live, stats, lines, table, strict)
    try:
        if not as_json:
            table.render(out)
        out.flush()
    except BrokenPipeError:
        _quiet_exit()
    click.echo(stats.summary(), err=True)
    if failed:
        sys.exit(1)


def _decode_live(
    live: LiveSet, stats: DecodeStats, lines: _JsonLines | None, table: DroneTable, strict: bool
) -> bool:
    """Decode live batches as they come until every source is done or Ctrl-C; each batch's
    JSON lines are flushed at once. True if a source failed."""
    sigterm_as_interrupt()
    warm_up()
    live.start()
    try:
        while True:
            batch = live.get(0.25)
            if batch is None:
                if live.done:
                    break
                continue
            (table if lines is None else lines).add_frames(
                decode_frame_messages(batch.frames, stats, strict=strict))
            if lines is not None:
                lines.flush()
                sys.stdout.flush()
            if batch.ack is not None:
                batch.ack()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        live.stop(1.0)
        _quiet_exit()
    except DecodeError as exc:  # --strict
        click.echo(f"error: {exc} ({exc.reason})", err=True)
        live.stop(1.0)
        return True
    live.stop(2.0)
    failed = False
    for source in live.sources:
        health = source.health()
        stats.packets_read += source.stats.packets_read
        stats.skipped.update(source.stats.skipped)
        if health.last_error:
            click.echo(f"{source.name}: {health.last_error}", err=True)
        if health.drops:
            click.echo(f"{source.name}: {health.drops} frames dropped (decoding fell behind)",
                       err=True)
        info = health.detail
        if "dropped_samples" in info:  # an IQ stream: what was received and lost, always
            click.echo(
                f"{source.name}: {info['seconds']:.2f} s of IQ, {info['bursts']} bursts decoded, "
                f"{info['crc_failed']} failed CRC, {info['dropped_samples']} samples dropped "
                f"({info['blocks_dropped']} blocks behind, {info['overflows']} overflows, "
                f"{info['gaps']} gaps), {info['samples_zeroed']} samples zeroed (NaN/Inf)", err=True)
        failed |= health.state == SourceState.FAILED
    return failed
