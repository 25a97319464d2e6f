"""A fresh database schema for a test session, a benchmark or the soak: every migration from nothing."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def migrate_fresh(app: "Flask") -> None:
    """Bring the app's database to the latest migration from nothing (PostgreSQL's schema is dropped first)."""
    from webapp import migrations
    from webapp.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
    migrations.upgrade(app)
