"""schemathesis against the running server's OpenAPI schema: no response may be >= 500.

Starts the real server (uvicorn on a free loopback port, the real pipeline replaying a real
capture) on SQLite or on a throwaway PostgreSQL database, then sends every operation of
``/openapi.json`` cases that schemathesis generates from the schema: valid ones (positive)
and ones that break it (negative), all with an admin token so that every handler runs.
Prints the examples run, the responses by status and every response >= 500.

    .venv/bin/python bench/api_fuzz.py --db sqlite --examples 200
    .venv/bin/python bench/api_fuzz.py --db postgres --examples 200

The test suite runs the same loop with a few examples (tests/server/test_api_fuzz.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CAPTURE = REPO / "tests" / "data" / "odid_wifi_bcn_sample.pcap"
ADMIN_TOKEN = "fuzz-admin-Tg6Yh1Uj5Ik9Ol3P"


@dataclass(slots=True)
class Figures:
    """What a run did: examples per generation mode, statuses, the server errors found."""

    operations: int = 0
    examples: Counter[str] = field(default_factory=Counter)  # by mode
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # "METHOD path -> status body"
    no_cases: list[str] = field(default_factory=list)  # operation (mode) with nothing to send
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.examples.values())

    def report(self) -> str:
        by_class = Counter(f"{s // 100}xx" for s in self.statuses.elements())
        lines = [
            f"operations: {self.operations}",
            f"examples run: {self.total} ("
            + ", ".join(f"{m} {n}" for m, n in sorted(self.examples.items()))
            + f") in {self.seconds:.1f} s",
            "responses: " + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items())),
            "statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items())),
            f"responses >= 500: {len(self.server_errors)}",
        ]
        if self.no_cases:
            lines.insert(2, "no cases to make: " + ", ".join(self.no_cases))
        lines += [f"  {e}" for e in self.server_errors[:20]]
        return "\n".join(lines)


def _runner(strategy: Any, mode: str, figures: Figures) -> Any:
    """A hypothesis test: each case drawn from ``strategy`` sent, its response recorded."""
    from hypothesis import given

    @given(case=strategy)
    def run(base_url: str, session: Any, case: Any) -> None:
        # The token explicitly: schemathesis drops a session's Authorization header.
        response = case.call(
            base_url=base_url, session=session, headers=dict(session.headers), timeout=30
        )
        figures.examples[mode] += 1
        figures.statuses[response.status_code] += 1
        if response.status_code >= 500:
            figures.server_errors.append(
                f"{case.method} {response.request.url} -> {response.status_code} "
                f"{response.text[:200]}"
            )

    return run


def fuzz(base_url: str, token: str, *, max_examples: int, seed: int | None = None) -> Figures:
    """Every operation of ``base_url``'s schema, ``max_examples`` positive and as many
    negative cases each; every response recorded (nothing stops at the first failure)."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    figures = Figures()
    started = time.perf_counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        figures.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = _runner(operation.as_strategy(generation_mode=mode), mode.value, figures)
            run = settings(
                max_examples=max_examples,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.generate],  # every response is recorded: nothing to shrink
                derandomize=seed is None,
            )(run)
            if seed is not None:
                run = hypothesis_seed(seed)(run)
            try:
                run(base_url, session)
            except Unsatisfiable:  # nothing to break (e.g. no parameters): no negative case
                figures.no_cases.append(f"{operation.label} ({mode.value})")
    figures.seconds = time.perf_counter() - started
    return figures


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(db: str, tmp: Path) -> Iterator[str]:
    """The real server (pipeline replaying the capture) on ``db``; yields its base URL."""
    import uvicorn

    from dronewatch.server.app import create_app
    from dronewatch.server.settings import Principal, Role, Settings

    settings = Settings(
        db=db,
        tokens={ADMIN_TOKEN: Principal("admin", Role.ADMIN)},
        replay=[CAPTURE],
        speed=0.0,
    )
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="api-fuzz-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dronewatch server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        app.state.ctx.store.close()


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh SQLite file or a throwaway PostgreSQL database (dropped afterwards)."""
    if kind == "sqlite":
        yield str(tmp / "fuzz.db")
        return
    sys.path.insert(0, str(REPO))
    from tests.store.pgutil import pg_databases

    with pg_databases() as make:
        yield make()


def run_on(kind: str, *, max_examples: int, seed: int | None = None) -> Figures:
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(kind, Path(tmp)) as db,
        serving(db, Path(tmp)) as base,
    ):
        return fuzz(base, ADMIN_TOKEN, max_examples=max_examples, seed=seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--examples", type=int, default=200, help="per operation and generation mode"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: fixed)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    failed = False
    for kind in kinds:
        figures = run_on(kind, max_examples=args.examples, seed=args.seed)
        failed |= bool(figures.server_errors)
        if args.json:
            print(
                json.dumps(
                    {
                        "db": kind,
                        "operations": figures.operations,
                        "examples": dict(figures.examples),
                        "statuses": {str(k): v for k, v in sorted(figures.statuses.items())},
                        "server_errors": figures.server_errors,
                        "seconds": round(figures.seconds, 1),
                    }
                )
            )
        else:
            print(f"== {kind}, {args.examples} examples per operation and mode")
            print(figures.report())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
