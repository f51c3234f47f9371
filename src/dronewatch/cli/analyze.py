"""``dronewatch analyze``: captures in, tracks and alerts out.

Decodes every capture (frames of several captures are merged in time order), runs the tracking
pipeline with the zones, airport layer and whitelist given, and prints one line per track and
per alert event (``--json``: JSON Lines) or a readable report. A summary goes to stderr.
"""

from __future__ import annotations

import heapq
import json
import math
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click

from dronewatch.alerts.options import AlertOptions
from dronewatch.alerts.pipeline import TrackingPipeline
from dronewatch.alerts.whitelist import WhitelistError, load_whitelist
from dronewatch.alerts.zones import ZoneError, ZoneSet, load_zones
from dronewatch.cli.alerting import alert_options
from dronewatch.cli.decode import IQ_FORMATS
from dronewatch.decode import decode_frames
from dronewatch.errors import DecodeError
from dronewatch.model import Alert, Frame, SensorSite, Track
from dronewatch.sources import CaptureOptions, open_capture
from dronewatch.sources.pcap import capture_sensors
from dronewatch.stats import DecodeStats
from dronewatch.track.rf_locate import RfConfig, RfEstimate, rf_fields
from dronewatch.track.tracker import TrackerConfig


def track_record(track: Track, rf: RfEstimate | None = None) -> dict[str, Any]:
    """The JSON Lines record of a track; ``lat``/``lon``: the last broadcast position,
    ``rf_lat``/``rf_lon``/``rf_error_m``: the RF estimate and its 1-sigma radius (null
    without one, e.g. too few sensors; ``rf`` says why)."""
    rf_rec = rf_fields(rf.to_json() if rf is not None else None)
    return {
        "kind": "track",
        "track_id": track.track_id,
        "uas_id": track.uas_id,
        "serial": track.serial,
        "operator_id": track.operator_id,
        "ua_type": track.ua_type,
        "product": track.product,
        "transports": sorted(track.transports),
        "sensors": sorted(track.sensors),
        "sources": sorted(track.sources),
        "positions": len(track.positions),
        "first_seen": track.first_seen,
        "last_seen": track.last_seen,
        "takeoff_time": track.takeoff_time,
        "last": [track.lat, track.lon, track.alt] if track.lat is not None else None,
        "lat": track.lat,
        "lon": track.lon,
        "rf_lat": rf_rec["rf_lat"],
        "rf_lon": rf_rec["rf_lon"],
        "rf_error_m": rf_rec["rf_error_m"],
        "rf": rf_rec["rf_estimate"],
        "operator": [track.operator_lat, track.operator_lon]
        if track.operator_lat is not None
        else None,
        "home": [track.home_lat, track.home_lon] if track.home_lat is not None else None,
        "max_alt": track.max_alt,
        "state": track.state,
    }


def alert_record(alert: Alert) -> dict[str, Any]:
    """The JSON Lines record of an alert event."""
    return {
        "kind": "alert",
        "alert_id": alert.alert_id,
        "status": alert.status.value,
        "rule": alert.rule,
        "severity": alert.severity.value,
        "track_id": alert.track_id,
        "uas_id": alert.uas_id,
        "serial": alert.serial,
        "zone": alert.zone,
        "time": alert.time,
        "lat": alert.lat,
        "lon": alert.lon,
        "alt": alert.alt,
        "operator": [alert.operator_lat, alert.operator_lon]
        if alert.operator_lat is not None
        else None,
        "message": alert.message,
        "details": alert.details,
    }


def _frames(paths: tuple[Path, ...], options: CaptureOptions, stats: DecodeStats,
            errors: list[str]) -> Iterator[Frame]:
    """Frames of every capture, merged by time (each capture is read lazily)."""
    iters: list[Iterator[Frame]] = []
    for path in paths:
        try:
            iters.append(_guard(open_capture(path, options, stats), path, errors))
        except (DecodeError, OSError) as exc:
            errors.append(f"{path}: {exc}")
    if len(iters) == 1:
        return iters[0]
    return heapq.merge(*iters, key=lambda f: f.time)


def _guard(frames: Iterator[Frame], path: Path, errors: list[str]) -> Iterator[Frame]:
    try:
        yield from frames
    except (DecodeError, OSError) as exc:
        errors.append(f"{path}: {exc}")


