"""``dronewatch simulate``: a scenario in, a pcapng capture (and OcuSync IQ) out.

    dronewatch simulate hobby_crowd -o crowd.pcapng --seed 3 --duration 120
    dronewatch simulate my_site.toml -o site.pcapng --truth site.truth.json
    dronewatch simulate demo_airport -o orly.pcapng --iq-max-seconds 1   # + orly.sigmf-*

SCENARIO is a built-in scenario name (see ``--list``) or a TOML/YAML file. The capture is
what every sensor of the scenario hears, each on its own interfaces carrying its id and
position (``--sensor ID``: only that one). DJI OcuSync drones
have no link-layer packets: their DroneID bursts go to a SigMF IQ recording beside the pcapng
(``--iq`` elsewhere, ``--no-iq`` none), idle time cut and at most ``--iq-max-seconds`` long
(see :mod:`dronewatch.sim.iq_capture`); ``dronewatch decode OUT.sigmf-meta`` reads it. A
summary goes to stderr at the end; ``--truth`` also writes the ground truth (every drone's
identity, path and pilot) as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console

from dronewatch.sim import (
    ScenarioError,
    builtin_scenarios,
    ground_truth,
    load_scenario,
    write_capture,
)
from dronewatch.sim.iq_capture import MAX_SECONDS, IqSummary


@click.command(name="simulate")
@click.argument("scenario", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="pcapng file to write.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed (same seed, same capture).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds to simulate (default: the scenario's duration).")
@click.option("--sensor", default=None, help="Only this sensor's reception is written [default: every sensor's].")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the ground truth as JSON here.")
@click.option("--iq", "iq_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SigMF recording (NAME or NAME.sigmf-meta) for the DJI OcuSync bursts "
                   "[default: the output name with .sigmf-meta/.sigmf-data].")
@click.option("--no-iq", is_flag=True, help="Do not write the OcuSync bursts as IQ.")
@click.option("--iq-max-seconds", type=click.FloatRange(min=0, min_open=True),
              default=MAX_SECONDS, show_default=True,
              help="Longest IQ recording (50 MS/s ci16, 200 MB/s; idle time between bursts "
                   "is cut to 4 ms, so about 250 bursts a second).")
@click.option("--list", "list_", is_flag=True, help="List the built-in scenarios and exit.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(
    scenario: str | None,
    output: Path | None,
    seed: int,
    duration: float | None,
    sensor: str | None,
    truth: Path | None,
    iq_path: Path | None,
    no_iq: bool,
    iq_max_seconds: float,
    list_: bool,
    quiet: bool,
) -> None:
    """Write a synthetic capture from a scenario (built-in name or TOML/YAML file)."""
    if list_:
        for name in builtin_scenarios():
            desc = load_scenario(name).description
            click.echo(f"{name:28s} {desc}")
        return
    if scenario is None or output is None:
        raise click.UsageError("give a SCENARIO and -o/--output (or --list)")
    if no_iq and iq_path is not None:
        raise click.UsageError("--iq and --no-iq exclude each other")
    iq = None if no_iq else (iq_path if iq_path is not None else output.with_suffix(""))
    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    total = duration if duration is not None else sc.duration_s
    total = min(total, sc.duration_s)
    started = time.perf_counter()
    try:
        if quiet:
            summary = write_capture(sc, output, seed=seed, duration=duration, sensor=sensor,
                                    iq_path=iq, iq_max_seconds=iq_max_seconds)
        else:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(
                TextColumn("[bold]{task.description}"), BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} s"), TimeRemainingColumn(),
                transient=True, console=_stderr_console(),
            ) as bar:
                task = bar.add_task(sc.name, total=total)

                def progress(done: float) -> None:
                    bar.update(task, completed=min(done, total))

                summary = write_capture(sc, output, seed=seed, duration=duration,
                                        sensor=sensor, progress=progress, iq_path=iq,
                                        iq_max_seconds=iq_max_seconds)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    elapsed = time.perf_counter() - started
    if truth is not None:
        data = [d.to_json() for d in ground_truth(sc, seed=seed)]
        truth.write_text(json.dumps({"scenario": sc.name, "seed": seed, "drones": data}))
    kinds = ", ".join(f"{k}: {n}" for k, n in summary.by_transport.most_common())
    line = (
        f"{output}: {summary.packets} packets from {summary.drones} drones, "
        f"{total:.0f} s of scenario {sc.name!r} (sensor {summary.sensor}, seed {seed}) "
        f"in {elapsed:.1f} s"
    )
    if kinds:
        line += f" ({kinds})"
    if summary.iq is not None:
        line += "; " + _iq_line(summary.iq)
    if summary.skipped:
        line += "; not written: " + ", ".join(f"{k}: {n}" for k, n in summary.skipped.items())
    click.echo(line, err=True)


def _iq_line(iq: IqSummary) -> str:
    return (
        f"{iq.meta_path}: {iq.bursts} OcuSync bursts as IQ, {iq.seconds:.2f} s at "
        f"{iq.sample_rate / 1e6:g} MS/s ({iq.bytes_written / 1e6:.1f} MB)"
    )


def _stderr_console() -> Console:
    return Console(file=sys.stderr)
