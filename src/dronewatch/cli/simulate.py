"""``dronewatch simulate``: a scenario in, a pcapng capture out.

    dronewatch simulate hobby_crowd -o crowd.pcapng --seed 3 --duration 120
    dronewatch simulate my_site.toml -o site.pcapng --truth site.truth.json

SCENARIO is a built-in scenario name (see ``--list``) or a TOML/YAML file. The capture is
what one sensor of the scenario hears (``--sensor``, default the first). A summary goes to
stderr at the end; ``--truth`` also writes the ground truth (every drone's identity, path and
pilot) as JSON.
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


@click.command(name="simulate")
@click.argument("scenario", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="pcapng file to write.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed (same seed, same capture).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds to simulate (default: the scenario's duration).")
@click.option("--sensor", default=None, help="Sensor id whose reception is written.")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the ground truth as JSON here.")
@click.option("--list", "list_", is_flag=True, help="List the built-in scenarios and exit.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(
    scenario: str | None,
    output: Path | None,
    seed: int,
    duration: float | None,
    sensor: str | None,
    truth: Path | None,
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
    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    total = duration if duration is not None else sc.duration_s
    total = min(total, sc.duration_s)
    started = time.perf_counter()
    try:
        if quiet:
            summary = write_capture(sc, output, seed=seed, duration=duration, sensor=sensor)
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
                                        sensor=sensor, progress=progress)
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
    if summary.skipped:
        line += "; not written: " + ", ".join(f"{k}: {n}" for k, n in summary.skipped.items())
    click.echo(line, err=True)


def _stderr_console() -> Console:
    return Console(file=sys.stderr)
