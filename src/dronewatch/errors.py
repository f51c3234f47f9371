"""The error tree every decoder raises from.

A stream tells "not mine" (the bytes belong to another format: try the next decoder, count
nothing as broken) from "corrupt" (the bytes claim to be this format but cannot be read).
Each error carries a short machine-friendly ``reason`` used as the key of skip counters.
"""

from __future__ import annotations


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
