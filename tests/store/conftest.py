"""Store fixtures: a fresh SQLite file, and a throwaway PostgreSQL database per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.store.pgutil import pg_databases

from dronewatch.store import Store


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Callable[[], str]]:
    """A maker of throwaway databases on the real server; all dropped at the end."""
    with pg_databases() as make:
        yield make


@pytest.fixture
def pg_url(pg_server: Callable[[], str]) -> str:
    return pg_server()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "data" / "dronewatch.db")
    return request.getfixturevalue("pg_url")  # type: ignore[no-any-return]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()
