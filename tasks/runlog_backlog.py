"""Task-log writes that failed while the database was unreachable, kept to write once it is back.

Through a short database outage the workers go on running tasks: steps wait and retry, and a
retry is a new attempt. Without this, the run log would have no row for any attempt made while
the database was down, and the record page would hide them. Each worker process keeps the writes
it could not make here, in order, and makes them at its next successful write to the log, or
from a thread of its own that tries every RETRY_SECONDS while writes wait (a process may run
nothing more for a while once its job is done).

The backlog is per process and bounded (MAX_KEPT; past it the oldest are dropped, and said so in
the worker's log). A process that dies before the database is back loses its backlog: those
attempts are then only in the worker's log file, and close_stale_runs marks their open rows LOST.
"""

import logging
import threading
import time
from collections import deque
from typing import Any

from flask import Flask
from sqlalchemy.engine import Connection

from webapp.extensions import db
from webapp.models import TaskRun

log = logging.getLogger(__name__)

MAX_KEPT = 10_000
RETRY_SECONDS = 2.0

# The log's statements: the row of a run whose opening failed, and the close of an opened one
# (an UPDATE without values() sets the columns its parameters name).
RUNS = TaskRun.__table__
INSERT = RUNS.insert()
UPDATE = RUNS.update().where(RUNS.c.id == db.bindparam("run_id"))

# ("insert", row) for a run whose opening failed, ("update", {"run_id": …, fields…}) for a close.
_pending: deque[tuple[str, dict[str, Any]]] = deque()
_lock = threading.Lock()
_retrying: list[threading.Thread] = []


def keep(app: Flask, kind: str, values: dict[str, Any]) -> None:
    """Remember a write of the log to make later (``kind`` is "insert" or "update"), and make
    sure something tries it again even if this process runs no other task."""
    with _lock:
        if len(_pending) >= MAX_KEPT:
            _pending.popleft()
            log.warning("task-log backlog full (%d writes): the oldest is dropped", MAX_KEPT)
        _pending.append((kind, values))
        if not any(thread.is_alive() for thread in _retrying):
            _retrying[:] = [threading.Thread(target=retry_until_written, args=(app,), name="celeriac-runlog-backlog", daemon=True)]
            _retrying[0].start()


def waiting() -> int:
    """How many writes wait for the database."""
    return len(_pending)


def retry_until_written(app: Flask) -> None:
    """Try the waiting writes every RETRY_SECONDS until none is left."""
    while waiting():
        time.sleep(RETRY_SECONDS)
        write_all(app)


def write_pending(connection: Connection) -> int:
    """Make the waiting writes on ``connection``, oldest first; return how many were made. One that
    fails goes back at the head, with the rest, and the error is raised: the database is not back."""
    written = 0
    while True:
        with _lock:
            if not _pending:
                return written
            kind, values = _pending.popleft()
        try:
            connection.execute(INSERT if kind == "insert" else UPDATE, values)
        except Exception:
            with _lock:
                _pending.appendleft((kind, values))
            raise
        written += 1


def write_all(app: Flask) -> None:
    """Make the waiting writes, each committed on its own (a failure part-way keeps the rest
    waiting, none written twice)."""
    try:
        with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            written = write_pending(connection)
        if written:
            log.info("wrote %d task-log writes kept while the database was unreachable", written)
    except Exception:
        log.warning("the database is still unreachable: %d task-log writes wait", waiting())
