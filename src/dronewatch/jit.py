"""Compiled kernels: the one ``njit`` decorator every numba kernel of dronewatch uses.

Kernels are compiled on first use and cached on disk. numba checks only each function's own
source file before reusing a cached kernel, but ours inline functions and compile in
constants from other modules (the link-scan contract, vendor tables, pcap block types): after
an upgrade or an edit of one of those, a cached kernel would silently run the old code. So
the kernels cache into a directory named after a hash of every source they can be built from
(:data:`KERNEL_SOURCES`, relative to the package); a change there starts a new cache, and
older ones are pruned.

The directory is ``$NUMBA_CACHE_DIR/dronewatch/<hash>`` when that variable is set, else
``$XDG_CACHE_HOME/dronewatch/numba/<hash>`` (``~/.cache/...``). It is set as numba's cache
directory when this module is imported, before any kernel is decorated.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import numba

__all__ = ["KERNEL_SOURCES", "cache_dir", "compiled", "njit"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: Package folders and modules whose sources kernels are built from.
KERNEL_SOURCES = ("jit.py", "model.py", "phy", "protocols", "sources")

_KEEP_CACHES = 3  # newest kernel caches kept beside the current one

_PACKAGE = Path(__file__).resolve().parent


def _sources_hash() -> str:
    digest = hashlib.sha256(numba.__version__.encode())
    for name in KERNEL_SOURCES:
        path = _PACKAGE / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(_PACKAGE)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _base_dir() -> Path:
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return Path(env) / "dronewatch"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "dronewatch" / "numba"


def _prune(current: Path) -> None:
    """Remove all but the newest few caches of earlier sources (best effort)."""
    with contextlib.suppress(OSError):
        others = sorted(
            (p for p in current.parent.iterdir() if p.is_dir() and p != current),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in others[_KEEP_CACHES:]:
            shutil.rmtree(old, ignore_errors=True)


def _configure() -> Path:
    path = _base_dir() / _sources_hash()
    if not path.is_dir():
        with contextlib.suppress(OSError):
            path.mkdir(parents=True, exist_ok=True)
            _prune(path)
    # numba picks a function's cache locator when it is decorated: set before any kernel is.
    numba.config.CACHE_DIR = str(path)  # type: ignore[attr-defined]
    return path


cache_dir: Path = _configure()


def compiled(module: str) -> bool:
    """Whether kernels of ``module`` (e.g. ``"link_batch"``) are in the cache already."""
    return any(cache_dir.rglob(f"{module}.*.nbi"))


def njit(*, inline: Literal["never", "always"] = "never") -> Callable[[_F], _F]:
    """``numba.njit`` with dronewatch's settings: cached, GIL released, optionally inlined."""
    decorate: Callable[[_F], _F] = numba.njit(cache=True, nogil=True, inline=inline)  # type: ignore[assignment]
    return decorate
