"""The error tree every decoder raises from.

A stream tells "not mine" (the bytes belong to another format: try the next decoder, count
nothing as broken) from "corrupt" (the bytes claim to be this format but cannot be read).
Each error carries a short machine-friendly ``reason`` used as the key of skip counters.
Input that is partly good gives a :class:`Partial` result: the good items, and the errors of
the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


class DecodeError(ValueError):
    """Base of every decoding failure."""

    reason: str = "decode-error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class NotMine(DecodeError):
    """The bytes are not of this format (wrong OUI, app code, magic...)."""

    reason = "not-mine"


class Corrupt(DecodeError):
    """The bytes claim this format but are inconsistent (bad CRC, impossible length...)."""

    reason = "corrupt"


class Truncated(Corrupt):
    """The bytes end before the structure they announce."""

    reason = "truncated"


class Unsupported(DecodeError):
    """A known format with an unknown version or message type."""

    reason = "unsupported"


class Partial(list[T]):
    """What a decoder or parser read from input that was good only in part.

    It is the list of the good items, in order (a caller that wants only them uses it as the
    list it is), with ``errors``: one :class:`DecodeError` per part that could not be read
    (a message cut by the end of its element, a bad message in a pack...). Streams yield the
    items and count each error as a skip by its ``reason``, so nothing good is lost and
    nothing bad goes uncounted. ``errors`` is never empty.
    """

    __slots__ = ("errors",)

    def __init__(self, items: Iterable[T], errors: list[DecodeError]) -> None:
        super().__init__(items)
        self.errors = errors


def partial_or_raise(items: list[T], errors: list[DecodeError]) -> list[T]:
    """``items`` as they are without errors, a :class:`Partial` with some, and the first
    error raised when nothing was good."""
    if not errors:
        return items
    if not items:
        raise errors[0]
    return Partial(items, errors)
