"""The database set-up both app factories share: SQLite's file and locking, PostgreSQL's idle pings."""

import os
from typing import Any

from flask import Flask
from sqlalchemy import event

from webapp.db_ping import ping_when_idle
from webapp.extensions import db


def make_sqlite_path_absolute(app: Flask) -> None:
    """Put a relative SQLite file in the instance folder, whatever the working directory."""
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////") and ":memory:" not in uri:
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, uri[len("sqlite:///"):])
    keep_sqlite_file_private(app)


def keep_sqlite_file_private(app: Flask) -> None:
    """Make the SQLite file readable by its owner only (0600, like the secret key beside it).

    SQLite gives its -wal and -shm files the database file's permissions, so those follow.
    """
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    if not uri.startswith("sqlite:///") or ":memory:" in uri:
        return
    path = uri[len("sqlite:///"):].split("?")[0]
    if os.path.exists(path):
        os.chmod(path, 0o600)  # never opened here: closing a descriptor drops this process's SQLite locks
    else:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def tune_sqlite(app: Flask) -> None:
    """On SQLite, let readers and one writer work at once (WAL) and wait for locks instead of failing."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    def set_pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    with app.app_context():
        event.listen(db.engine, "connect", set_pragmas)


def ping_idle_connections(app: Flask) -> None:
    """On PostgreSQL, ping pooled connections idle for DB_PING_AFTER_IDLE_SECONDS before use."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        ping_when_idle(db.engine, app.config["DB_PING_AFTER_IDLE_SECONDS"])
