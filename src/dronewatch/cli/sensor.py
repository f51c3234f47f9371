"""``dronewatch sensor``: publish the frames of captures to an MQTT broker, as one sensor."""

from __future__ import annotations

import socket
from pathlib import Path

import click

from dronewatch.sources.mqtt import DEFAULT_BROKER, DEFAULT_TOPIC_PREFIX, frames_topic


@click.command()
@click.argument(
    "captures",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--broker",
    envvar="DRONEWATCH_MQTT",
    default=DEFAULT_BROKER,
    show_default=True,
    metavar="URL",
    help="MQTT broker: mqtt://[USER[:PASSWORD]@]HOST[:PORT], or mqtts:// for TLS "
    "(env DRONEWATCH_MQTT).",
)
@click.option(
    "--sensor",
    "sensor_id",
    default=socket.gethostname,
    show_default="this host's name",
    help="This sensor's id: the server files every frame under it.",
)
@click.option(
    "--topic-prefix",
    default=DEFAULT_TOPIC_PREFIX,
    show_default=True,
    help="Frames go to PREFIX/SENSOR/frames; the server must subscribe with the same prefix.",
)
@click.option(
    "--pace/--fast",
    default=True,
    show_default=True,
    help="--pace: replay in capture time, as a live sensor would send (batches the broker "
    "cannot take in time are dropped and counted); --fast: as fast as the broker acknowledges.",
)
@click.option(
    "--max-gap",
    type=click.FloatRange(min=0.0),
    default=10.0,
    show_default=True,
    help="With --pace: the longest wait, in seconds, at a forward jump of the capture's "
    "time (said on stderr); the frames after it follow at once.",
)
@click.option(
    "--as-live",
    is_flag=True,
    help="Shift frame times so the capture starts now: the server takes MQTT frames as live "
    "data on the wall clock, so an old recording shows as current drones.",
)
def command(
    captures: tuple[Path, ...],
    broker: str,
    sensor_id: str,
    topic_prefix: str,
    pace: bool,
    max_gap: float,
    as_live: bool,
) -> None:
    """Publish the frames of CAPTURES (pcap, pcapng, SigMF) to an MQTT broker as one sensor.

    Frames are sent in msgpack batches (up to 256 frames or 100 ms) with QoS 1 to
    PREFIX/SENSOR/frames, for 'dronewatch serve --mqtt URL' to receive. The connection is
    re-established by itself if the broker restarts; unacknowledged batches are resent.
    A summary (frames, messages, drops, skips) goes to stderr at the end.

    \b
    dronewatch sensor --broker mqtt://10.0.0.5:1883 --sensor roof capture.pcapng
    dronewatch sensor --fast --sensor lab a.pcap b.pcapng
    """
    from dronewatch.errors import DecodeError
    from dronewatch.sinks.mqtt import BrokerError, FramePublisher, publish_frames

    def _say_gap(gap: float, waited: float) -> None:
        click.echo(f"dronewatch sensor: the capture's time jumps {_duration(gap)} ahead: "
                   f"waiting {waited:g} s, not that long", err=True)

    from dronewatch.sources import CaptureOptions, open_capture
    from dronewatch.stats import DecodeStats

    try:
        frames_topic(topic_prefix, sensor_id)
        publisher = FramePublisher(
            broker,
            sensor_id,
            topic_prefix=topic_prefix,
            on_event=lambda text: click.echo(f"dronewatch sensor: {text}", err=True),
        )
        publisher.connect()
    except (ValueError, BrokerError) as exc:
        raise click.ClickException(str(exc)) from exc
    stats = DecodeStats()
    options = CaptureOptions(sensor_id=sensor_id)
    interrupted = failed = False
    try:
        for path in captures:
            try:
                publish_frames(
                    open_capture(path, options, stats), publisher, pace=pace, as_live=as_live,
                    max_gap=max_gap, on_gap=_say_gap,
                )
            except (DecodeError, OSError) as exc:  # an unreadable capture: say so, go on
                click.echo(f"error: {path}: {exc}", err=True)
                failed = True
    except KeyboardInterrupt:
        interrupted = True
    finally:
        unsent = publisher.close()
    line = (
        f"sensor {sensor_id}: {stats.packets_read} packets read, {publisher.frames} frames "
        f"published in {publisher.messages} messages to {publisher.broker} "
        f"({publisher.topic}), {publisher.dropped_frames} frames dropped, "
        f"{unsent} messages unacknowledged, {stats.frames_skipped} skipped"
    )
    if stats.skipped:
        line += " (" + ", ".join(f"{r}: {n}" for r, n in stats.skipped.most_common()) + ")"
    click.echo(line + (" [interrupted]" if interrupted else ""), err=True)
    if failed or unsent or publisher.dropped_frames:
        raise SystemExit(1)


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds:.1f} s"
