"""Persistence: SQLite by default, PostgreSQL by URL, one SQLAlchemy 2 schema, alembic migrations."""

from dronewatch.store.store import (
    DEFAULT_DB_PATH,
    BBox,
    SensorSeen,
    Store,
    StoreError,
    StoreRejected,
    StoreUnavailable,
    WriteBatch,
    database_url,
)

__all__ = [
    "DEFAULT_DB_PATH",
    "BBox",
    "SensorSeen",
    "Store",
    "StoreError",
    "StoreRejected",
    "StoreUnavailable",
    "WriteBatch",
    "database_url",
]
