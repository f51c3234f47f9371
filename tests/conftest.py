"""Shared fixtures: the real-capture corpus in tests/data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
