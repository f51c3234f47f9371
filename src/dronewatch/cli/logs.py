"""Logging for the long-running commands: ``--log-level`` and ``--log-json``.

Plain lines on stderr by default (journald adds the time); with ``--log-json``, one JSON
object per line (``time``, ``level``, ``logger``, ``message``, ``exc`` for tracebacks), for
a log shipper. uvicorn's own loggers go through the same handler.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
LEVELS = ("debug", "info", "warning", "error", "critical")
_HANDLER = "dronewatch-stderr"


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (a test runner swaps it)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(level: str = "info", as_json: bool = False) -> None:
    """The root logger at ``level`` with one stderr handler (plain or JSON lines)."""
    handler = _Stderr()
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER:  # ours, from an earlier call; others stay (pytest's)
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if as_json:
        # uvicorn's loggers through our handler too, even where its default configuration
        # gave them handlers of their own earlier in this process.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            uv = logging.getLogger(name)
            uv.handlers.clear()
            uv.propagate = True


def log_options(fn: F) -> F:
    """``--log-level`` and ``--log-json`` (the command gets ``log_level``, ``log_json``)."""
    fn = click.option(
        "--log-json",
        is_flag=True,
        help="Log JSON lines (time, level, logger, message) instead of plain text.",
    )(fn)
    fn = click.option(
        "--log-level",
        type=click.Choice(LEVELS, case_sensitive=False),
        default="info",
        show_default=True,
        help="Least severe log messages shown.",
    )(fn)
    return fn
