"""Protocol decoders and encoders: pure functions, bytes in, typed messages out, no I/O.

Each transport has exactly one payload decoder, registered in one line::

    @register(Transport.DJI_WIFI)
    def decode(payload: bytes) -> list[Message]: ...

A decoder raises :class:`~dronewatch.errors.NotMine` for bytes of another format,
:class:`~dronewatch.errors.Corrupt` (or ``Truncated``) for broken ones and
:class:`~dronewatch.errors.Unsupported` for unknown versions or types. It never returns
partial garbage: what it returns is valid.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from dronewatch.errors import Unsupported
from dronewatch.model import Message, Transport

PayloadDecoder = Callable[[bytes], list[Message]]

_DECODERS: dict[Transport, PayloadDecoder] = {}

# Modules that register decoders on import; loaded lazily on first lookup so that importing
# one protocol does not import them all.
_DECODER_MODULES = (
    "dronewatch.protocols.astm",
    "dronewatch.protocols.dji_wifi",
    "dronewatch.protocols.fr_beacon",
    "dronewatch.protocols.dji_ocusync",
    "dronewatch.protocols.antsdr",
)
_loaded = False


def register(*transports: Transport) -> Callable[[PayloadDecoder], PayloadDecoder]:
    """Register ``fn`` as the payload decoder of ``transports``."""

    def wrap(fn: PayloadDecoder) -> PayloadDecoder:
        for t in transports:
            _DECODERS[t] = fn
        return fn

    return wrap


class DecoderImportError(ImportError):
    """A decoder module could not be imported, or left a transport without a decoder."""


def _load_all() -> None:
    """Import every decoder module. One that fails is an error (raised again at every use),
    never a transport silently missing from the table."""
    global _loaded
    if _loaded:
        return
    for name in _DECODER_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise DecoderImportError(f"decoder module {name} failed to import: {exc}") from exc
    missing = [t.value for t in Transport if t not in _DECODERS]
    if missing:
        raise DecoderImportError(f"no decoder registered for {', '.join(missing)}")
    _loaded = True


def decoders() -> dict[Transport, PayloadDecoder]:
    """The live dispatch table (transport -> decoder), every decoder loaded, for hot loops."""
    _load_all()
    return _DECODERS


def decoder_for(transport: Transport) -> PayloadDecoder:
    """The payload decoder of ``transport``; ``Unsupported`` if none is registered."""
    fn = _DECODERS.get(transport)
    if fn is None:
        _load_all()
        fn = _DECODERS.get(transport)
    if fn is None:
        raise Unsupported(f"no decoder for transport {transport.value}", reason="no-decoder")
    return fn


def decode_payload(transport: Transport, payload: bytes) -> list[Message]:
    """Decode one payload with the decoder registered for ``transport``."""
    return decoder_for(transport)(payload)
