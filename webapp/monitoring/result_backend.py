"""Celery's result backend as the task view reads it (AsyncResult, GroupResult), never slow, never raising.

The web process reads through a backend of its own whose Redis client gives up after
READ_TIMEOUT seconds and never retries: the app's own backend retries for minutes, for the
workers' sake, and a page waiting on it would hang while Redis is slow or down. A read that
fails says so in words instead, and the page still shows the SQL log.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from celery import Celery
from celery.backends.redis import RedisBackend
from celery.result import AsyncResult, GroupResult
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from vine import barrier

log = logging.getLogger(__name__)

READ_TIMEOUT = 0.5  # seconds one read of the result backend may take before the page gives up on it
UNREACHABLE = f"Redis did not answer within {READ_TIMEOUT:g} s"


@dataclass(frozen=True)
class TaskResult:
    """What AsyncResult reports for one task id; ``error`` says why it could not be read."""

    state: str | None = None
    stored: bool = False  # the backend holds a result for the task (PENDING means it holds nothing)
    result: str | None = None
    traceback: str | None = None
    date_done: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class GroupCount:
    """GroupResult's counts over the members given: completed (SUCCESS), failed, and stored at all."""

    completed: int = 0
    failed: int = 0
    stored: int = 0
    error: str | None = None


def celery_app() -> Celery:
    """The Celery app of this Flask app."""
    return current_app.extensions["celery"]


def quick_client() -> redis.Redis:
    """The app's client for the result backend that answers within READ_TIMEOUT or raises (kept for the app's life)."""
    clients: dict[str, redis.Redis] = current_app.extensions.setdefault("result_backend_clients", {})
    url = celery_app().conf.result_backend
    if url not in clients:
        clients[url] = redis.Redis.from_url(
            url, socket_timeout=READ_TIMEOUT, socket_connect_timeout=READ_TIMEOUT, retry=Retry(NoBackoff(), 0)
        )
    return clients[url]


def quick_backend() -> RedisBackend:
    """A result backend of the app's Celery app on the quick client, without retries; one per
    request, so its cache of finished results never outlives what Redis holds."""
    app = celery_app()
    backend = RedisBackend(app=app, url=app.conf.result_backend)
    backend.client = quick_client()
    backend.always_retry = False
    return backend


def result_text(result: Any) -> str | None:
    """A task's stored result or exception, in words (never rendered as markup)."""
    if result is None:
        return None
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {result}"
    return repr(result)


def read_task(task_id: str) -> TaskResult:
    """What AsyncResult reports for ``task_id``: its state, result, traceback and end, or why Redis did not say."""
    try:
        result = AsyncResult(task_id, backend=quick_backend(), app=celery_app())
        meta = result._get_task_meta()  # one GET; state, result, traceback and date_done all read from it
    except Exception as exc:
        log.warning("result backend unreadable for %s: %s", task_id, exc)
        return TaskResult(error=f"{UNREACHABLE} ({type(exc).__name__})")
    state = meta.get("status")
    stored = state != "PENDING" or meta.get("result") is not None
    value = result.result if stored else None  # an exception is rebuilt from its stored type and message
    return TaskResult(state, stored, result_text(value), meta.get("traceback"), result.date_done if stored else None)


def count_group(group_id: str, member_ids: list[str]) -> GroupCount:
    """GroupResult(group_id, members).completed_count(), with its failed and stored members; never raises."""
    if not member_ids:
        return GroupCount()
    backend = quick_backend()
    try:
        members = [AsyncResult(m, backend=backend, app=celery_app()) for m in member_ids]
        # An empty barrier: GroupResult's own would subscribe to every member's result channel, a
        # pub/sub connection of the web process that waits for results nobody here waits for.
        group = GroupResult(group_id, members, app=celery_app(), ready_barrier=barrier())
        states = [member.state for member in group.results]  # one GET each, answered in order; the first timeout ends it
        return GroupCount(group.completed_count(), states.count("FAILURE"), sum(1 for s in states if s != "PENDING"))
    except Exception as exc:
        log.warning("result backend unreadable for group %s: %s", group_id, exc)
        return GroupCount(error=f"{UNREACHABLE} ({type(exc).__name__})")


def kept_for() -> int:
    """Seconds the result backend keeps a stored result (Celery's result_expires)."""
    expires = celery_app().conf.result_expires
    return int(expires.total_seconds() if hasattr(expires, "total_seconds") else expires or 0)
