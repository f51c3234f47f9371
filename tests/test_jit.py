"""The kernels' cache directory follows their sources (dronewatch.jit)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numba
import pytest

from dronewatch import jit


def _fake_package(root: Path) -> None:
    for name in ("jit.py", "model.py", "phy/a.py", "protocols/b.py", "sources/c.py", "cli/d.py"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\n")


def test_numba_caches_into_the_directory_of_these_sources() -> None:
    assert str(jit.cache_dir) == numba.config.CACHE_DIR  # type: ignore[attr-defined]
    assert jit.cache_dir.name == jit._sources_hash()
    assert jit.cache_dir.is_dir()


def test_hash_changes_with_kernel_sources_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_package(tmp_path)
    monkeypatch.setattr(jit, "_PACKAGE", tmp_path)
    first = jit._sources_hash()
    assert jit._sources_hash() == first
    (tmp_path / "cli" / "d.py").write_text("# the CLI changed\n")
    assert jit._sources_hash() == first  # not a kernel source
    (tmp_path / "protocols" / "b.py").write_text("# a kernel source changed\n")
    changed = jit._sources_hash()
    assert changed != first
    (tmp_path / "protocols" / "new.py").write_text("# a new module\n")
    assert jit._sources_hash() != changed


def test_base_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert jit._base_dir() == tmp_path / "numba" / "dronewatch"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jit._base_dir() == tmp_path / "xdg" / "dronewatch" / "numba"


def test_old_caches_are_pruned(tmp_path: Path) -> None:
    now = time.time()
    for i in range(6):
        old = tmp_path / f"old{i}"
        old.mkdir()
        os.utime(old, (now - 100 * (i + 1), now - 100 * (i + 1)))
    current = tmp_path / "current"
    current.mkdir()
    jit._prune(current)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["current", "old0", "old1", "old2"]  # the newest few stay
