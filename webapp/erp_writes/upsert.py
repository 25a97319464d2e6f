"""Inserts that do nothing when the natural key exists: every ERP write is idempotent."""

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db, execute_core, on_postgresql


def insert_ignoring_duplicates(model: type, **unique: Any) -> Any:
    """An INSERT that does nothing when the natural key already exists (PostgreSQL or SQLite).

    Into the model's table, not the mapped class: nothing is loaded back, and the ORM's bulk
    path would cost a write step more CPU than the statement (run it with execute_core, in
    webapp.extensions)."""
    insert = postgresql.insert if on_postgresql() else sqlite.insert
    return insert(model.__table__).on_conflict_do_nothing(**unique)  # type: ignore[attr-defined]


def insert_or_find_id(model: type, values: dict[str, Any], *unique: str) -> int:
    """Insert a row unless its natural key (the ``unique`` columns) exists; return the row's id.

    A new row answers with its id in the INSERT's RETURNING, one round trip; only when the key
    exists already (a redelivery, a product shared by two jobs) does a second query look it up.
    """
    table = model.__table__  # type: ignore[attr-defined]
    inserted = execute_core(insert_ignoring_duplicates(model, index_elements=list(unique)).values(**values).returning(table.c.id))
    row_id = inserted.scalar_one_or_none()
    if row_id is not None:
        return int(row_id)
    found = db.select(table.c.id).where(*(table.c[column] == values[column] for column in unique))
    return int(execute_core(found).scalar_one())
