"""``dronewatch serve`` and ``dronewatch demo``: the API, live stream and map."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import socket
import ssl
import sys
import tempfile
import webbrowser
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import click
from click.core import ParameterSource

from dronewatch.alerts.options import AlertOptions
from dronewatch.alerts.whitelist import WhitelistError
from dronewatch.alerts.zones import ZoneError
from dronewatch.cli.alerting import alert_options
from dronewatch.cli.live import Receivers, mqtt_tls_options, position_options, receiver_options
from dronewatch.cli.logs import log_options, setup_logging
from dronewatch.sinks.settings import SinkSettings, sink_options
from dronewatch.store import StoreError

if TYPE_CHECKING:
    from dronewatch.server.config import Config

DEMO_SCENARIO = "demo_airport"
_CONFIG_KEY = "dronewatch.config"


def _load_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """--config: validate the file and make its values the options' defaults (so that an
    option given on the command line, or through its environment variable, wins)."""
    if value is None:
        return
    from dronewatch.server.config import ConfigError, load_config

    try:
        config = load_config(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    ctx.default_map = {**(ctx.default_map or {}), **config.flag_defaults()}
    ctx.meta[_CONFIG_KEY] = config


def _from_config(config: Config, ctx: click.Context) -> dict[str, Any]:
    """The settings only a configuration file gives (zones and whitelist IDs written in
    it, its sinks, the secrets it names by file). ``ValueError`` if one cannot be used."""
    from dronewatch.server.config import read_secret, sink_settings
    from dronewatch.sources.mqtt import PASSWORD_ENV

    out: dict[str, Any] = {"zones": config.zones(), "whitelist_ids": list(config.alerts.whitelist)}
    if config.server.db_file is not None:
        out["db"] = config.db_url()
    pw = config.sources.mqtt_password_file
    if pw is not None and not os.environ.get(PASSWORD_ENV):
        os.environ[PASSWORD_ENV] = read_secret(pw, "sources.mqtt_password_file")
    sinks = sink_settings(config)
    if sinks is not None:
        out["sinks"] = sinks
    return out


def _flags_over(config: SinkSettings, flags: SinkSettings) -> SinkSettings:
    """The configuration file's sinks, with what the command line set winning."""
    default = SinkSettings()
    changed = {
        f.name: getattr(flags, f.name)
        for f in dataclasses.fields(SinkSettings)
        if getattr(flags, f.name) != getattr(default, f.name)
    }
    return dataclasses.replace(config, **changed)


def _decoded(text: str) -> str:
    """``text`` percent- and plus-decoded until it stops changing (``%2565`` -> ``e``)."""
    for _ in range(5):
        plain = unquote_plus(text)
        if plain == text:
            break
        text = plain
    return text


class RedactTokens(logging.Filter):
    """Keep tokens out of the logs, in every encoding: the page URL and the WebSocket URL
    carry ``?token=...`` (uvicorn logs request lines, query included, as sent).

    Redacted: the value of every query parameter whose decoded name holds ``token``
    (``tok%65n=`` too), ``Bearer ...`` credentials, and any of the server's own tokens
    wherever they appear, percent-encoded or not."""

    _param = re.compile(r"(?<=[?&;])([^=&;\s\"'#]*)=([^&;\s\"'#]*)")
    _bearer = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
    _word = re.compile(r"[^\s\"']+")

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        super().__init__()
        self.tokens = sorted(set(tokens), key=len, reverse=True)

    def _param_sub(self, m: re.Match[str]) -> str:
        name, value = m.group(1), m.group(2)
        plain = _decoded(value)
        if "token" in _decoded(name).lower() or any(t in plain for t in self.tokens):
            return f"{name}=***"
        return m.group()

    def _word_sub(self, m: re.Match[str]) -> str:
        word = m.group()
        plain = _decoded(word)
        if not any(t in plain for t in self.tokens):
            return word
        for t in self.tokens:
            plain = plain.replace(t, "***")
        return plain

    def redact(self, text: str) -> str:
        text = self._bearer.sub(r"\1***", text)
        text = self._param.sub(self._param_sub, text)
        if self.tokens:
            text = self._word.sub(self._word_sub, text)
        return text

    def _redact(self, value: object) -> object:
        return self.redact(value) if isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        # Redact in place, keeping the args (uvicorn's access formatter reads them).
        record.msg = self._redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._redact(a) for a in record.args)
        return True

    def install(self) -> None:
        """On every handler of the root and uvicorn loggers (a filter on a handler also sees
        the records that propagate to it)."""
        for name in (None, "uvicorn", "uvicorn.access", "uvicorn.error"):
            for handler in logging.getLogger(name).handlers:
                handler.addFilter(self)


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


