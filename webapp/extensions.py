"""Flask extensions, created unbound; create_app() binds them."""

from typing import Any

from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base whose constraint names are stable for Alembic."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()


def on_postgresql() -> bool:
    """True when the app's database is PostgreSQL. There the code uses what only it has (row
    locks, SKIP LOCKED, unnest(), epoch arithmetic); on SQLite, the embedded default, the plain way."""
    return db.engine.dialect.name == "postgresql"


def execute_core(statement: Any, parameters: Any = None) -> Any:
    """Run a Core statement on the session's connection (in its transaction, or on its own where the
    step asked for autocommit, tasks.base.commit_each_statement), past the ORM's execute path: the record
    steps' statements are built once on tables, not mapped classes, and the ORM's bookkeeping would cost
    a step more CPU than running them."""
    return db.session.connection().execute(statement, parameters)
