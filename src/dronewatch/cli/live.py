"""The live-input options that ``decode``, ``serve`` and ``sensor`` share.

``--wifi IFACE`` and ``--bluetooth CONTROLLER`` (repeatable) name receivers; the Wi-Fi
channel plan (``--channels``, ``--dwell``, ``--no-hop``, ``--monitor``) applies to every
Wi-Fi card; ``--position`` / ``--gps`` say where the sensor is. Each becomes a live-source
spec for :func:`dronewatch.sources.live.open_live` plus :class:`LiveOptions`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from dronewatch.sources.live import LiveOptions, LiveSet, LiveSource, open_live

F = TypeVar("F", bound=Callable[..., Any])


def _parsed(module: str, name: str) -> Callable[[click.Context, click.Parameter, str | None], Any]:
    """A click callback parsing the value with ``module.name`` (imported when used); its
    ``ValueError`` becomes a usage error."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        import importlib

        try:
            return getattr(importlib.import_module(module), name)(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc

    return callback


_channels = _parsed("dronewatch.sources.nl80211", "parse_channels")
_sdr_channels = _parsed("dronewatch.sources.channel_plan", "parse_channels")


@dataclass(slots=True, frozen=True)
class Receivers:
    """What the receiver options say (the command gets it as ``receivers``)."""

    wifi: tuple[str, ...] = ()
    bluetooth: tuple[str, ...] = ()
    channels: list[int] | None = None
    dwell: float | None = None
    no_hop: bool = False
    monitor: bool = False
    sdr: tuple[str, ...] = ()
    sdr_rate: float | None = None
    sdr_gain: float | None = None
    sdr_channels: list[float] | None = None
    sdr_dwell: float | None = None
    sdr_format: str | None = None

    def specs(self, sources: Sequence[str] = ()) -> list[str]:
        """Live-source specs of the receivers (``--source`` specs after them)."""
        return [*(f"wifi:{i}" for i in self.wifi),
                *(f"bluetooth:{b}" for b in self.bluetooth),
                *(s if ":" in s and not s.startswith("driver=") else f"soapy:{s}"
                  for s in self.sdr), *sources]

    def extra(self) -> dict[str, Any]:
        """What the Wi-Fi source reads from ``LiveOptions.extra``."""
        extra: dict[str, Any] = {"hop": not self.no_hop, "monitor": self.monitor}
        if self.channels is not None:
            extra["channels"] = self.channels
        if self.dwell is not None:
            extra["dwell_s"] = self.dwell
        for key, value in (("sdr_rate_hz", self.sdr_rate), ("sdr_gain_db", self.sdr_gain),
                           ("sdr_channels", self.sdr_channels), ("sdr_dwell_s", self.sdr_dwell),
                           ("sdr_format", self.sdr_format)):
            if value is not None:
                extra[key] = value
        return extra


def receiver_options(fn: F) -> F:
    """``--wifi``, ``--bluetooth`` and the Wi-Fi channel plan, given to the command as one
    ``receivers`` argument (:class:`Receivers`)."""

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        receivers = Receivers(*(kwargs.pop(name) for name in Receivers.__slots__))
        return fn(*args, receivers=receivers, **kwargs)

    options = [
        click.option(
            "--wifi",
            multiple=True,
            metavar="IFACE",
            help="Receive from this monitor-mode Wi-Fi interface (radiotap); repeatable. "
            "Needs CAP_NET_RAW (and CAP_NET_ADMIN to change channels).",
        ),
        click.option(
            "--bluetooth",
            multiple=True,
            metavar="CONTROLLER",
            help="Receive from this Bluetooth controller: hci0, usb:0, serial:/dev/ttyACM0, "
            "tcp:HOST:PORT, or sniffle:/dev/ttyUSB0; repeatable.",
        ),
        click.option(
            "--channels",
            callback=_channels,
            metavar="LIST",
            help="Wi-Fi channels to visit, e.g. 6,1,11,149 (default: dwell on 6, visit the "
            "other 2.4 GHz channels and 5 GHz incl. 149).",
        ),
        click.option(
            "--dwell",
            type=click.FloatRange(0.05, 60.0),
            default=None,
            metavar="SECONDS",
            help="Time on each Wi-Fi channel (default 0.4 s; channel 6 of the default plan "
            "longer; channels where drones were heard longer).",
        ),
        click.option("--no-hop", is_flag=True, help="Stay on the Wi-Fi card's channel."),
        click.option(
            "--monitor",
            is_flag=True,
            help="Put the --wifi interfaces into monitor mode (and back on exit).",
        ),
        click.option(
            "--sdr",
            multiple=True,
            metavar="SPEC",
            help="Receive DJI DroneID from an SDR: soapy:driver=uhd (USRP), soapy:driver=hackrf, "
            "soapy: (the first found), antsdr:HOST:PORT (an AntSDR/WarDragon DroneID feed), "
            "iq:- / iq:FIFO / iq:tcp://HOST:PORT (raw IQ, with --sdr-format) or "
            "zmq:tcp://HOST:PORT (GNU Radio ZMQ PUB); repeatable. SoapySDR needs "
            "python3-soapysdr and the device's module.",
        ),
        click.option("--sdr-rate", type=float, metavar="S/S",
                     help="SDR sample rate (default 50e6; a HackRF does 20e6: one channel)."),
        click.option("--sdr-gain", type=float, metavar="DB",
                     help="SDR gain in dB (default: the device's AGC)."),
        click.option(
            "--sdr-channels",
            callback=_sdr_channels,
            metavar="LIST",
            help="DroneID channels to cover: 2.4, 5.8, all, or centres in MHz "
            "(2414.5,2429.5); the fewest tunings that hold them are visited (default 2.4).",
        ),
        click.option(
            "--sdr-dwell",
            type=click.FloatRange(0.1, 60.0),
            default=None,
            metavar="SECONDS",
            help="Time on each SDR tuning (default 0.7 s, more than the 640 ms DroneID burst "
            "period; tunings where bursts were heard get 3x).",
        ),
        click.option(
            "--sdr-format",
            type=click.Choice(["ci16", "cf32", "cu8", "ci8", "cf64"]),
            default=None,
            help="Sample format of an --sdr iq:-/iq:FIFO/iq:tcp://HOST:PORT stream (with "
            "--sdr-rate; one --sdr-channels value is its centre).",
        ),
    ]
    wrapped: Any = command
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped  # type: ignore[no-any-return]


def open_sources(specs: Sequence[str], options: LiveOptions) -> LiveSet:
    """The live sources of ``specs`` (not started); a bad spec is a usage error."""
    sources: list[LiveSource] = []
    for spec in specs:
        try:
            sources.append(open_live(spec, options))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="live source") from exc
    return LiveSet(sources)


