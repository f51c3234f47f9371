"""Throwaway databases on the real PostgreSQL server (127.0.0.1:5432, trust auth)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

PG_ADMIN = "postgresql://{user}@127.0.0.1:5432/postgres"


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    last: Exception | None = None
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(PG_ADMIN.format(user=user), autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            last = exc
    raise RuntimeError(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {last}")


@contextmanager
def pg_databases() -> Iterator[Callable[[], str]]:
    """A maker of fresh databases (URLs); every one is dropped on exit."""
    admin = _admin()
    user = admin.info.user
    created: list[str] = []

    def make() -> str:
        name = f"dronewatch_test_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        created.append(name)
        return f"postgresql://{user}@127.0.0.1:5432/{name}"

    try:
        yield make
    finally:
        for name in created:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        admin.close()
