"""schemathesis against the OpenAPI schema on SQLite and PostgreSQL: no response >= 500.

A bounded run of bench/api_fuzz.py (the real server, a real capture replayed into it, every
operation with valid and schema-breaking cases); the bench runs it longer.
"""

from __future__ import annotations

import pytest
from bench.api_fuzz import run_on

pytestmark = pytest.mark.slow  # about 20 s of CPU per database

EXAMPLES = 8  # per operation and generation mode: about 350 requests per database


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_schemathesis_finds_no_server_error(db: str) -> None:
    figures = run_on(db, max_examples=EXAMPLES)
    assert figures.server_errors == [], figures.report()
    # Every operation ran, with valid and invalid cases, and the valid ones reached handlers.
    assert figures.operations >= 23
    assert figures.examples["positive"] >= figures.operations * 3
    assert figures.examples["negative"] >= (figures.operations - 1) * 3
    assert sum(n for s, n in figures.statuses.items() if 200 <= s < 300) > figures.operations
    assert figures.statuses[422] > 0 and figures.statuses[404] > 0