def _time(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _render(tracks: list[Track], alerts: list[Alert], out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, width=None if out.isatty() else 160)
    if not tracks:
        console.print("No drones found.")
    else:
        table = Table(title=f"{len(tracks)} track(s)")
        for col in ("drone", "transports", "points", "first seen UTC", "last seen UTC",
                    "last position", "max alt m", "pilot", "home"):
            table.add_column(col, overflow="fold")
        for t in tracks:
            ident = t.uas_id or t.serial or (f"MAC {min(t.sources)}" if t.sources else t.track_id)
            if t.serial and t.uas_id and t.serial != t.uas_id:
                ident += f"\n[dim]serial {t.serial}[/dim]"
            if t.operator_id:
                ident += f"\n[dim]op {t.operator_id}[/dim]"
            if t.product:
                ident += f"\n[dim]{t.product}[/dim]"
            table.add_row(
                ident, ", ".join(sorted(t.transports)), str(len(t.positions)),
                _time(t.first_seen), _time(t.last_seen), _pos(t.lat, t.lon),
                "-" if t.max_alt is None else f"{t.max_alt:.0f}",
                _pos(t.operator_lat, t.operator_lon), _pos(t.home_lat, t.home_lon),
            )
        console.print(table)
    if alerts:
        colour = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
        table = Table(title=f"{len(alerts)} alert event(s)")
        for col in ("time UTC", "status", "severity", "rule", "message"):
            table.add_column(col, overflow="fold")
        for a in alerts:
            sev = a.severity.value
            table.add_row(_time(a.time), a.status.value, f"[{colour[sev]}]{sev}[/]", a.rule,
                          a.message)
        console.print(table)
    else:
        console.print("No alerts.")


def _pos(lat: float | None, lon: float | None) -> str:
    return "-" if lat is None or lon is None else f"{lat:.6f}, {lon:.6f}"


@click.command("analyze")
@click.argument("captures", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True,
              help="JSON Lines on stdout: one object per track, then one per alert event.")
@click.option("--zones", "zone_files", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="GeoJSON zones file (repeatable).")
@click.option("--whitelist", "whitelist_file",
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Authorised IDs, one per line (# comments); others raise unknown_drone (see --unknown-drone).")
@click.option("--sensor", "sensor_id", default="local", show_default=True,
              help="Sensor ID recorded with every frame.")
@alert_options
@click.option("--path-loss-exponent", type=click.FloatRange(1.5, 5.0), default=2.2,
              show_default=True, help="Path-loss exponent of the site for RF localisation "
              "(sensors from --sensor-position and multi-sensor captures; 3 or more).")
@click.option("--iq-format", type=click.Choice(IQ_FORMATS), help="Sample format of raw IQ files.")
@click.option("--sample-rate", type=float, help="Sample rate of raw IQ files, Hz.")
@click.option("--center-freq", type=float, help="Centre frequency of raw IQ files, Hz.")
def command(
    captures: tuple[Path, ...],
    as_json: bool,
    zone_files: tuple[Path, ...],
    whitelist_file: Path | None,
    sensor_id: str,
    alert_options: AlertOptions,
    path_loss_exponent: float,
    iq_format: str | None,
    sample_rate: float | None,
    center_freq: float | None,
) -> None:
    """Decode captures, build drone tracks and raise zone and spoofing alerts."""
    zones = ZoneSet()
    try:
        for zf in zone_files:
            zones = zones + load_zones(zf)
        airports = alert_options.airport_layer()
        if airports is not None:
            zones = zones + airports
        whitelist = alert_options.rule_whitelist(
            load_whitelist(whitelist_file) if whitelist_file else None
        )
    except (ZoneError, WhitelistError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    rules = alert_options.rules_config()
    # RF localisation: the sensors the captures declare (simulated, multi-sensor) and those
    # given with --sensor-position (antenna height unknown: the default)
    sites: dict[str, SensorSite] = {
        sid: SensorSite(lat, lon) for sid, (lat, lon) in alert_options.sensor_positions.items()
    }
    for path in captures:
        for sid, site in capture_sensors(path).items():
            if site is not None:
                sites.setdefault(sid, site)
    # a report lists every track of the captures: ended tracks are never forgotten
    pipeline = TrackingPipeline(zones=zones, whitelist=whitelist, rules_config=rules,
                                tracker_config=TrackerConfig(forget_after_s=math.inf),
                                auto_tick_s=1.0,
                                rf_config=RfConfig(sensors=sites, exponent=path_loss_exponent))
    stats = DecodeStats()
    errors: list[str] = []
    alerts: list[Alert] = []
    out = sys.stdout
    dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
    options = CaptureOptions(sensor_id=sensor_id, iq_format=iq_format,
                             sample_rate_hz=sample_rate, center_freq_hz=center_freq)
    frames = _frames(captures, options, stats, errors)
    for decoded in decode_frames(frames, stats):
        _track, new = pipeline.feed(decoded)
        alerts.extend(new)
    if pipeline.latest_time is not None:
        alerts.extend(pipeline.tick(pipeline.latest_time))
    tracks = sorted(pipeline.tracks.values(), key=lambda t: (t.first_seen, t.track_id))
    if as_json:
        for t in tracks:
            out.write(dumps(track_record(t, pipeline.rf_estimate(t.track_id))) + "\n")
        for a in alerts:
            out.write(dumps(alert_record(a)) + "\n")
    else:
        _render(tracks, alerts, out)
    out.flush()
    for e in errors:
        click.echo(f"error: {e}", err=True)
    opened = sum(1 for a in alerts if a.status.value == "open")
    click.echo(
        f"{stats.summary()}; {len(tracks)} track(s), {opened} alert(s) opened "
        f"({len(alerts)} events), {len(zones)} zone(s)",
        err=True,
    )
    if errors:
        sys.exit(1)
