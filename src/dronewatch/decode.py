"""Frames -> decoded messages, counting what cannot be decoded instead of raising."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dronewatch.errors import DecodeError
from dronewatch.model import Decoded, Frame
from dronewatch.protocols import decode_payload
from dronewatch.stats import DecodeStats


def decode_frames(
    frames: Iterable[Frame], stats: DecodeStats | None = None, *, strict: bool = False
) -> Iterator[Decoded]:
    """Decode every frame; a frame that fails is counted in ``stats.skipped`` by reason.

    With ``strict`` the first failure raises instead.
    """
    stats = stats if stats is not None else DecodeStats()
    for frame in frames:
        stats.frames_read += 1
        try:
            messages = decode_payload(frame.transport, frame.payload)
        except DecodeError as exc:
            if strict:
                raise
            stats.skip(f"{frame.transport.value}: {exc.reason}")
            continue
        for message in messages:
            stats.messages_decoded += 1
            yield Decoded(frame, message)
