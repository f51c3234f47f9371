"""Whitelist of authorised drones: plain text, one ID per line, ``#`` starts a comment.

An ID matches a track's UAS ID, serial number or operator ID, case-insensitively, ignoring
surrounding spaces. Blank lines and comments are ignored; an ID containing spaces is an error
(it would otherwise silently never match).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from dronewatch.model import Track


class WhitelistError(ValueError):
    """A whitelist file that cannot be used (the message names the file and line)."""


def _norm(value: str) -> str:
    return value.strip().upper()


class Whitelist:
    """A set of authorised IDs (UAS IDs, serials or operator IDs)."""

    __slots__ = ("_ids",)

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: frozenset[str] = frozenset(n for n in (_norm(i) for i in ids) if n)

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and _norm(value) in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._ids))

    def allows(self, track: Track) -> bool:
        """Whether any identity of ``track`` is whitelisted."""
        ids = self._ids
        for v in (track.uas_id, track.serial, track.operator_id):
            if v is not None and _norm(v) in ids:
                return True
        return False

    @classmethod
    def parse(cls, text: str, *, source: str = "<whitelist>") -> Whitelist:
        ids: list[str] = []
        for n, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if any(c.isspace() for c in line):
                raise WhitelistError(
                    f"{source}: line {n}: one ID per line expected, got {line!r}"
                )
            ids.append(line)
        return cls(ids)


def load_whitelist(path: str | Path) -> Whitelist:
    """Read a whitelist file (``WhitelistError`` naming the file and line if bad)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WhitelistError(f"{p}: cannot read whitelist: {exc}") from exc
    return Whitelist.parse(text, source=str(p))
