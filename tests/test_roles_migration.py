"""The roles migration: operators who exist at upgrade become admins (they could do everything
before), their tokens and jobs stay theirs, and the downgrade takes the columns away again."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from devtools import ROOT
from tests.migrating import app_on_own_database
from webapp.extensions import db

BEFORE, ROLES = "a4b5c6d7e801", "b1e7c4a9d2f0"
SCHEMA = "roles_migration"


@pytest.fixture
def migrating_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a database of its own (tests.migrating)."""
    with app_on_own_database(tmp_path, SCHEMA) as app:
        yield app


def test_existing_operators_become_admins_and_their_tokens_keep_working(migrating_app: Flask) -> None:
    folder = str(ROOT / "migrations")
    run = db.session.execute
    with migrating_app.app_context():
        upgrade(directory=folder, revision=BEFORE)
        for n, name in enumerate(("olga", "omar"), start=1):
            columns = "id, username, password_hash, active, created_at"
            run(sa.text(f"INSERT INTO operators ({columns}) VALUES (:id, :name, 'x', true, CURRENT_TIMESTAMP)"), {"id": n, "name": name})
        run(sa.text("INSERT INTO api_tokens (id, operator_id, token_hash, created_at) VALUES (1, 1, 'abc', CURRENT_TIMESTAMP)"))
        run(
            sa.text(
                "INSERT INTO jobs (id, kind, source, status, total, created_at, finalized_count, resent_records, created_by_id) "
                "VALUES (1, 'purchase_orders', 'upload', 'succeeded', 1, CURRENT_TIMESTAMP, 0, 0, 2)"
            )
        )
        db.session.commit()
        upgrade(directory=folder, revision=ROLES)
        operators = run(sa.text("SELECT username, role, must_change_password FROM operators ORDER BY id")).all()
        assert [(name, role, bool(change)) for name, role, change in operators] == [("olga", "admin", False), ("omar", "admin", False)]
        token = run(sa.text("SELECT name, expires_at, revoked_at, last_used_from FROM api_tokens")).one()
        assert tuple(token) == ("", None, None, None)
        assert run(sa.text("SELECT created_by_id FROM jobs")).scalar_one() == 2  # the operators table was altered, not copied
        run(
            sa.text(
                "INSERT INTO operators (id, username, password_hash, active, created_at) VALUES (3, 'new', 'x', true, CURRENT_TIMESTAMP)"
            )
        )
        assert run(sa.text("SELECT role FROM operators WHERE username = 'new'")).scalar_one() == "viewer"  # the least, by default
        db.session.commit()
        downgrade(directory=folder, revision=BEFORE)
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("operators")}
        assert "role" not in columns and "must_change_password" not in columns and "session_version" in columns
