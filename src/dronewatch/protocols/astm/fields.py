"""Field codecs: how one message field maps to and from its raw wire integers/bytes.

A codec reads ``raw_count`` raw wire items (integers extracted from the message's struct,
or bytes for text/data) and gives the field value; ``encode`` goes back to those raws.
For speed, a codec also gives a Python *expression* of its decoding (``decode_source``):
the table engine (:mod:`dronewatch.protocols.tables`) pastes these into one generated function
per layout. ``decode_source`` must compute exactly what ``decode`` computes, and
``encode_source`` and ``encode_many`` (numpy, for the simulator) what ``encode`` gives (a fast
path for ordinary values, the method for the rest); the tests check the pairs agree.

Resolutions and sentinels follow ASTM F3411-22a / EN 4709-002 (see each class).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from dronewatch.protocols.astm.constants import ODID_EPOCH
from dronewatch.protocols.tables import FieldCodec, Raw

__all__ = ["FieldCodec", "Raw"]  # (and the codecs below)



def _np() -> Any:
    import numpy

    return numpy


def _finite(values: Any) -> Any:
    """(mask of finite values, values with the others as 0.0) of a float array."""
    np = _np()
    a = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(a)
    return ok, np.where(ok, a, 0.0)


def _uint_check(value: int, bits: int, what: str) -> int:
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{what} {value} does not fit in {bits} bits")
    return value


class UInt(FieldCodec):
    """An unsigned integer as is (page numbers, counts, lengths)."""

    def __init__(self, bits: int) -> None:
        self.bits = bits

    def decode(self, *raws: Raw) -> int:
        return int(raws[0])

    def encode(self, value: Any) -> tuple[Raw, ...]:
        return (_uint_check(int(value), self.bits, "value"),)

    def encode_source(self, value: str, ref: str) -> str | None:
        top = (1 << self.bits) - 1
        return f"({value} if {value}.__class__ is int and 0 <= {value} <= {top} else {ref}.encode({value})[0])"

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        return raws[0]


class Version(FieldCodec):
    """The protocol version nibble of the header; encoding refuses unsupported versions."""

    def __init__(self, supported: Collection[int]) -> None:
        self.supported = supported

    def decode(self, *raws: Raw) -> int:
        return int(raws[0])

    def encode(self, value: Any) -> tuple[Raw, ...]:
        if value not in self.supported:
            raise ValueError(f"protocol version {value!r} is not supported")
        return (value,)

    def encode_source(self, value: str, ref: str) -> str | None:
        return f"({value} if {value} in {ref}_ok else {ref}.encode({value})[0])"

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        return raws[0]

    def namespace(self, ref: str) -> dict[str, Any]:
        return {ref: self, f"{ref}_ok": self.supported}


class OptionalUInt(UInt):
    """An unsigned integer that may be absent (``None`` encodes as 0)."""

    def encode(self, value: Any) -> tuple[Raw, ...]:
        return (0,) if value is None else super().encode(value)

    def encode_source(self, value: str, ref: str) -> str | None:
        return f"(0 if {value} is None else {super().encode_source(value, ref)})"


class Scaled(FieldCodec):
    """An unsigned integer times ``step`` (e.g. the area radius in 10 m steps), an int."""

    def __init__(self, bits: int, step: int) -> None:
        self.bits = bits
        self.step = step

    def decode(self, *raws: Raw) -> int:
        return int(raws[0]) * self.step

    def encode(self, value: Any) -> tuple[Raw, ...]:
        top = (1 << self.bits) - 1
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return (round(min(max(value, 0), top * self.step) / self.step),)

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        return f"{raws[0]} * {self.step}"


class Enum(FieldCodec):
    """An enumeration; every value of the ``bits``-wide field maps to a member."""

    def __init__(self, cls: type[enum.IntEnum], bits: int) -> None:
        self.cls = cls
        self.bits = bits
        self.table: tuple[enum.IntEnum, ...] = tuple(cls(v) for v in range(1 << bits))

    def decode(self, *raws: Raw) -> enum.IntEnum:
        return self.table[raws[0]]

    def encode(self, value: Any) -> tuple[Raw, ...]:
        return (_uint_check(int(value), self.bits, self.cls.__name__),)

    def encode_source(self, value: str, ref: str) -> str | None:
        return f"({ref}_e[{value}] if {value} in {ref}_e else {ref}.encode({value})[0])"

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        return f"{ref}_t[{raws[0]}]"

    def encode_many(self, values: Any) -> tuple[Any, ...]:
        np = _np()
        if np.ndim(values) == 0:
            return self.encode(values)
        raw = np.asarray(values, dtype=np.int64)
        if raw.size and (raw.min() < 0 or raw.max() >= 1 << self.bits):
            raise ValueError(f"{self.cls.__name__} values do not fit in {self.bits} bits")
        return (raw,)

    def namespace(self, ref: str) -> dict[str, Any]:
        identity = {v: v for v in range(1 << self.bits)}
        return {ref: self, f"{ref}_t": self.table, f"{ref}_e": identity}


class Accuracy(FieldCodec):
    """An accuracy category as its SI bound; unknown/reserved categories are ``None``.

    Encoding picks the tightest category whose bound still contains the value (a value
    worse than the loosest category is "unknown").
    """

    def __init__(self, bounds: Mapping[int, float], bits: int) -> None:
        self.bits = bits
        self.table: tuple[float | None, ...] = tuple(bounds.get(v) for v in range(1 << bits))
        # (bound, code) from tightest to loosest
        self._by_bound = sorted((b, c) for c, b in bounds.items())

    def decode(self, *raws: Raw) -> float | None:
        return self.table[raws[0]]

    def encode(self, value: Any) -> tuple[Raw, ...]:
        if value is None or not math.isfinite(value):
            return (0,)
        for bound, code in self._by_bound:
            if value <= bound * (1 + 1e-9):
                return (code,)
        return (0,)

    def encode_source(self, value: str, ref: str) -> str | None:
        # exact category bounds (what decoding gives) and None are looked up directly
        return f"({ref}_e[{value}] if {value} in {ref}_e else {ref}.encode({value})[0])"

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        return f"{ref}_t[{raws[0]}]"

    def namespace(self, ref: str) -> dict[str, Any]:
        exact: dict[float | None, int] = {None: 0}
        exact.update((bound, code) for bound, code in reversed(self._by_bound))
        exact = {k: self.encode(k)[0] for k in exact}  # the tightest code, as encode says
        return {ref: self, f"{ref}_t": self.table, f"{ref}_e": exact}


class Direction(FieldCodec):
    """Track direction: 8-bit degrees plus an east/west bit adding 180; 361 = unknown.

    Raws: (degrees byte, E/W bit). Decoded in [0, 360) (360 reads as 0); any value above
    360 is ``None``. Encoding rounds to the 1-degree resolution.
    """

    raw_count = write_count = 2
    UNKNOWN = 361

    def __init__(self) -> None:
        table: list[float | None] = []
        for ew in (0, 1):
            for d in range(256):
                deg = d + 180 * ew
                table.append(float(deg % 360) if deg <= 360 else None)
        self.table = tuple(table)

    def decode(self, *raws: Raw) -> float | None:
        return self.table[int(raws[1]) << 8 | int(raws[0])]

    def encode(self, value: Any) -> tuple[Raw, ...]:
        if value is None or not math.isfinite(value):
            return (self.UNKNOWN - 180, 1)
        deg = round(value) % 360
        return (deg, 0) if deg < 180 else (deg - 180, 1)

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        return f"{ref}_t[{raws[1]} << 8 | {raws[0]}]"

    def encode_many(self, values: Any) -> tuple[Any, ...]:
        np = _np()
        ok, a = _finite(values)
        deg = np.where(ok, np.rint(a) % 360, self.UNKNOWN).astype(np.int64)
        ew = (deg >= 180).astype(np.int64)
        return deg - 180 * ew, ew

    def namespace(self, ref: str) -> dict[str, Any]:
        return {ref: self, f"{ref}_t": self.table}


class Speed(FieldCodec):
    """Horizontal speed: byte x 0.25 m/s, or with the multiplier bit 63.75 + byte x 0.75 m/s.

    Raws: (speed byte, multiplier bit). 255 with the multiplier is "unknown" (255 m/s);
    encoding clamps to 0..254.25 m/s and rounds to the resolution.
    """

    raw_count = write_count = 2
    LOW_STEP = 0.25
    HIGH_STEP = 0.75
    LOW_MAX = 255 * LOW_STEP  # 63.75
    MAX = LOW_MAX + 254 * HIGH_STEP  # 254.25

    def __init__(self) -> None:
        low = [v * self.LOW_STEP for v in range(256)]
        high: list[float | None] = [self.LOW_MAX + v * self.HIGH_STEP for v in range(255)]
        high.append(None)
        self.table: tuple[float | None, ...] = (*low, *high)

    def decode(self, *raws: Raw) -> float | None:
        return self.table[int(raws[1]) << 8 | int(raws[0])]

    def encode(self, value: Any) -> tuple[Raw, ...]:
        if value is None or not math.isfinite(value):
            return (255, 1)
        if value <= self.LOW_MAX:
            return (round(max(value, 0.0) / self.LOW_STEP), 0)
        return (round((min(value, self.MAX) - self.LOW_MAX) / self.HIGH_STEP), 1)

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        return f"{ref}_t[{raws[1]} << 8 | {raws[0]}]"

    def encode_many(self, values: Any) -> tuple[Any, ...]:
        np = _np()
        ok, a = _finite(values)
        low = a <= self.LOW_MAX
        with np.errstate(over="ignore"):  # (huge values take the other branch)
            raw = np.where(
                low,
                np.rint(np.maximum(a, 0.0) / self.LOW_STEP),
                np.rint((np.minimum(a, self.MAX) - self.LOW_MAX) / self.HIGH_STEP),
            ).astype(np.int64)
        return np.where(ok, raw, 255), np.where(ok, (~low).astype(np.int64), 1)

    def namespace(self, ref: str) -> dict[str, Any]:
        return {ref: self, f"{ref}_t": self.table}


class VerticalSpeed(FieldCodec):
    """Vertical speed: signed byte x 0.5 m/s, up positive; 63 m/s (raw 126) = unknown.

    The raw is read as an *unsigned* byte (the struct has no sign); values beyond +-62 m/s
    are invalid and decode as ``None``. Encoding clamps to +-62 m/s.
    """

    STEP = 0.5
    MAX = 62.0
    UNKNOWN_RAW = 126

    def __init__(self) -> None:
        table: list[float | None] = []
        for u in range(256):
            s = u - 256 if u > 127 else u
            table.append(s * self.STEP if abs(s) <= 124 else None)
        self.table = tuple(table)

    def decode(self, *raws: Raw) -> float | None:
        return self.table[raws[0]]

    def encode(self, value: Any) -> tuple[Raw, ...]:
        if value is None or not math.isfinite(value):
            return (self.UNKNOWN_RAW,)
        raw = round(min(max(value, -self.MAX), self.MAX) / self.STEP)
        return (raw & 0xFF,)

    def encode_source(self, value: str, ref: str) -> str | None:
        return (
            f"({self.UNKNOWN_RAW} if {value} is None else round({value} * 2) & 255 "
            f"if -{self.MAX} <= {value} <= {self.MAX} else {ref}.encode({value})[0])"
        )

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        return f"{ref}_t[{raws[0]}]"

    def encode_many(self, values: Any) -> tuple[Any, ...]:
        np = _np()
        ok, a = _finite(values)
        raw = np.rint(np.clip(a, -self.MAX, self.MAX) / self.STEP).astype(np.int64) & 0xFF
        return (np.where(ok, raw, self.UNKNOWN_RAW),)

    def namespace(self, ref: str) -> dict[str, Any]:
        return {ref: self, f"{ref}_t": self.table}


class Coordinate(FieldCodec):
    """Latitude or longitude: signed 32-bit x 1e-7 degree.

    Raws: (this coordinate, the other one of the pair). Both zero means "unknown" (both
    decode ``None``); a value outside +-``limit`` degrees is invalid (``None``).
    """

    raw_count = 2
    write_count = 1

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.raw_limit = limit * 10_000_000

    def decode(self, *raws: Raw) -> float | None:
        r, other = raws
        if (r or other) and -self.raw_limit <= r <= self.raw_limit:
            return float(r / 1e7)
        return None

    def encode(self, value: Any) -> tuple[Raw, ...]:
        if value is None or not math.isfinite(value):
            return (0,)
        return (round(min(max(value, -self.limit), self.limit) * 1e7),)

    def encode_source(self, value: str, ref: str) -> str | None:
        lim = self.limit
        return (
            f"(0 if {value} is None else round({value} * 1e7) "
            f"if -{lim} <= {value} <= {lim} else {ref}.encode({value})[0])"
        )

    def encode_many(self, values: Any) -> tuple[Any, ...]:
        np = _np()
        ok, a = _finite(values)
        raw = np.rint(np.clip(a, -self.limit, self.limit) * 1e7).astype(np.int64)
        return (np.where(ok, raw, 0),)

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        r, o = raws
        lim = self.raw_limit
        return f"({r} / 1e7 if ({r} or {o}) and -{lim} <= {r} <= {lim} else None)"


class Altitude(FieldCodec):
    """Altitude or height: unsigned 16-bit x 0.5 m - 1000 m; raw 0 (-1000 m) = unknown.

    Encoding rounds to 0.5 m and clamps to -999.5..31767.5 m.
    """

    OFFSET = 1000.0
    STEP = 0.5

    def decode(self, *raws: Raw) -> float | None:
        r = raws[0]
        return r * self.STEP - self.OFFSET if r else None

    def encode(self, value: Any) -> tuple[Raw, ...]:
        if value is None or not math.isfinite(value):
            return (0,)
        value = min(max(value, -self.OFFSET + self.STEP), 0xFFFF * self.STEP - self.OFFSET)
        return (round((value + self.OFFSET) / self.STEP),)

    def encode_source(self, value: str, ref: str) -> str | None:
        return (
            f"(0 if {value} is None else round(({value} + 1000.0) * 2) "
            f"if -999.5 <= {value} <= 31767.5 else {ref}.encode({value})[0])"
        )

    def encode_many(self, values: Any) -> tuple[Any, ...]:
        np = _np()
        ok, a = _finite(values)
        clipped = np.clip(a, -self.OFFSET + self.STEP, 0xFFFF * self.STEP - self.OFFSET)
        return (np.where(ok, np.rint((clipped + self.OFFSET) / self.STEP), 0).astype(np.int64),)

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        r = raws[0]
        return f"({r} * 0.5 - 1000.0 if {r} else None)"


class HourTimestamp(FieldCodec):
    """Location time: tenths of a second after the full UTC hour; above 36000 = unknown.

    The wire's "unknown" is 0xFFFF; every value above one hour is invalid and reads ``None``.
    """

    UNKNOWN = 0xFFFF
    MAX_RAW = 36000

    def decode(self, *raws: Raw) -> float | None:
        r = raws[0]
        return r / 10 if r <= self.MAX_RAW else None

    def encode(self, value: Any) -> tuple[Raw, ...]:
        if value is None or not math.isfinite(value):
            return (self.UNKNOWN,)
        return (round(min(max(value, 0.0), self.MAX_RAW / 10) * 10),)

    def encode_source(self, value: str, ref: str) -> str | None:
        return (
            f"({self.UNKNOWN} if {value} is None else round({value} * 10) "
            f"if 0.0 <= {value} <= 3600.0 else {ref}.encode({value})[0])"
        )

    def encode_many(self, values: Any) -> tuple[Any, ...]:
        np = _np()
        ok, a = _finite(values)
        raw = np.rint(np.clip(a, 0.0, self.MAX_RAW / 10) * 10).astype(np.int64)
        return (np.where(ok, raw, self.UNKNOWN),)

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        r = raws[0]
        return f"({r} / 10 if {r} <= {self.MAX_RAW} else None)"


class EpochTimestamp(FieldCodec):
    """System/Authentication time: unsigned 32-bit seconds since 2019-01-01T00:00Z.

    Decoded to UTC Unix epoch seconds (float); 0 = unknown.
    """

    def decode(self, *raws: Raw) -> float | None:
        r = raws[0]
        return float(r + ODID_EPOCH) if r else None

    def encode(self, value: Any) -> tuple[Raw, ...]:
        if value is None or not math.isfinite(value):
            return (0,)
        return (round(min(max(value - ODID_EPOCH, 0.0), 0xFFFFFFFF)),)

    def encode_source(self, value: str, ref: str) -> str | None:
        lo, hi = float(ODID_EPOCH), float(ODID_EPOCH + 0xFFFFFFFF)
        return (
            f"(0 if {value} is None else round({value} - {lo!r}) "
            f"if {lo!r} <= {value} <= {hi!r} else {ref}.encode({value})[0])"
        )

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        r = raws[0]
        return f"({r} + {float(ODID_EPOCH)!r} if {r} else None)"


_PRINTABLE = frozenset(range(0x20, 0x7F))
_PRINTABLE_BYTES = bytes(range(0x20, 0x7F))


def decode_text(raw: bytes) -> str | None:
    """A NUL-padded ASCII field: cut at the first NUL, strip spaces; empty -> ``None``.

    Bytes that are not printable ASCII are replaced by U+FFFD, so a corrupted ID is visibly
    corrupted rather than silently plausible.
    """
    text = raw.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return None
    if not text.translate(None, _PRINTABLE_BYTES):  # every byte printable ASCII
        return text.decode("ascii")
    return "".join(chr(b) if b in _PRINTABLE else "\ufffd" for b in text)


class Text(FieldCodec):
    """A NUL-padded ASCII text field of ``size`` bytes (see :func:`decode_text`)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def decode(self, *raws: Raw) -> str | None:
        return decode_text(raws[0])

    def encode(self, value: Any) -> tuple[Raw, ...]:
        if value is None:
            return (b"",)
        try:
            raw = str(value).encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"{value!r}: Remote ID text must be ASCII") from None
        if len(raw) > self.size:
            raise ValueError(f"{value!r}: longer than {self.size} characters")
        return (raw,)  # struct pads with NULs

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        return f"_text({raws[0]})"

    def namespace(self, ref: str) -> dict[str, Any]:
        return {ref: self, "_text": decode_text}


class Data(FieldCodec):
    """Opaque bytes of ``size`` bytes, kept as sent (padding included)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def decode(self, *raws: Raw) -> bytes:
        return bytes(raws[0])

    def encode(self, value: Any) -> tuple[Raw, ...]:
        raw = bytes(value or b"")
        if len(raw) > self.size:
            raise ValueError(f"{len(raw)} data bytes do not fit in {self.size}")
        return (raw,)

    def decode_source(self, raws: Sequence[str], ref: str) -> str:
        return raws[0]
