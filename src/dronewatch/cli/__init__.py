"""The ``dronewatch`` command. One module per subcommand, each exposing ``command``."""

from __future__ import annotations

import importlib

import click

from dronewatch import __version__

# (module, attribute) of each subcommand, in --help order. Imported lazily so that
# ``dronewatch decode`` does not pay for importing the server.
_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "decode": ("dronewatch.cli.decode", "command"),
    "simulate": ("dronewatch.cli.simulate", "command"),
    "analyze": ("dronewatch.cli.analyze", "command"),
    "sensor": ("dronewatch.cli.sensor", "command"),
    "serve": ("dronewatch.cli.serve", "serve"),
    "demo": ("dronewatch.cli.serve", "demo"),
    "config": ("dronewatch.cli.config", "group"),
}

_HELP = {
    "decode": "Decode captures (pcap, pcapng, SigMF, raw IQ) into messages.",
    "simulate": "Write a synthetic capture from a scenario file.",
    "analyze": "Decode captures, build tracks and raise alerts.",
    "sensor": "Publish the frames of captures to an MQTT broker, as one sensor.",
    "serve": "Run the server: API, live stream and map.",
    "demo": "Start the server on a built-in simulated scenario and print its URL.",
    "config": "Check a configuration file and print the effective configuration.",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = _SUBCOMMANDS.get(cmd_name)
        if spec is None:
            return None
        try:
            module = importlib.import_module(spec[0])
        except ModuleNotFoundError as exc:
            if exc.name != spec[0]:
                raise
            return None
        cmd: click.Command = getattr(module, spec[1])
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every subcommand module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, _HELP[name]) for name in _SUBCOMMANDS])


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Run 'dronewatch COMMAND --help' for a command's options.",
)
@click.version_option(__version__, prog_name="dronewatch")
def main() -> None:
    """dronewatch: see every drone nearby, who flies it and from where.

    Decodes standard Remote ID (Wi-Fi beacon and NAN, Bluetooth 4 and 5), DJI DroneID (Wi-Fi
    beacons and OcuSync from SDR IQ) and the French beacon; tracks drones and their pilots,
    raises zone and spoofing alerts, stores history and serves a live map.
    """
