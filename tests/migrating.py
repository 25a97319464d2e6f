"""An app on a database of its own, for tests that run the migrations up and down."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from webapp import migrations
from webapp.config import database_url
from webapp.extensions import db


@contextmanager
def app_on_own_database(tmp_path: Path, schema: str) -> Iterator[Flask]:
    """A SQLite file, or ``schema`` of its own on DATABASE_URL's PostgreSQL (dropped afterwards)."""
    from webapp.app import create_app

    uri, engine = "sqlite:///" + str(tmp_path / "migration.db"), None
    if os.environ.get("DATABASE_URL"):
        engine = sa.create_engine(database_url())
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        uri = database_url() + ("&" if "?" in database_url() else "?") + f"options=-csearch_path%3D{schema}"
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": uri})
    migrations.enable(app)
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
        if engine is not None:
            with engine.begin() as connection:
                connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            engine.dispose()
