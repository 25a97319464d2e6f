"""A fresh database schema for a test session, a benchmark or the soak: every migration from nothing."""

from typing import TYPE_CHECKING

from devtools import ROOT

if TYPE_CHECKING:
    from flask import Flask


def migrate_fresh(app: "Flask") -> None:
    """Bring the app's database to the latest migration from nothing (PostgreSQL's schema is dropped first)."""
    from flask_migrate import upgrade

    from webapp import migrations
    from webapp.extensions import db

    migrations.enable(app)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade(directory=str(ROOT / "migrations"))
