"""Tasks that misbehave on purpose, loaded by test workers through CELERY_EXTRA_IMPORTS."""

import os
import signal
from typing import Any

from celery import Task, shared_task

from tasks.records import load, mark_succeeded
from tasks.base import RecordTask
from webapp.extensions import db


@shared_task(bind=True, base=RecordTask)
def poison_pill(self: Task, job_id: int, record_id: int) -> dict[str, Any]:
    """Kill the worker process running it, every time (as a segfault or an OOM kill would)."""
    os.kill(os.getpid(), signal.SIGKILL)
    return {"record": record_id, "ok": False}  # never reached


@shared_task(bind=True, base=RecordTask)
def harmless(self: Task, job_id: int, record_id: int) -> dict[str, Any]:
    """Succeed at once: proves a worker still works after a poison pill."""
    record = load(record_id)
    mark_succeeded(record, "0")
    db.session.commit()
    return {"record": record_id, "ok": True}
