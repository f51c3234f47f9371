"""``dronewatch sensor``: publish what live receivers (or captures) give to an MQTT broker,
as one sensor, with the sensor's status (position, health of each source)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import click

from dronewatch.cli.live import (
    Receivers,
    mqtt_tls_options,
    open_sources,
    position_options,
    receiver_options,
    sigterm_as_interrupt,
)
from dronewatch.cli.logs import log_options, setup_logging
from dronewatch.sources.mqtt import DEFAULT_BROKER, DEFAULT_TOPIC_PREFIX, frames_topic


@click.command()
@click.argument(
    "captures",
    nargs=-1,
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
@click.option(
    "--source",
    "live_specs",
    multiple=True,
    metavar="KIND:TARGET",
    help="Also receive from this live source (repeatable): stream:-, tcp://HOST:PORT...",
)
@click.option(
    "--signing-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="DRONEWATCH_SIGNING_KEY",
    default=None,
    help="File holding this sensor's signing key in hex (openssl rand -hex 32): every batch is "
    "signed (HMAC-SHA256) so the server knows it comes from this sensor; the server has the "
    "same key in its --sensor-keys file (env DRONEWATCH_SIGNING_KEY).",
)
@mqtt_tls_options("--tls", "this sensor")
@receiver_options
@position_options
@log_options
def command(
    captures: tuple[Path, ...],
    broker: str,
    sensor_id: str,
    topic_prefix: str,
    pace: bool,
    max_gap: float,
    as_live: bool,
    live_specs: tuple[str, ...],
    receivers: Receivers,
    position: tuple[float, float, float | None] | None,
    gps: str | None,
    signing_key: Path | None,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    log_level: str,
    log_json: bool,
) -> None:
    """Publish what this sensor receives to an MQTT broker: live receivers (--wifi,
    --bluetooth, --source) until stopped, or the frames of CAPTURES (pcap, pcapng, SigMF).

    Frames are sent in msgpack batches (up to 256 frames or 100 ms) with QoS 1 to
    PREFIX/SENSOR/frames, for 'dronewatch serve --mqtt URL' to receive, with the sensor's
    status (position; frames/s, channel, drops and last error of each source) every 5 s.
    Each batch is numbered (a random session per run, then 0, 1, 2...) so that the server
    stores it once however often it is delivered, and signed with --signing-key if given.
    The connection is re-established by itself if the broker restarts; unacknowledged
    batches are resent. A summary (frames, messages, drops, skips) goes to stderr at the end.
    The broker password may come from $DRONEWATCH_MQTT_PASSWORD instead of the URL.

    \b
    dronewatch sensor --wifi wlan1 --sensor roof --position 48.72,2.37 --broker mqtt://10.0.0.5
    dronewatch sensor --bluetooth hci0 --wifi wlan1 --gps gpsd://127.0.0.1:2947
    dronewatch sensor --broker mqtt://10.0.0.5:1883 --sensor roof capture.pcapng
    dronewatch sensor --fast --sensor lab a.pcap b.pcapng
    dronewatch sensor --broker mqtts://roof@broker.example:8883 --tls-ca ca.crt \\
        --signing-key roof.key --sensor roof capture.pcapng
    """
    from dronewatch.errors import DecodeError
    from dronewatch.sinks.mqtt import BrokerError, FramePublisher, publish_frames, publish_live

    setup_logging(log_level, log_json)

    def _say_gap(gap: float, waited: float) -> None:
        click.echo(f"dronewatch sensor: the capture's time jumps {_duration(gap)} ahead: "
                   f"waiting {waited:g} s, not that long", err=True)

    from dronewatch.sources import CaptureOptions, open_capture
    from dronewatch.sources.live import LiveOptions, SourceState
    from dronewatch.sources.mqtt import TlsFiles, read_key, sensor_status
    from dronewatch.sources.position import open_position
    from dronewatch.stats import DecodeStats

    specs = receivers.specs(live_specs)
    if not captures and not specs:
        raise click.UsageError("nothing to publish: give --wifi, --bluetooth, --source or captures")
    live = open_sources(specs, LiveOptions(
        sensor_id=sensor_id, extra=receivers.extra()))
    try:
        where = open_position(position, gps)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--gps") from exc

    try:
        frames_topic(topic_prefix, sensor_id)
        publisher = FramePublisher(
            broker,
            sensor_id,
            topic_prefix=topic_prefix,
            on_event=lambda text: click.echo(f"dronewatch sensor: {text}", err=True),
            key=read_key(signing_key) if signing_key is not None else None,
            tls_files=TlsFiles(tls_ca, tls_cert, tls_key),
        )
        publisher.connect()
    except (ValueError, BrokerError) as exc:
        raise click.ClickException(str(exc)) from exc
    stats = DecodeStats()
    options = CaptureOptions(sensor_id=sensor_id)
    interrupted = failed = False
    if where is not None:
        where.start()

    def status() -> dict[str, Any]:
        return sensor_status(sensor_id, live.health(), where.current() if where else None)

    # A live sensor, or one that says where it is, sends its status (captures alone: frames).
    announce = bool(live.sources) or where is not None
    sigterm_as_interrupt()
    try:
        if announce:
            publisher.publish([], status=status())  # who and where we are, before any frame
        for path in captures:
            try:
                publish_frames(
                    open_capture(path, options, stats), publisher, pace=pace, as_live=as_live,
                    max_gap=max_gap, on_gap=_say_gap,
                )
            except (DecodeError, OSError) as exc:  # an unreadable capture: say so, go on
                click.echo(f"error: {path}: {exc}", err=True)
                failed = True
        if live.sources:
            from dronewatch.decode import warm_up

            warm_up()
            live.start()
            publish_live(live, publisher, status, threading.Event())
    except KeyboardInterrupt:
        interrupted = True
    finally:
        live.stop(2.0)
        if announce:
            publisher.publish([], status={**status(), "online": False})  # going away
        if where is not None:
            where.stop()
        unsent = publisher.close()
    for source in live.sources:
        health = source.health()
        stats.packets_read += source.stats.packets_read
        stats.skipped.update(source.stats.skipped)
        if health.state is SourceState.FAILED:
            click.echo(f"error: {source.name}: {health.last_error}", err=True)
            failed = True
        if health.drops:
            click.echo(f"{source.name}: {health.drops} frames dropped (fell behind)", err=True)
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
