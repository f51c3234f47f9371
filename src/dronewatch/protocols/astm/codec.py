"""The public Remote ID codec API, over decoders and encoders compiled from the layouts.

At import, the table engine (:mod:`dronewatch.protocols.tables`) turns every layout of
:mod:`.layout` into one generated decoder and one encoder: a precompiled
:class:`struct.Struct` for the 25 bytes, bit-field extraction and the field codecs' own
expressions pasted inline (lookup tables for enums, speeds and directions).

Decoded messages are immutable ``msgspec`` structs, built by one positional call of their
constructor with every field's expression as an argument.

Messages repeat verbatim: the static ones (Basic ID, Self-ID, System, Operator ID,
Authentication) for the whole flight, a Location between fixes and on every transport the
drone uses. So decodes are memoised in a bounded cache keyed by the 25 bytes (the messages
are immutable, so sharing them is safe; the cache is invisible to callers). It is emptied
when full: re-decoding the few static messages of the drones in view then costs nothing
next to a lookup per message for a least-recently-used order.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import Any

from dronewatch.errors import Corrupt, DecodeError, Truncated, Unsupported, partial_or_raise
from dronewatch.model import Message
from dronewatch.protocols.astm.constants import (
    DEFAULT_VERSION,
    MAX_PACK_MESSAGES,
    MESSAGE_SIZE,
    PACK_HEADER_SIZE,
    SUPPORTED_VERSIONS,
)
from dronewatch.protocols.astm.enums import MessageType
from dronewatch.protocols.astm.layout import (
    AUTHENTICATION_PAGE,
    AUTHENTICATION_PAGE0,
    BASIC_ID,
    LOCATION,
    OPERATOR_ID,
    SELF_ID,
    SYSTEM,
)
from dronewatch.protocols.astm.messages import Authentication
from dronewatch.protocols.tables import compile_decoder, compile_encoder

__all__ = [
    "decode",
    "decode_message",
    "decode_with_errors",
    "encode",
    "encode_pack",
    "message_type",
]

Decoder = Callable[[bytes], Message]
Encoder = Callable[[Any], bytes]

_MAX_VERSION = max(SUPPORTED_VERSIONS)


_decode_auth_page0: Decoder = compile_decoder(AUTHENTICATION_PAGE0)
_decode_auth_page: Decoder = compile_decoder(AUTHENTICATION_PAGE)
_encode_auth_page0 = compile_encoder(AUTHENTICATION_PAGE0)
_encode_auth_page = compile_encoder(AUTHENTICATION_PAGE)


def _decode_auth(data: bytes) -> Message:
    if data[1] & 0x0F:
        return _decode_auth_page(data)
    msg = _decode_auth_page0(data)
    if data[2] > 15:
        raise Corrupt(f"authentication last page index {data[2]} > 15", reason="astm-auth-page")
    return msg


def _encode_auth(msg: Authentication) -> bytes:
    if msg.page_number == 0:
        if msg.last_page_index is not None and not 0 <= msg.last_page_index <= 15:
            raise ValueError(f"last_page_index {msg.last_page_index} is not 0..15")
        return _encode_auth_page0(msg)
    if msg.last_page_index is not None or msg.length is not None or msg.auth_timestamp:
        raise ValueError("last_page_index, length and auth_timestamp exist on page 0 only")
    return _encode_auth_page(msg)


#: Decoder by message type nibble (None: reserved type).
_DECODERS: list[Decoder | None] = [None] * 16
_DECODERS[MessageType.BASIC_ID] = compile_decoder(BASIC_ID)
_DECODERS[MessageType.LOCATION] = compile_decoder(LOCATION)
_DECODERS[MessageType.AUTHENTICATION] = _decode_auth
_DECODERS[MessageType.SELF_ID] = compile_decoder(SELF_ID)
_DECODERS[MessageType.SYSTEM] = compile_decoder(SYSTEM)
_DECODERS[MessageType.OPERATOR_ID] = compile_decoder(OPERATOR_ID)

_ENCODERS: dict[type, Encoder] = {
    layout.cls: compile_encoder(layout)
    for layout in (BASIC_ID, LOCATION, SELF_ID, SYSTEM, OPERATOR_ID)
    if layout.cls is not None
}
_ENCODERS[Authentication] = _encode_auth

#: Decoder by header byte (type nibble, version nibble); None for a message refused (a
#: reserved type, a newer version, a pack).
_BY_HEADER: list[Decoder | None] = [
    _DECODERS[head >> 4] if head & 0x0F <= _MAX_VERSION else None for head in range(256)
]

_CACHE_MAX = 8192
_cache: dict[bytes, Message] = {}  # decoded messages by their 25 bytes

_MESSAGE_PACK = int(MessageType.MESSAGE_PACK)  # a plain int compares faster than the enum


def message_type(data: bytes) -> int:
    """The message type nibble of a message or pack (no validation)."""
    if not data:
        raise Truncated("empty Remote ID payload", reason="astm-truncated")
    return data[0] >> 4


def _decode_new(key: bytes) -> Message:
    """Decode (and cache) the message ``key``, known to be absent from the cache."""
    if len(key) < MESSAGE_SIZE:
        raise Truncated(
            f"Remote ID message of {len(key)} bytes, expected {MESSAGE_SIZE}",
            reason="astm-truncated",
        )
    decoder = _BY_HEADER[key[0]]
    if decoder is None:
        raise _refusal(key[0])
    msg = decoder(key)
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[key] = msg
    return msg


def _refusal(head: int) -> DecodeError:
    """Why the message with header byte ``head`` is not decoded."""
    if head & 0x0F > _MAX_VERSION:
        return Unsupported(f"Remote ID protocol version {head & 0x0F}", reason="astm-version")
    if head >> 4 == _MESSAGE_PACK:
        return Corrupt("a message pack where one message was expected", reason="astm-nested-pack")
    return Unsupported(f"Remote ID message type 0x{head >> 4:X}", reason="astm-type")


def decode_message(data: bytes) -> Message:
    """Decode one 25-byte Remote ID message (bytes after the first 25 are ignored).

    Raises ``Truncated`` (reason ``astm-truncated``) for fewer than 25 bytes,
    ``Unsupported`` for a protocol version above 2 (``astm-version``) or a reserved message
    type (``astm-type``), and ``Corrupt`` for a message pack (``astm-nested-pack``: packs
    are read by :func:`decode`) or an inconsistent message.
    """
    key = data if len(data) == MESSAGE_SIZE and type(data) is bytes else bytes(data[:MESSAGE_SIZE])
    msg = _cache.get(key)
    return msg if msg is not None else _decode_new(key)


#: Splits a pack's ``count`` messages off its header in one C call (by ``count``).
_PACK_SPLIT = [
    struct.Struct(f"{PACK_HEADER_SIZE}x" + f"{MESSAGE_SIZE}s" * count).unpack_from
    for count in range(MAX_PACK_MESSAGES + 1)
]


#: The count of messages of every well-formed pack header (type 0xF, a supported version,
#: 25-byte messages, 1..9 of them), by its 3 bytes: one lookup checks a header.
_PACK_COUNTS: dict[bytes, int] = {
    bytes((MessageType.MESSAGE_PACK << 4 | version, MESSAGE_SIZE, count)): count
    for version in range(_MAX_VERSION + 1)
    for count in range(1, MAX_PACK_MESSAGES + 1)
}


def _checked_count(payload: bytes, errors: list[DecodeError]) -> int:
    """The number of complete messages of a pack whose header is not well formed or whose
    messages are cut short: raises for a bad header; for a cut pack, one ``astm-truncated``
    error in ``errors``."""
    n = len(payload)
    if n < PACK_HEADER_SIZE:
        raise Truncated(f"message pack of {n} bytes", reason="astm-truncated")
    if payload[0] & 0x0F > _MAX_VERSION:
        raise Unsupported(f"Remote ID protocol version {payload[0] & 0x0F}", reason="astm-version")
    if payload[1] != MESSAGE_SIZE:
        raise Corrupt(f"message pack single-message size {payload[1]}", reason="astm-pack-size")
    count = payload[2]
    if not 1 <= count <= MAX_PACK_MESSAGES:
        raise Corrupt(f"message pack of {count} messages", reason="astm-pack-count")
    if n < PACK_HEADER_SIZE + count * MESSAGE_SIZE:
        complete = (n - PACK_HEADER_SIZE) // MESSAGE_SIZE
        errors.append(Truncated(
            f"message pack announces {count} messages but ends after {complete} and "
            f"{(n - PACK_HEADER_SIZE) % MESSAGE_SIZE} bytes", reason="astm-truncated"))
        return complete
    return count


def _decode_pack(payload: bytes) -> tuple[list[Message], list[DecodeError]]:
    """The messages of a pack (``payload`` is bytes whose type nibble is 0xF).

    A pack whose count runs past the end of its bytes (its element was cut, or its sender
    announced more than it sent) gives its complete messages, and one ``astm-truncated``
    error for the rest.
    """
    errors: list[DecodeError] = []
    count = _PACK_COUNTS.get(payload[:PACK_HEADER_SIZE])
    if count is None or len(payload) < PACK_HEADER_SIZE + count * MESSAGE_SIZE:
        count = _checked_count(payload, errors)
    get = _cache.get
    messages: list[Message] = []
    for key in _PACK_SPLIT[count](payload):
        msg = get(key)  # the messages seen before are answered from the cache
        if msg is None:
            try:
                msg = _decode_new(key)
            except DecodeError as exc:
                errors.append(exc)
                continue
        messages.append(msg)
    return messages, errors


def decode_with_errors(payload: bytes) -> tuple[list[Message], list[DecodeError]]:
    """Like :func:`decode`, but also return the errors of a pack's bad messages."""
    if not payload:
        raise Truncated("empty Remote ID payload", reason="astm-truncated")
    if type(payload) is not bytes:
        payload = bytes(payload)
    if payload[0] >> 4 != MessageType.MESSAGE_PACK:
        return [decode_message(payload)], []
    return _decode_pack(payload)


