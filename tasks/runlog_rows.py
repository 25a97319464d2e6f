"""What a task run's row says, read from Celery's request: which tasks are logged, which delivery
this is, where the task sits in its canvas (tasks.runlog writes the rows)."""

from typing import Any

from celery import Task

from webapp.models import utcnow

STARTED = "STARTED"


def is_logged(task: Task, kwargs: dict) -> bool:
    """Celeriac's own tasks and any step of a job are logged; other tasks sharing the workers
    (Celery's built-ins, another app's tasks) stay out of the log and cost it nothing."""
    return task.name.startswith("tasks.") or "job_id" in (kwargs or {})


def is_first_delivery(request: Any) -> bool:
    """True for the first delivery of a first attempt, which has no earlier runs: every way a
    message comes back (a retry, kombu restoring an unacknowledged message, a requeue when the
    pool process died) marks it as a retry or as redelivered."""
    return not request.retries and not (request.delivery_info or {}).get("redelivered")


def canvas_ids(request: Any) -> dict[str, str | None]:
    """Where the run sits in its canvas: the task that sent it (the previous step of its chain, or
    the task that sent its batch), and for a chain's last task its group and that group's chord body."""
    chord = getattr(request, "chord", None) or {}
    return {
        "parent_id": getattr(request, "parent_id", None),
        "group_id": getattr(request, "group", None),
        "chord_id": (chord.get("options") or {}).get("task_id"),
    }


def opens_with_claim(task: Task) -> bool:
    """True for a step whose run row can be inserted by its first statement (a fetch step's claim,
    on PostgreSQL, where one statement can insert into one table and update another): the fetch
    steps, which take no lock and commit each statement. A write step's run commits before its
    transaction begins, so that a worker killed mid-write leaves it STARTED for the poison-pill
    count."""
    config = task.app.flask_app.config  # type: ignore[attr-defined]
    return getattr(task, "writes_erp", True) is False and config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def started_row(task_id: str, task: Task, kwargs: dict) -> dict[str, Any]:
    """The STARTED row of this execution of ``task``."""
    request = task.request
    delivery = request.delivery_info or {}
    return {
        "task_id": task_id,
        "task_name": task.name,
        "job_id": kwargs.get("job_id"),
        "record_id": kwargs.get("record_id"),
        "state": STARTED,
        "attempt": (request.retries or 0) + 1,
        "queue": delivery.get("routing_key"),
        "worker": request.hostname,
        "started_at": utcnow(),
        **canvas_ids(request),
    }
