"""The PostgreSQL driver is the extra ``dronewatch[postgres]``: without it, a postgresql://
database gives an error naming the extra (the SQLite default needs nothing)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from dronewatch.store import StoreError
from dronewatch.store.store import Store


def test_postgres_url_without_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def no_psycopg(name: str, *args: object) -> object:
        return None if name == "psycopg" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", no_psycopg)
    with pytest.raises(StoreError, match=r"dronewatch\[postgres\]"):
        Store.open("postgresql://nobody@127.0.0.1:1/none")


def test_sqlite_needs_no_driver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "psycopg" else real(name, *a),
    )
    store = Store.open(tmp_path / "x.db")
    try:
        assert store.schema_revision() is not None
    finally:
        store.close()
