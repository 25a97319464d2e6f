"""Inserts that do nothing when the natural key exists: every ERP write is idempotent."""

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import on_postgresql


def insert_ignoring_duplicates(model: type, **unique: Any) -> Any:
    """An INSERT that does nothing when the natural key already exists (PostgreSQL or SQLite)."""
    insert = postgresql.insert if on_postgresql() else sqlite.insert
    return insert(model).on_conflict_do_nothing(**unique)
