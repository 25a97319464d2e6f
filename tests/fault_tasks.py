"""Tasks that misbehave on purpose, and hooks that hold a step where a test asks, loaded by test workers
through CELERY_EXTRA_IMPORTS."""

import os
import signal
import time
from typing import Any

import redis
from celery import Task, current_task, shared_task
from celery.signals import task_prerun
from sqlalchemy import Row, event
from sqlalchemy.orm import Session

from tasks.base import RecordTask
from tasks.records import mark_succeeded
from webapp.extensions import db


@shared_task(bind=True, base=RecordTask)
def poison_pill(self: Task, job_id: int, record_id: int) -> dict[str, Any]:
    """Kill the worker process running it, every time (as a segfault or an OOM kill would)."""
    return self.run_step(job_id, record_id, kill_worker)


def kill_worker(job_id: int, record_id: int, record: Row | None) -> dict[str, Any]:
    """The poison pill's step: SIGKILL this worker process."""
    os.kill(os.getpid(), signal.SIGKILL)
    return {"record": record_id, "ok": False}  # never reached


@shared_task(bind=True, base=RecordTask)
def harmless(self: Task, job_id: int, record_id: int) -> dict[str, Any]:
    """Succeed at once: proves a worker still works after a poison pill."""
    return self.run_step(job_id, record_id, succeed)


def succeed(job_id: int, record_id: int, record: Row | None) -> dict[str, Any]:
    """The harmless step: mark the record succeeded."""
    mark_succeeded(record, "0")
    db.session.commit()
    return {"record": record_id, "ok": True}


HOLD_KEY = "celeriac:test:hold:{}:{}"  # set by a test: the step (short name) of that record id waits
HELD_SET = "celeriac:test:held"  # where a held step says so, as "step:record_id"


_clients: dict[int, redis.Redis] = {}


def hooks_redis() -> redis.Redis:
    """One Redis client per process (a forked pool process must not share its parent's)."""
    pid = os.getpid()
    if pid not in _clients:
        _clients[pid] = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _clients[pid]


def hold_while_asked(when: str, task: Task, kwargs: dict) -> None:
    """Wait while the test holds this step of this record (at most a minute), saying so in HELD_SET."""
    step = task.name.rsplit(".", 1)[-1]
    record_id = (kwargs or {}).get("record_id")
    client = hooks_redis()
    key = HOLD_KEY.format(f"{when}{step}", record_id)
    if record_id is None or not client.exists(key):
        return
    client.sadd(HELD_SET, f"{when}{step}:{record_id}")
    deadline = time.monotonic() + 60
    while client.exists(key) and time.monotonic() < deadline:
        time.sleep(0.05)


@task_prerun.connect
def hold_before_step(task: Task, kwargs: dict, **_: Any) -> None:
    """Hold a step before it runs (before its cancel check), while the test asks."""
    hold_while_asked("", task, kwargs)


@event.listens_for(Session, "after_commit")
def hold_after_commit(session: Session) -> None:
    """Hold a step right after a commit of its own (its write is in), while the test asks: a test
    kills the worker there."""
    task = current_task._get_current_object()  # None outside a task (the test process imports this module too)
    if task is not None and task.request.id is not None:
        hold_while_asked("after-commit-", task, task.request.kwargs)