def _position(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[float, float, float | None] | None:
    if value is None:
        return None
    from dronewatch.sources.position import parse_position

    try:
        return parse_position(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def position_options(fn: F) -> F:
    """``--position LAT,LON[,ALT]`` and ``--gps gpsd://HOST:PORT``."""
    fn = click.option(
        "--gps",
        metavar="URL",
        default=None,
        help="Take this sensor's position from gpsd: gpsd://HOST[:PORT] (default port 2947).",
    )(fn)
    fn = click.option(
        "--position",
        callback=_position,
        metavar="LAT,LON[,ALT]",
        help="Where this sensor is: WGS84 degrees, altitude in metres.",
    )(fn)
    return fn


def sigterm_as_interrupt() -> None:
    """SIGTERM (systemd stopping us) ends the run like Ctrl-C: sources stop cleanly (a card
    switched by --monitor goes back to its mode)."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


_PEM_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def mqtt_tls_options(prefix: str, client: str) -> Callable[[F], F]:
    """``{prefix}-ca``, ``{prefix}-cert`` and ``{prefix}-key``: the files an ``mqtts://``
    connection uses (``sensor`` says ``--tls``, ``serve``, whose own HTTPS takes ``--tls-*``,
    says ``--mqtt-tls``); ``client`` names who presents the certificate in the help."""

    def decorate(fn: F) -> F:
        fn = click.option(
            f"{prefix}-key", type=_PEM_FILE, default=None,
            help=f"mqtts://: the private key of {prefix}-cert.",
        )(fn)
        fn = click.option(
            f"{prefix}-cert", type=_PEM_FILE, default=None,
            help=f"mqtts://: {client}'s client certificate, for brokers that require one.",
        )(fn)
        fn = click.option(
            f"{prefix}-ca", type=_PEM_FILE, default=None,
            help="mqtts://: the CA certificate that signed the broker's (default: the system's CAs).",
        )(fn)
        return fn

    return decorate
