"""What the sinks are told: one typed :class:`SinkSettings` and the command-line options that
fill it (:func:`sink_options`), in one place, so that a configuration file can map onto the
same fields. :func:`open_sinks` builds the sinks it names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click
from click.core import ParameterSource

from dronewatch.sinks.base import DEFAULT_QUEUE_MAX, Sink, SinkError, SinkSet

if TYPE_CHECKING:
    from dronewatch.store import Store

F = TypeVar("F", bound=Callable[..., Any])

SyslogFormat = Literal["rfc5424", "cef"]


@dataclass(slots=True)
class SinkSettings:
    """Where alerts, tracks and observations go besides the store and the map."""

    cot: list[str] = field(default_factory=list)  # udp://, tcp://, tls:// (TAK)
    cot_cert: Path | None = None  # tls://: client certificate (PEM)
    cot_key: Path | None = None  # tls://: its private key
    cot_ca: Path | None = None  # tls://: the CA that signed the TAK server's certificate
    cot_stale_s: float = 60.0  # a drone's CoT marker goes stale this long after its update
    cot_interval_s: float = 1.0  # one CoT update per track at most this often
    webhook: list[str] = field(default_factory=list)  # http(s):// URLs: alerts, signed
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_secret_file: Path | None = None
    webhook_timeout_s: float = 5.0
    webhook_retry_max_s: float = 60.0  # retries back off (doubling from 1 s) up to this
    syslog: list[str] = field(default_factory=list)  # udp://, tcp://, tls:// HOST:PORT
    syslog_format: SyslogFormat = "rfc5424"
    syslog_ca: Path | None = None  # tls://: the CA of the syslog server (default: system's)
    mqtt_out: list[str] = field(default_factory=list)  # mqtt(s)://HOST:PORT/PREFIX
    mqtt_out_discovery: str | None = "homeassistant"  # HA discovery prefix; None: off
    mqtt_out_interval_s: float = 1.0  # one MQTT state update per track at most this often
    notify: list[str] = field(default_factory=list)  # apprise URLs
    queue_max: int = DEFAULT_QUEUE_MAX  # events waiting per sink at most

    def __bool__(self) -> bool:
        return bool(self.cot or self.webhook or self.syslog or self.mqtt_out or self.notify)

    def secret(self) -> bytes | None:
        """The webhook signing secret (from the file if given); ``SinkError`` if unreadable."""
        if self.webhook_secret_file is not None:
            try:
                text = self.webhook_secret_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise SinkError(
                    f"cannot read the webhook secret file {self.webhook_secret_file}: {exc}"
                ) from exc
            if not text:
                raise SinkError(f"the webhook secret file {self.webhook_secret_file} is empty")
            return text.encode()
        if self.webhook_secret:
            return self.webhook_secret.encode()
        return None


def _sink_class(module: str, name: str) -> Any:
    import importlib

    try:
        return getattr(importlib.import_module(f"dronewatch.sinks.{module}"), name)
    except ModuleNotFoundError as exc:
        if exc.name == f"dronewatch.sinks.{module}":
            raise SinkError(f"the {module} sink is not available in this version") from exc
        raise


def open_sinks(
    settings: SinkSettings, store: Store | None = None, *, own_process: bool = False
) -> SinkSet:
    """The sinks ``settings`` name (not started). ``SinkError`` for a bad URL, a missing
    certificate, an unreadable secret or a missing optional package. Webhooks need ``store``
    (their outbox). ``own_process``: the streaming sinks (all but webhooks) run in a process
    of their own (``sinks.process``; the server does this)."""
    out: list[Sink] = []
    q = settings.queue_max
    if settings.cot:
        from dronewatch.sinks.cot import CotSink

        for url in settings.cot:
            out.append(
                CotSink(
                    url,
                    cert=settings.cot_cert,
                    key=settings.cot_key,
                    ca=settings.cot_ca,
                    stale_s=settings.cot_stale_s,
                    interval_s=settings.cot_interval_s,
                    queue_max=q,
                )
            )
    if settings.webhook:
        WebhookSink = _sink_class("webhook", "WebhookSink")

        if store is None:
            raise SinkError("webhooks need the store (their outbox)")
        secret = settings.secret()
        for url in settings.webhook:
            out.append(
                WebhookSink(
                    url,
                    store,
                    secret=secret,
                    timeout_s=settings.webhook_timeout_s,
                    retry_first_s=min(1.0, settings.webhook_retry_max_s),
                    retry_max_s=settings.webhook_retry_max_s,
                )
            )
    elif settings.webhook_secret or settings.webhook_secret_file:
        raise SinkError("--webhook-secret without --webhook")
    if settings.syslog:
        SyslogSink = _sink_class("syslog", "SyslogSink")

        for url in settings.syslog:
            out.append(
                SyslogSink(url, fmt=settings.syslog_format, ca=settings.syslog_ca, queue_max=q)
            )
    if settings.mqtt_out:
        MqttOutSink = _sink_class("mqtt_out", "MqttOutSink")

        for url in settings.mqtt_out:
            out.append(
                MqttOutSink(
                    url,
                    discovery_prefix=settings.mqtt_out_discovery,
                    interval_s=settings.mqtt_out_interval_s,
                    queue_max=q,
                )
            )
    if settings.notify:
        NotifySink = _sink_class("notify", "NotifySink")

        for url in settings.notify:
            out.append(NotifySink(url, queue_max=q))
    streaming = [s for s in out if not s.durable]
    if not own_process or not streaming:
        return SinkSet(out)
    from dronewatch.sinks.process import SinkProcess

    # Built here to check the settings now; they run in the child, built again there.
    remote = SinkProcess(
        open_sinks,
        replace(settings, webhook=[], webhook_secret=None, webhook_secret_file=None),
        [s.stats() for s in streaming],
        {kind for s in streaming for kind in s.wants},
    )
    for sink in streaming:
        sink.close()
    return SinkSet([s for s in out if s.durable], remote=remote)


_FIELDS = tuple(f.name for f in fields(SinkSettings))
_ONE_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def sink_options(fn: F) -> F:
    """The sink options, given to the command as one ``sinks`` argument (:class:`SinkSettings`)."""

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _FIELDS}
        for name in ("cot", "webhook", "syslog", "mqtt_out", "notify"):
            values[name] = list(values[name])
        ctx = click.get_current_context(silent=True)
        if (
            ctx is not None
            and values["webhook_secret"]
            and ctx.get_parameter_source("webhook_secret") is ParameterSource.COMMANDLINE
        ):
            click.echo(
                "warning: --webhook-secret on the command line is visible to every local user "
                "(ps); use --webhook-secret-file or DRONEWATCH_WEBHOOK_SECRET",
                err=True,
            )
        if kwargs.pop("mqtt_out_no_discovery", False):
            values["mqtt_out_discovery"] = None
        return fn(*args, sinks=SinkSettings(**values), **kwargs)

    options = [
        click.option(
            "--cot",
            multiple=True,
            metavar="URL",
            help="Send drones, pilots and home points as Cursor-on-Target to TAK: "
            "udp://239.2.3.1:6969 (multicast), udp://HOST:PORT, tcp://HOST:PORT or "
            "tls://HOST:8089 (with --cot-cert/--cot-key); repeatable.",
        ),
        click.option("--cot-cert", type=_ONE_FILE, default=None, help="tls://: client cert."),
        click.option("--cot-key", type=_ONE_FILE, default=None, help="tls://: its key (PEM)."),
        click.option(
            "--cot-ca", type=_ONE_FILE, default=None, help="tls://: the TAK server's CA (PEM)."
        ),
        click.option(
            "--cot-stale-s",
            type=click.FloatRange(1.0),
            default=60.0,
            show_default=True,
            metavar="SECONDS",
            help="CoT markers go stale this long after their last update.",
        ),
        click.option(
            "--cot-interval-s",
            type=click.FloatRange(0.0),
            default=1.0,
            show_default=True,
            metavar="SECONDS",
            help="At most one CoT update per drone this often.",
        ),
        click.option(
            "--webhook",
            multiple=True,
            metavar="URL",
            help="POST every alert as JSON to this URL (at least once, kept in the database "
            "until delivered); repeatable.",
        ),
        click.option(
            "--webhook-secret",
            envvar="DRONEWATCH_WEBHOOK_SECRET",
            default=None,
            help="Sign webhook bodies (X-Dronewatch-Signature: sha256=HMAC); env "
            "DRONEWATCH_WEBHOOK_SECRET. Prefer --webhook-secret-file.",
        ),
        click.option(
            "--webhook-secret-file", type=_ONE_FILE, default=None, help="The secret, from a file."
        ),
        click.option(
            "--webhook-timeout-s",
            type=click.FloatRange(0.1),
            default=5.0,
            show_default=True,
            metavar="SECONDS",
            help="Give up on a webhook request after this long (it is retried).",
        ),
        click.option(
            "--webhook-retry-max-s",
            type=click.FloatRange(0.01),
            default=60.0,
            show_default=True,
            metavar="SECONDS",
            help="Failed webhook deliveries are retried, backing off up to this interval.",
        ),
        click.option(
            "--syslog",
            multiple=True,
            metavar="URL",
            help="Send alerts to a syslog server (RFC 5424): udp://HOST:514, tcp://HOST:514 "
            "or tls://HOST:6514; repeatable.",
        ),
        click.option(
            "--syslog-format",
            type=click.Choice(["rfc5424", "cef"]),
            default="rfc5424",
            show_default=True,
            help="Message format: RFC 5424 structured data, or CEF for SIEMs.",
        ),
        click.option("--syslog-ca", type=_ONE_FILE, default=None, help="tls://: server's CA."),
        click.option(
            "--mqtt-out",
            multiple=True,
            metavar="URL",
            help="Publish tracks and alerts as JSON: mqtt://HOST:1883/PREFIX (mqtts:// for "
            "TLS), with Home Assistant discovery; repeatable.",
        ),
        click.option(
            "--mqtt-out-discovery",
            default="homeassistant",
            show_default=True,
            metavar="PREFIX",
            help="Home Assistant MQTT discovery prefix.",
        ),
        click.option("--mqtt-out-no-discovery", is_flag=True, help="No Home Assistant discovery."),
        click.option(
            "--mqtt-out-interval-s",
            type=click.FloatRange(0.0),
            default=1.0,
            show_default=True,
            metavar="SECONDS",
            help="At most one MQTT state update per drone this often (state changes at once).",
        ),
        click.option(
            "--notify",
            multiple=True,
            metavar="URL",
            help="Notify alerts through apprise (e-mail, chat...: mailto://, tgram://, "
            "slack://...); needs dronewatch[notify]; repeatable.",
        ),
        click.option(
            "--sink-queue",
            "queue_max",
            type=click.IntRange(10),
            default=DEFAULT_QUEUE_MAX,
            show_default=True,
            help="Events waiting per sink at most (beyond: the oldest are dropped, counted).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command  # type: ignore[return-value]
