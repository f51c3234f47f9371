"""``dronewatch config check FILE``: validate a configuration file and print the effective
configuration (the file, the environment's overrides and the defaults), secrets masked."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("config")
def group() -> None:
    """Check configuration files (TOML, see README 'Configuration file')."""


@group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def check(file: Path) -> None:
    """Validate FILE and print the effective configuration, secrets masked.

    Exits with status 1 and one line per mistake (file, line, key) if FILE cannot be used."""
    from dronewatch.server.config import ConfigError, load_config, to_toml

    try:
        config = load_config(file)
        if config.server.db_file is not None:  # readable and not empty; never printed
            config.db_url()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"# {file}: valid; the effective configuration (secrets masked):")
    click.echo(to_toml(config.masked()), nl=False)
