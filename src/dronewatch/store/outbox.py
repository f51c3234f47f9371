"""The outbox: events owed to receivers that must not lose them (webhooks).

Rows are written in the same transaction as the alerts they carry (``WriteBatch.outbox``), so
an alert that is stored is owed to every durable receiver, across receiver outages and
dronewatch restarts; a row is deleted once its receiver took it (at least once: a receiver
may see an event again, always with the same idempotency key).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from dronewatch.store import models as m
from dronewatch.store.store import Store, store_error


@dataclass(slots=True, frozen=True)
class OutboxItem:
    id: int
    key: str
    body: str
    attempts: int
    created: float  # server clock, when the event was committed


def outbox_row(target: str, key: str, body: str, now: float | None = None) -> dict[str, Any]:
    """A row for ``WriteBatch.outbox``: due at once."""
    now = time.time() if now is None else now
    return {
        "target": target,
        "key": key,
        "created": now,
        "body": body,
        "attempts": 0,
        "next_attempt": now,
        "last_error": None,
    }


class Outbox:
    """One target's rows in the store. ``StoreError`` when the database fails."""

    def __init__(self, store: Store, target: str) -> None:
        self.store = store
        self.target = target

    def due(self, now: float, limit: int = 50) -> list[OutboxItem]:
        """The rows due at ``now``, oldest first."""
        o = m.outbox
        stmt = (
            sa.select(o.c.id, o.c.key, o.c.body, o.c.attempts, o.c.created)
            .where(o.c.target == self.target, o.c.next_attempt <= now)
            .order_by(o.c.id)
            .limit(limit)
        )
        try:
            with self.store.engine.connect() as conn:
                return [OutboxItem(*row) for row in conn.execute(stmt)]
        except Exception as exc:
            raise store_error(exc, "database read failed") from exc

    def summary(self) -> tuple[int, float | None]:
        """(rows owed, when the earliest is due: ``None`` if none)."""
        o = m.outbox
        stmt = sa.select(sa.func.count(), sa.func.min(o.c.next_attempt)).where(
            o.c.target == self.target
        )
        try:
            with self.store.engine.connect() as conn:
                count, first = conn.execute(stmt).one()
        except Exception as exc:
            raise store_error(exc, "database read failed") from exc
        return int(count or 0), (float(first) if first is not None else None)

    def pending(self) -> int:
        return self.summary()[0]

    def done(self, ids: list[int]) -> None:
        """The receiver took these rows: forget them."""
        if not ids:
            return
        try:
            with self.store.engine.begin() as conn:
                conn.execute(m.outbox.delete().where(m.outbox.c.id.in_(ids)))
        except Exception as exc:
            raise store_error(exc) from exc

    def done_keys(self, keys: list[str]) -> None:
        """The receiver took the rows with these keys: forget them."""
        if not keys:
            return
        o = m.outbox
        try:
            with self.store.engine.begin() as conn:
                conn.execute(o.delete().where(o.c.target == self.target, o.c.key.in_(keys)))
        except Exception as exc:
            raise store_error(exc) from exc

    def retry_key(self, key: str, next_attempt: float, error: str) -> None:
        """A first attempt at the row with this key failed: try again at ``next_attempt``."""
        o = m.outbox
        try:
            with self.store.engine.begin() as conn:
                conn.execute(
                    o.update()
                    .where(o.c.target == self.target, o.c.key == key)
                    .values(attempts=o.c.attempts + 1, next_attempt=next_attempt, last_error=error)
                )
        except Exception as exc:
            raise store_error(exc) from exc

    def retry(self, item: OutboxItem, next_attempt: float, error: str) -> None:
        """A failed attempt: try again at ``next_attempt``."""
        o = m.outbox
        try:
            with self.store.engine.begin() as conn:
                conn.execute(
                    o.update()
                    .where(o.c.id == item.id)
                    .values(attempts=item.attempts + 1, next_attempt=next_attempt, last_error=error)
                )
        except Exception as exc:
            raise store_error(exc) from exc
