"""Which sensor batches the pipeline has taken: a redelivered batch is not processed twice,
and a batch that never came is counted.

A sensor numbers its batches per session (:class:`~dronewatch.sources.live.BatchKey`). The
broker delivers a batch again when the server did not acknowledge it in time (a restart, a
reconnection), and a sensor resends what the broker did not acknowledge: the copies have the
same key. The ledger remembers the keys taken in this process and, the first time it meets a
session, asks the store which of its batches are committed (those of a previous run). The
store's own unique key on batches (``ingest_batches``) is the last word: a copy the ledger lets
through (older than its window) is still stored once.

Gaps: a sensor's batches of one session arrive in order (MQTT keeps the order of one
publisher's messages on a topic), so a jump in the numbers is a batch that was lost on the
way (dropped by a sensor that could not keep up, or by a broker over its queue limit).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from dronewatch.sources.live import BatchKey
from dronewatch.sources.sensors import SensorBook
from dronewatch.store import Store, StoreError

log = logging.getLogger(__name__)

WINDOW = 100_000  # batches remembered per session (25 million frames at 256 per batch)
MISSING_KEPT = 10_000  # missing numbers remembered per session (to notice late arrivals)


@dataclass(slots=True)
class _Session:
    seen: set[int] = field(default_factory=set)
    high: int | None = None  # highest number seen
    missing: set[int] = field(default_factory=set)


class Ledger:
    """Keys of the batches taken (see module doc). Used by the pipeline thread only."""

    def __init__(self, store: Store | None, book: SensorBook) -> None:
        self.store = store
        self.book = book
        self._sessions: dict[tuple[str, str], _Session] = {}

    def _session(self, key: BatchKey) -> _Session:
        s = self._sessions.get((key.sensor, key.session))
        if s is not None:
            return s
        s = self._sessions[(key.sensor, key.session)] = _Session()
        if self.store is not None:
            try:
                s.seen = self.store.committed_seqs(
                    key.sensor, key.session, max(0, key.seq - WINDOW)
                )
            except StoreError as exc:  # the store's unique key still keeps copies out
                log.warning("cannot read the committed batches of %s: %s", key.sensor, exc)
        if s.seen:
            s.high = max(s.seen)
        return s

    def take(self, key: BatchKey) -> bool:
        """``True`` if the batch is new (process it), ``False`` for a copy (counted)."""
        s = self._session(key)
        seq = key.seq
        if seq in s.seen:
            self.book.duplicate(key.sensor)
            return False
        s.seen.add(seq)
        if s.high is None:
            s.high = seq
        elif seq > s.high:
            gap = seq - s.high - 1
            if gap:
                self.book.missing(key.sensor, gap)
                if gap <= MISSING_KEPT:
                    s.missing.update(range(s.high + 1, seq))
            s.high = seq
        elif seq in s.missing:  # late after all
            s.missing.discard(seq)
            self.book.missing(key.sensor, -1)
        if len(s.seen) > 2 * WINDOW:
            floor = s.high - WINDOW
            s.seen = {q for q in s.seen if q > floor}
            s.missing = {q for q in s.missing if q > floor}
        elif len(s.missing) > MISSING_KEPT:
            s.missing = set(sorted(s.missing)[-MISSING_KEPT:])
        return True

    def forget(self, key: BatchKey) -> None:
        """The batch was taken but its rows were lost before commit: take it again when it
        is delivered again."""
        s = self._sessions.get((key.sensor, key.session))
        if s is not None:
            s.seen.discard(key.seq)
