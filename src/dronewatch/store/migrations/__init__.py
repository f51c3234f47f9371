"""Alembic migrations of the dronewatch schema, run programmatically by ``Store.migrate``."""
