"""The server's edge: every field of a frame from outside checked before anything uses it.

A frame from a sensor (over MQTT) or a live receiver is data from outside: a NaN or infinite
time, a time of 1970 or of next year, a NUL byte, an RSSI of +500 dBm or a 10 MB string must
not reach the decoders, the tracker or the database, where they stop ingest, hide history or
kill a writer. :func:`frame_problem` says what is wrong with one frame (a short reason, the
key of a per-sensor counter) or ``None``; a bad frame is rejected alone, the frames around it
go on.

Times: finite always; for live input also within a window around the server's clock
(:class:`FrameLimits` ``max_age_s`` / ``max_ahead_s``). Recordings keep their own times (a
sniffer without a real-time clock stamps 1970), so they are only checked for being finite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dronewatch.model import Frame

# Physical bounds. Received power: the thermal noise floor is -174 dBm/Hz; a transmitter
# touching the antenna gives well under +30 dBm. Radio frequencies dronewatch can receive:
# 1 MHz .. 100 GHz. Channel numbers: 802.11 (up to 233 at 6 GHz), BLE (0-39), OcuSync
# channel indices: all far below 4096.
RSSI_DBM_MIN, RSSI_DBM_MAX = -200.0, 30.0
FREQUENCY_HZ_MIN, FREQUENCY_HZ_MAX = 1e6, 1e11
CHANNEL_MAX = 4095
COUNTER_MAX = 2**32 - 1
PAYLOAD_MAX_BYTES = 4096  # the largest broadcast payload (an OcuSync block, a BT5 advert) is < 1 KB
TEXT_MAX_CHARS = 64  # sensor ids, transmitter addresses, keys of ``extra``
EXTRA_MAX_ITEMS = 32
INT_MAX_ABS = 2**53  # integers in ``extra`` stay exact as JSON numbers

DEFAULT_MAX_AGE_S = 7 * 86400.0  # a live frame older than this is refused
DEFAULT_MAX_AHEAD_S = 60.0  # ... and one this far ahead of the server's clock


@dataclass(slots=True, frozen=True)
class FrameLimits:
    """How far a frame's time may be from the server's clock (``None``: no limit)."""

    max_age_s: float | None = DEFAULT_MAX_AGE_S
    max_ahead_s: float | None = DEFAULT_MAX_AHEAD_S

    @classmethod
    def recording(cls) -> FrameLimits:
        """For recorded captures: any finite time."""
        return cls(None, None)


def text_problem(text: str, what: str, max_chars: int = TEXT_MAX_CHARS) -> str | None:
    """Why ``text`` cannot be stored, or ``None``: too long, a NUL (PostgreSQL refuses it),
    a lone surrogate (not Unicode; no database can encode it), another control character."""
    if len(text) > max_chars:
        return f"{what}: longer than {max_chars} characters"
    if not text.isprintable():
        for ch in text:
            if ch == "\0":
                return f"{what}: NUL character"
            if "\ud800" <= ch <= "\udfff":
                return f"{what}: lone surrogate"
        return f"{what}: control character"
    return None


def _number_problem(value: Any, what: str, lo: float, hi: float) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{what}: not a number"
    if not math.isfinite(value):
        return f"{what}: not finite"
    if not lo <= value <= hi:
        return f"{what}: out of range"
    return None


def extra_problem(extra: dict[str, Any]) -> str | None:
    """``extra`` must be flat: at most ``EXTRA_MAX_ITEMS`` short keys with numbers, short
    strings, booleans or nulls (what a receiver measured: snr_db, cfo_hz, phy...)."""
    if len(extra) > EXTRA_MAX_ITEMS:
        return "extra: too many items"
    for key, value in extra.items():
        problem = text_problem(key, "extra")
        if problem is not None:
            return problem
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            if abs(value) > INT_MAX_ABS:
                return "extra: integer too large"
        elif isinstance(value, float):
            if not math.isfinite(value):
                return "extra: not finite"
        elif isinstance(value, str):
            problem = text_problem(value, "extra")
            if problem is not None:
                return problem
        else:
            return "extra: not flat"
    return None


def frame_problem(frame: Frame, now: float, limits: FrameLimits) -> str | None:
    """Why ``frame`` is refused at the edge (a short reason), or ``None`` if it is sound.

    ``now``: the server's clock (UTC epoch s) for the time window of ``limits``.
    """
    t = frame.time
    if not math.isfinite(t):
        return "time: not finite"
    if limits.max_age_s is not None:
        if t < now - limits.max_age_s:
            return "time: too far in the past"
        if t < 0.0:  # before 1970: never a live time
            return "time: negative"
    if limits.max_ahead_s is not None and t > now + limits.max_ahead_s:
        return "time: in the future"
    if len(frame.payload) > PAYLOAD_MAX_BYTES:
        return "payload: too large"
    if frame.rssi_dbm is not None:
        problem = _number_problem(frame.rssi_dbm, "rssi", RSSI_DBM_MIN, RSSI_DBM_MAX)
        if problem is not None:
            return problem
    if frame.frequency_hz is not None:
        problem = _number_problem(
            frame.frequency_hz, "frequency", FREQUENCY_HZ_MIN, FREQUENCY_HZ_MAX
        )
        if problem is not None:
            return problem
    if frame.channel is not None and not 0 <= frame.channel <= CHANNEL_MAX:
        return "channel: out of range"
    if frame.counter is not None and not 0 <= frame.counter <= COUNTER_MAX:
        return "counter: out of range"
    if frame.source is not None:
        problem = text_problem(frame.source, "source")
        if problem is not None:
            return problem
    problem = text_problem(frame.sensor_id, "sensor id")
    if problem is not None:
        return problem
    if frame.extra is not None:
        return extra_problem(frame.extra)
    return None
