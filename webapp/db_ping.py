"""Ping a pooled database connection before use only when it sat idle for a while.

SQLAlchemy's pool_pre_ping sends a round trip at every checkout, and a worker step checks a
connection out for each of its transactions: two or three extra round trips a step, a third of
all it sends. A connection back in the pool a moment ago is very likely alive; one idle for
longer may have been cut (a database restart, a firewall's idle timeout), so it is pinged first.
Should a connection still die between two uses, its statement fails with a disconnect error:
SQLAlchemy then drops every pooled connection older than that moment, and the callers' retries
(the steps' database backoff, the job tasks' autoretry) run on fresh ones.
"""

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

IDLE_SINCE = "celeriac_idle_since"


def ping_when_idle(engine: Engine, after_seconds: float) -> None:
    """Ping connections idle for ``after_seconds`` or more at checkout; replace the dead ones."""

    @event.listens_for(engine, "checkin")
    def note_idle(dbapi_connection: Any, record: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get(IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < after_seconds:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool retries the checkout on a new connection, dropping every older one.
            raise exc.InvalidatePoolError(f"idle connection found dead: {error}") from error
