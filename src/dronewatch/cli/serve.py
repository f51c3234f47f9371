"""``dronewatch serve`` and ``dronewatch demo``: the API, live stream and map."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import sys
import tempfile
import webbrowser
from pathlib import Path

import click

from dronewatch.alerts.whitelist import WhitelistError
from dronewatch.alerts.zones import ZoneError
from dronewatch.store import StoreError

DEMO_SCENARIO = "demo_airport"


class RedactTokens(logging.Filter):
    """Keep bearer tokens out of the logs: the page URL and the WebSocket URL carry
    ``?token=...`` (and uvicorn logs request lines)."""

    _pattern = re.compile(r"(token=)[^&\s\"']+")

    def _redact(self, value: object) -> object:
        if isinstance(value, str) and "token=" in value:
            return self._pattern.sub(r"\1***", value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        # Redact in place, keeping the args (uvicorn's access formatter reads them).
        record.msg = self._redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._redact(a) for a in record.args)
        return True


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


# The options serve and demo share.
_HOST = click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
_PORT = click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free port).",
)


def _log_to_stderr() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _run(settings: object, host: str, port: int, url_note: str) -> None:
    import uvicorn

    from dronewatch.server.app import create_app
    from dronewatch.server.settings import Settings

    assert isinstance(settings, Settings)
    # The pipeline and writer threads hand the GIL back and forth around every database
    # round trip; the default 5 ms switch interval makes each hand-over wait (a convoy).
    sys.setswitchinterval(0.001)
    settings.gc_freeze = True  # no 100 ms garbage-collector stalls with thousands of tracks
    try:
        app = create_app(settings)
    except (ZoneError, WhitelistError, StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # e.g. the database server refused the connection
        if exc.__class__.__module__.startswith("sqlalchemy"):
            raise click.ClickException(f"cannot open the database: {exc}") from exc
        raise
    click.echo(url_note, err=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", ws_max_size=1 << 20)
    for name in ("uvicorn.access", "uvicorn.error"):  # after uvicorn configured its logging
        logging.getLogger(name).addFilter(RedactTokens())
    uvicorn.Server(config).run()  # type: ignore[no-untyped-call]


@click.command()
@_HOST
@_PORT
@click.option(
    "--db",
    default=None,
    metavar="URL|FILE",
    help="SQLite file, sqlite:///FILE or postgresql://... "
    "[default: ./dronewatch-data/dronewatch.db]",
)
@click.option(
    "--token",
    envvar="DRONEWATCH_TOKEN",
    default=None,
    help="Admin bearer token (env DRONEWATCH_TOKEN); generated and printed if absent. "
    "More tokens by role: DRONEWATCH_TOKENS='viewer:tok,operator:tok'.",
)
@click.option(
    "--replay",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="CAPTURE",
    help="Replay a capture (pcap, pcapng, SigMF, IQ); repeatable.",
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.0),
    help="Replay speed factor (0: as fast as possible).",
)
@click.option(
    "--source",
    "live",
    multiple=True,
    metavar="KIND:TARGET",
    help="Receive live from this source (repeatable), e.g. mqtt://HOST:PORT. Not with --replay.",
)
@click.option(
    "--sensor",
    "sensor_id",
    default="local",
    show_default=True,
    help="The sensor name of this machine's own live sources.",
)
@click.option(
    "--mqtt",
    "mqtt_url",
    default=None,
    metavar="URL",
    help="Take live frames from sensors ('dronewatch sensor') via this MQTT broker: "
    "mqtt://HOST[:PORT] or mqtts://... Not with --replay.",
)
@click.option(
    "--mqtt-prefix",
    default="dronewatch",
    show_default=True,
    help="Topic prefix the sensors publish under (PREFIX/SENSOR/frames).",
)
@click.option(
    "--zones",
    "zones_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GeoJSON zones to load into the database.",
)
@click.option("--airports", is_flag=True, help="Add a protection zone around every aerodrome.")
@click.option(
    "--whitelist",
    "whitelist_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Authorised IDs (one per line) to add to the whitelist.",
)
@click.option(
    "--retention-days",
    type=click.FloatRange(0.0, min_open=True),
    default=None,
    help="Delete data older than this many days (default: keep everything).",
)
@click.option(
    "--tiles",
    "tile_url",
    default=None,
    metavar="URL",
    help="Map tile URL template for the browser (default: none, works offline).",
)
def serve(
    host: str,
    port: int,
    db: str | None,
    token: str | None,
    replay: tuple[Path, ...],
    speed: float,
    live: tuple[str, ...],
    sensor_id: str,
    mqtt_url: str | None,
    mqtt_prefix: str,
    zones_file: Path | None,
    airports: bool,
    whitelist_file: Path | None,
    retention_days: float | None,
    tile_url: str | None,
) -> None:
    """Run the server: API, live stream and map."""
    from dronewatch.server.settings import Settings

    _log_to_stderr()
    try:
        settings = Settings.from_env(
            token=token,
            db=db,
            replay=list(replay),
            speed=speed,
            live=list(live),
            sensor_id=sensor_id,
            mqtt=mqtt_url,
            mqtt_topic_prefix=mqtt_prefix,
            zones_file=zones_file,
            airports=airports,
            whitelist_file=whitelist_file,
            retention_days=retention_days,
            tile_url=tile_url,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    port = port or free_port(host)
    admin = settings.admin_token()
    note = f"dronewatch serving on http://{host}:{port}/"
    if not token:
        note += f"\nadmin token (generated): {admin}\nmap: http://{host}:{port}/?token={admin}"
    _run(settings, host, port, note)


@click.command()
@_HOST
@_PORT
@click.option(
    "--db",
    default=None,
    metavar="URL|FILE",
    help="Database (default: a fresh SQLite file in a temporary directory).",
)
@click.option("--no-browser", is_flag=True, help="Do not open a web browser.")
@click.option(
    "--scenario",
    default=DEMO_SCENARIO,
    show_default=True,
    help="Built-in scenario name or scenario file.",
)
def demo(host: str, port: int, db: str | None, no_browser: bool, scenario: str) -> None:
    """Start the server on a built-in simulated scenario and print its URL."""
    from dronewatch.server.demo import scenario_center
    from dronewatch.server.settings import Settings, generate_token
    from dronewatch.sim import ScenarioError, load_scenario

    _log_to_stderr()
    try:
        scen = load_scenario(scenario)
        center = scenario_center(scenario)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    if db is None:
        db = str(Path(tempfile.mkdtemp(prefix="dronewatch-demo-")) / "dronewatch.db")
    token = os.environ.get("DRONEWATCH_TOKEN") or generate_token()
    settings = Settings.from_env(
        token=token,
        db=db,
        scenario=scenario,
        zones_file=scen.zones_path(),
        center=center,
        zoom=12,
        retention_days=None,
    )
    port = port or free_port(host)
    url = f"http://{host}:{port}/?token={token}"
    note = f"dronewatch demo ({scen.name}): open {url}\n(database: {db})"
    click.echo(url)
    if not no_browser:
        with contextlib.suppress(webbrowser.Error):
            webbrowser.open(url)
    _run(settings, host, port, note)