def _tls_options(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    """(certificate, key) for uvicorn, after checking that they load together."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise click.ClickException(f"cannot use {cert} with {key}: {exc}") from exc
    return cert, key


def _run(
    settings: object,
    host: str,
    port: int,
    url_note: str,
    tls: tuple[Path, Path] | None = None,
    log_level: str = "info",
    log_json: bool = False,
) -> None:
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
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        # JSON lines: uvicorn's loggers go to our root handler; else its own formatting
        log_config=None if log_json else uvicorn.config.LOGGING_CONFIG,
        ws_max_size=1 << 20,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    RedactTokens(settings.tokens).install()  # after uvicorn configured its logging
    uvicorn.Server(config).run()  # type: ignore[no-untyped-call]


_TILES = click.option(
    "--tiles",
    "tile_url",
    default=None,
    metavar="URL",
    help="Online map tile URL template for the browser (default: none, works offline; the "
    "browser then fetches tiles from that server).",
)
_BASEMAP = click.option(
    "--basemap",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Offline basemap: a PMTiles or MBTiles file (vector or raster tiles of your region) "
    "that the server serves itself; without it, or if it cannot be read, the map shows its "
    "bundled Natural Earth layer.",
)
_BASEMAP_ATTRIBUTION = click.option(
    "--basemap-attribution",
    default=None,
    metavar="TEXT",
    help="Credit shown for the basemap (default: the file's own attribution).",
)


@click.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    is_eager=True,
    expose_value=False,
    callback=_load_config,
    metavar="FILE",
    help="Take the options from this TOML file (see README, 'Configuration file'); "
    "options given here win over it, DRONEWATCH_SECTION__KEY variables over its values.",
)
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
    "--token-file",
    envvar="DRONEWATCH_TOKEN_FILE",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read the API tokens from FILE (env DRONEWATCH_TOKEN_FILE): one a line, "
    "ROLE:TOKEN (viewer, operator, admin) or a bare TOKEN (admin); at least 16 characters. "
    "The normal way, with env DRONEWATCH_TOKEN / DRONEWATCH_TOKENS='viewer:TOK,operator:TOK'. "
    "Without any admin token one is generated and printed.",
)
@click.option(
    "--token",
    envvar="DRONEWATCH_TOKEN",
    default=None,
    help="Admin bearer token (env DRONEWATCH_TOKEN). On the command line every local user "
    "sees it in `ps`: prefer the environment or --token-file.",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Serve HTTPS with this certificate (PEM; with --tls-key).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The certificate's private key (PEM).",
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
    help="Receive live from this source (repeatable): tcp://HOST:PORT, stream:FIFO, "
    "wifi:IFACE, bluetooth:CONTROLLER, mqtt://HOST:PORT. Not with --replay.",
)
@receiver_options
@click.option(
    "--sensor",
    "sensor_id",
    default="local",
    show_default=True,
    help="The sensor name of this machine's own live sources.",
)
@position_options
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
    "--mqtt-client-id",
    default=None,
    metavar="ID",
    help="This server's MQTT client id: its persistent session at the broker, where what "
    "sensors publish while the server is down waits for it. [default: "
    "dronewatch-server-HOSTNAME-<hash of the prefix>]",
)
@mqtt_tls_options("--mqtt-tls", "this server")
@click.option(
    "--sensor-keys",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="The sensors' signing keys: a file of 'SENSOR HEXKEY' lines or a directory of "
    "SENSOR.key files. When given, only batches signed with their sensor's key are taken; "
    "unsigned ones, wrongly signed ones and those of sensors without a key are refused and "
    "counted in /health.",
)
@click.option(
    "--max-frame-age",
    default=7 * 86400.0,
    show_default=True,
    type=click.FloatRange(0.0, min_open=True),
    metavar="SECONDS",
    help="Live frames older than this (by the server's clock) are refused and counted.",
)
@click.option(
    "--max-frame-ahead",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.0),
    metavar="SECONDS",
    help="Live frames this far ahead of the server's clock are refused and counted.",
)
@sink_options
@click.option(
    "--zones",
    "zones_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="GeoJSON zones to load into the database.",
)
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
@_TILES
@click.option(
    "--tiles-attribution",
    "tile_attribution",
    default=None,
    metavar="TEXT",
    help="Credit of the --tiles server, shown on the map (its terms usually require it).",
)
@_BASEMAP
@_BASEMAP_ATTRIBUTION
@alert_options
@log_options
def serve(
    host: str,
    port: int,
    db: str | None,
    token_file: Path | None,
    token: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    replay: tuple[Path, ...],
    speed: float,
    live: tuple[str, ...],
    receivers: Receivers,
    sensor_id: str,
    position: tuple[float, float, float | None] | None,
    gps: str | None,
    mqtt_url: str | None,
    mqtt_prefix: str,
    mqtt_client_id: str | None,
    mqtt_tls_ca: Path | None,
    mqtt_tls_cert: Path | None,
    mqtt_tls_key: Path | None,
    sensor_keys: Path | None,
    max_frame_age: float,
    max_frame_ahead: float,
    sinks: SinkSettings,
    zones_file: Path | None,
    whitelist_file: Path | None,
    retention_days: float | None,
    tile_url: str | None,
    tile_attribution: str | None,
    basemap: Path | None,
    basemap_attribution: str | None,
    alert_options: AlertOptions,
    log_level: str,
    log_json: bool,
) -> None:
    """Run the server: API, live stream and map.

    Every /api route needs a token: give them in a file (--token-file) or the environment
    (DRONEWATCH_TOKEN, DRONEWATCH_TOKENS); behind a reverse proxy or with --tls-cert and
    --tls-key they never cross the network in clear (see docs/api.md, "Deployment").


    With --mqtt, frames from sensors are acknowledged to the broker only once stored, and a
    batch delivered twice is stored once; the broker password may come from
    $DRONEWATCH_MQTT_PASSWORD instead of the URL. See docs/sensor-network.md.
    """
    from dronewatch.server.settings import Settings

    setup_logging(log_level, log_json)
    tls = _tls_options(tls_cert, tls_key)
    ctx = click.get_current_context()
    config: Config | None = ctx.meta.get(_CONFIG_KEY)
    from_config: dict[str, Any] = {}
    if config is not None:
        try:
            from_config = _from_config(config, ctx)
        except (ValueError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
        if from_config.get("db") is not None and db is None:
            db = from_config.pop("db")
        from_config.pop("db", None)
        if "sinks" in from_config:
            sinks = _flags_over(from_config.pop("sinks"), sinks)
    if token and click.get_current_context().get_parameter_source("token") is (
        ParameterSource.COMMANDLINE
    ):
        click.echo(
            "warning: --token on the command line is visible to every local user (ps); "
            "use DRONEWATCH_TOKEN or --token-file",
            err=True,
        )
    try:
        settings = Settings.from_env(
            token=token,
            token_file=token_file,
            db=db,
            replay=list(replay),
            speed=speed,
            live=receivers.specs(live),
            live_extra=receivers.extra(),
            sensor_id=sensor_id,
            position=position,
            gps=gps,
            mqtt=mqtt_url,
            mqtt_topic_prefix=mqtt_prefix,
            mqtt_client_id=mqtt_client_id,
            mqtt_tls_ca=mqtt_tls_ca,
            mqtt_tls_cert=mqtt_tls_cert,
            mqtt_tls_key=mqtt_tls_key,
            sensor_keys=sensor_keys,
            frame_max_age_s=max_frame_age,
            frame_max_ahead_s=max_frame_ahead,
            sinks=sinks,
            zones_file=zones_file,
            whitelist_file=whitelist_file,
            retention_days=retention_days,
            tile_url=tile_url,
            tile_attribution=tile_attribution,
            basemap=basemap,
            basemap_attribution=basemap_attribution,
            alerts=alert_options,
            **from_config,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    port = port or free_port(host)
    base = f"{'https' if tls else 'http'}://{host}:{port}/"
    note = f"dronewatch serving on {base}"
    if settings.generated_token is not None:
        admin = settings.generated_token
        note += f"\nadmin token (generated): {admin}\nmap: {base}?token={admin}"
    _run(settings, host, port, note, tls, log_level, log_json)


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
@_TILES
@_BASEMAP
@_BASEMAP_ATTRIBUTION
@sink_options
def demo(
    host: str,
    port: int,
    db: str | None,
    no_browser: bool,
    scenario: str,
    tile_url: str | None,
    basemap: Path | None,
    basemap_attribution: str | None,
    sinks: SinkSettings,
) -> None:
    """Start the server on a built-in simulated scenario and print its URL."""
    from dronewatch.server.demo import scenario_center
    from dronewatch.server.settings import Settings, generate_token
    from dronewatch.sim import ScenarioError, load_scenario

    setup_logging()
    try:
        scen = load_scenario(scenario)
        center = scenario_center(scenario)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    if db is None:
        db = str(Path(tempfile.mkdtemp(prefix="dronewatch-demo-")) / "dronewatch.db")
    token = os.environ.get("DRONEWATCH_TOKEN") or generate_token()
    try:
        settings = Settings.from_env(
            token=token,
            db=db,
            scenario=scenario,
            zones_file=scen.zones_path(),
            center=center,
            zoom=12,
            retention_days=None,
            tile_url=tile_url,
            basemap=basemap,
            basemap_attribution=basemap_attribution,
            sinks=sinks,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    port = port or free_port(host)
    url = f"http://{host}:{port}/?token={token}"
    note = f"dronewatch demo ({scen.name}): open {url}\n(database: {db})"
    click.echo(url)
    if not no_browser:
        with contextlib.suppress(webbrowser.Error):
            webbrowser.open(url)
    _run(settings, host, port, note)
