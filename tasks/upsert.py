"""Inserts that do nothing when the natural key exists: every ERP write is idempotent."""

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import on_postgresql


def insert_ignoring_duplicates(model: type, **unique: Any) -> Any:
    """An INSERT that does nothing when the natural key already exists (PostgreSQL or SQLite).

    Into the model's table, not the mapped class: nothing is loaded back, and the ORM's bulk
    path would cost a write step more CPU than the statement (run it with execute_core, in
    webapp.extensions)."""
    insert = postgresql.insert if on_postgresql() else sqlite.insert
    return insert(model.__table__).on_conflict_do_nothing(**unique)  # type: ignore[attr-defined]
