"""Frames -> decoded messages, counting what cannot be decoded instead of raising."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dronewatch.errors import DecodeError
from dronewatch.model import Decoded, Frame, Transport
from dronewatch.protocols import PayloadDecoder, decoder_for
from dronewatch.stats import DecodeStats


def decode_frames(
    frames: Iterable[Frame], stats: DecodeStats | None = None, *, strict: bool = False
) -> Iterator[Decoded]:
    """Decode every frame; a frame that fails is counted in ``stats.skipped`` by reason.

    With ``strict`` the first failure raises instead.
    """
    stats = stats if stats is not None else DecodeStats()
    # The hot loop of every decode (see bench/decode_throughput.py): decoders are looked up
    # once per transport, and counters are kept in locals and written back per frame.
    decoders: dict[Transport, PayloadDecoder] = {}
    n_frames = stats.frames_read
    n_messages = stats.messages_decoded
    try:
        for frame in frames:
            n_frames += 1
            try:
                decode = decoders[frame.transport]
            except KeyError:
                decode = None
            try:
                if decode is None:
                    decode = decoders[frame.transport] = decoder_for(frame.transport)
                messages = decode(frame.payload)
            except DecodeError as exc:
                if strict:
                    raise
                stats.skip(f"{frame.transport.value}: {exc.reason}")
                continue
            n_messages += len(messages)
            stats.frames_read = n_frames
            stats.messages_decoded = n_messages
            for message in messages:
                yield Decoded(frame, message)
    finally:
        stats.frames_read = n_frames
        stats.messages_decoded = n_messages
