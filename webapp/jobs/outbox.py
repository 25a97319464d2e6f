"""The transactional outbox: tasks to publish are rows committed with the job, then relayed.

A request writes the job and its outbox row in one transaction, so a job can never exist
without the message that starts it, nor a message without its job. The relay publishes
pending rows and marks them dispatched; it runs right after the request commits (fast path)
and from beat every few seconds (for whatever the fast path could not publish). A crash
between publish and mark publishes again with the same task id, which the tasks tolerate.
"""

import logging
import uuid
from typing import Any

from flask import current_app

from webapp.extensions import db, on_postgresql
from webapp.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)


def add(task_name: str, job_id: int | None = None, **kwargs: Any) -> OutboxMessage:
    """Stage a task message in the current transaction (nothing is sent yet)."""
    if job_id is not None:
        kwargs = {"job_id": job_id, **kwargs}
    message = OutboxMessage(job_id=job_id, task_name=task_name, kwargs=kwargs, task_id=str(uuid.uuid4()))
    db.session.add(message)
    return message


def relay(message_ids: list[int] | None = None, limit: int = 100, retry: bool = True) -> int:
    """Publish pending messages (all, or only ``message_ids``); return how many were sent.

    ``retry=False`` gives up at the first broker error instead of retrying for seconds.
    """
    query = db.select(OutboxMessage).where(OutboxMessage.status == "pending").order_by(OutboxMessage.id).limit(limit)
    if message_ids is not None:
        query = query.where(OutboxMessage.id.in_(message_ids))
    if on_postgresql():
        query = query.with_for_update(skip_locked=True)  # two relays never send the same row at once
    celery_app = current_app.extensions["celery"]
    sent = 0
    for message in db.session.execute(query).scalars().all():
        try:
            celery_app.send_task(message.task_name, kwargs=message.kwargs, task_id=message.task_id, retry=retry)
        except Exception as exc:  # broker down: leave it pending for the next relay
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            log.warning("outbox message %s not sent: %s", message.id, exc)
            break
        message.status = "dispatched"
        message.dispatched_at = utcnow()
        message.attempts += 1
        sent += 1
    db.session.commit()
    return sent


def relay_quietly(message_ids: list[int]) -> None:
    """Fast path after a request commits: try to publish now, never fail the request."""
    try:
        relay(message_ids, retry=False)
    except Exception:
        db.session.rollback()
        log.warning("outbox relay after commit failed; beat will send it", exc_info=True)


def relay_quietly_pending(job_id: int) -> None:
    """Fast path for a job's messages staged by an action: publish them now if Redis answers."""
    ids = list(
        db.session.execute(db.select(OutboxMessage.id).where(OutboxMessage.job_id == job_id, OutboxMessage.status == "pending")).scalars()
    )
    if ids:
        relay_quietly(ids)