def decode(payload: bytes) -> list[Message]:
    """Decode one Remote ID payload: a single 25-byte message or a message pack.

    A pack expands into its messages, in order. A pack that is good only in part (bad
    messages: reserved type, newer version, nested pack; or a count running past its end)
    gives a :class:`~dronewatch.errors.Partial`: its good messages, with the errors of the
    others (streams count them); only if none is good does the first error propagate.
    A single message may be followed by padding (ignored).
    """
    if type(payload) is not bytes:
        payload = bytes(payload)
    if not payload:
        raise Truncated("empty Remote ID payload", reason="astm-truncated")
    if payload[0] < 0xF0:  # one message
        if len(payload) == MESSAGE_SIZE:
            msg = _cache.get(payload)
            return [msg if msg is not None else _decode_new(payload)]
        return [decode_message(payload)]
    messages, errors = _decode_pack(payload)
    return partial_or_raise(messages, errors) if errors else messages


def encode(message: Message) -> bytes:
    """Encode one Remote ID message dataclass into its 25 bytes.

    Values are scaled and rounded to the wire resolution and clamped to the wire range;
    ``None`` writes the wire's "unknown" value. Raises ``ValueError`` for what cannot be
    sent (non-ASCII or too long text, an enum value out of range, an unsupported version).
    """
    encoder = _ENCODERS.get(type(message))
    if encoder is None:
        raise TypeError(f"{type(message).__name__} is not a Remote ID message")
    return encoder(message)


def encode_pack(messages: Iterable[Message | bytes], version: int = DEFAULT_VERSION) -> bytes:
    """A message pack of 1..9 messages (dataclasses, or already encoded 25-byte messages)."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"protocol version {version!r} is not supported")
    parts: list[bytes] = []
    for message in messages:
        raw = message if isinstance(message, bytes) else encode(message)
        if len(raw) != MESSAGE_SIZE:
            raise ValueError(f"a packed message must be {MESSAGE_SIZE} bytes, not {len(raw)}")
        if raw[0] >> 4 == MessageType.MESSAGE_PACK:
            raise ValueError("message packs cannot be nested")
        parts.append(raw)
    if not 1 <= len(parts) <= MAX_PACK_MESSAGES:
        raise ValueError(f"a message pack holds 1..{MAX_PACK_MESSAGES} messages, not {len(parts)}")
    header = bytes((MessageType.MESSAGE_PACK << 4 | version, MESSAGE_SIZE, len(parts)))
    return header + b"".join(parts)
