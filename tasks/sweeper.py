"""Finding work whose messages were lost, so beat can send it again.

Redis can lose a message outright: a worker killed between popping it and recording it as
unacknowledged, a broker restarted without persistence, a retry whose publish failed. Nothing in
Celery notices. A job that has made no progress for ``STUCK_AFTER_SECONDS`` (no task started or
finished, no retry due) while some of its records are unfinished is stalled: its unfinished
records are dispatched again. Every step is idempotent, so a record that was only slow is safe
to run twice.

Waiting that long is only needed when nothing says where the work went: the steps of a worker
that stopped sending heartbeats are sent again at once (tasks.orphans).

On Redis a stalled record is sent again only when no message of it is in the broker: its queues
and the unacknowledged hash are read (records_in_broker). RabbitMQ cannot list messages without
consuming them, so there the rule is by counts (lost_on_rabbitmq): when the record queues hold
nothing (ready, and unacknowledged where the management API tells), the stalled records are lost
and sent again; while they hold messages a record's may be among them, so they are sent again
only once the job has stayed without progress for BUSY_BROKER_PATIENCE times STUCK_AFTER_SECONDS,
which still resends a record truly lost while other jobs keep the queues busy; a broker that
cannot be read resends nothing. A record sent twice is safe, as above.
"""

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import redis
from flask import current_app

from webapp.broker import uses_rabbitmq
from webapp.extensions import db
from webapp.models import TERMINAL_RECORD_STATES, Job, JobRecord, JobStatus, OutboxMessage, TaskRun, utcnow
from webapp.monitoring.queues import list_keys, task_ids
from webapp.monitoring.rabbitmq import messages_held
from webapp.redis_clients import shared_redis


def stuck_after() -> timedelta:
    """How long a job may show no progress before it counts as stalled."""
    return timedelta(seconds=current_app.config["STUCK_AFTER_SECONDS"])


def last_activity(job: Job) -> object:
    """When a task of this job last started or finished (or when the job started)."""
    latest = db.session.execute(
        db.select(TaskRun.started_at, TaskRun.finished_at).where(TaskRun.job_id == job.id).order_by(TaskRun.id.desc()).limit(1)
    ).first()
    moments = [job.swept_at or job.started_at or job.created_at]
    if latest is not None:
        moments += [moment for moment in latest if moment is not None]
    return max(moments)


def retry_pending(job: Job, since: object) -> bool:
    """True while a retry of one of the job's records is due later than ``since``."""
    return (
        db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job.id, JobRecord.retry_at > since).limit(1)).first()
        is not None
    )


def stalled_records(limit_jobs: int = 50) -> dict[int, list[int]]:
    """Unfinished record ids of running jobs that made no progress for STUCK_AFTER_SECONDS."""
    cutoff = utcnow() - stuck_after()
    stalled: dict[int, list[int]] = {}
    jobs = db.session.execute(db.select(Job).where(Job.status == JobStatus.RUNNING).order_by(Job.id).limit(limit_jobs)).scalars().all()
    for job in jobs:
        if last_activity(job) > cutoff or retry_pending(job, cutoff):
            continue
        ids = (
            db.session.execute(  # only what was sent: flow control sends the rest (tasks.window)
                db.select(JobRecord.id)
                .where(JobRecord.job_id == job.id, JobRecord.state.not_in(TERMINAL_RECORD_STATES), JobRecord.seq <= job.sent_through)
                .order_by(JobRecord.seq)
            )
            .scalars()
            .all()
        )
        if ids:
            stalled[job.id] = list(ids)
    return stalled


def resend_lost_dispatches() -> list[int]:
    """Queued jobs whose dispatch message went out long ago but never ran: mark it to be sent again."""
    cutoff = utcnow() - stuck_after()
    messages = (
        db.session.execute(
            db.select(OutboxMessage)
            .join(Job, Job.id == OutboxMessage.job_id)
            .where(Job.status == JobStatus.QUEUED, OutboxMessage.status == "dispatched", OutboxMessage.dispatched_at < cutoff)
        )
        .scalars()
        .all()
    )
    for message in messages:
        message.status = "pending"
        message.last_error = "sent again: the job did not start"
    db.session.commit()
    return [message.job_id for message in messages if message.job_id is not None]


def mark_swept(job_id: int, count: int) -> str:
    """Remember that the job's records are sent again (the next sweep waits before repeating); return its kind."""
    job = db.session.get(Job, job_id)
    job.swept_at = utcnow()
    job.resent_records += count
    kind = job.kind
    db.session.commit()
    return kind


SWEEP_LOCK = "celeriac:sweep-lock"
RECORD_QUEUES = ("fetch", "db", "default")
# On RabbitMQ, how many STUCK_AFTER_SECONDS a stalled job waits while the record queues hold messages.
BUSY_BROKER_PATIENCE = 2


@contextmanager
def sweep_lock(hold_seconds: float = 120.0) -> Iterator[bool]:
    """Whether this sweep may run: one at a time, as beat may start the next before the last ends.

    Two sweeps at once (a slow one, on a loaded machine) would both find the same stalled records
    and send them twice. The lock expires by itself if its holder dies; a Redis that cannot be
    reached lets the sweep run (its other parts must go on while Redis is down).
    """
    client, token = shared_redis(timeout=2.0), uuid.uuid4().hex
    try:
        held = bool(client.set(SWEEP_LOCK, token, nx=True, ex=int(hold_seconds)))
    except redis.RedisError:
        yield True
        return
    try:
        yield held
    finally:
        if held:
            try:
                if client.get(SWEEP_LOCK) == token.encode():
                    client.delete(SWEEP_LOCK)
            except redis.RedisError:
                pass


def message_record_id(raw: bytes | dict) -> int | None:  # type: ignore[type-arg]
    """The record id a task message carries in its kwargs, or None (another task, or unreadable)."""
    return task_ids(raw)[1]


def records_in_broker() -> set[int] | None:
    """Ids of the records whose step is queued or delivered and not acknowledged (a held retry
    included); None when the broker cannot be read. Redis only (RabbitMQ: lost_on_rabbitmq).

    A job that shows no progress while its messages wait behind other work is slow, not stalled:
    sending those records again would only queue them twice (and, with many jobs queued, feed on
    itself). Flow control keeps the queues to a window per job, so reading them is cheap.
    """
    try:
        with current_app.extensions["celery"].connection_for_write() as connection:
            channel = connection.default_channel
            options = current_app.extensions["celery"].conf.broker_transport_options or {}
            client = channel.client
            found: set[int] = set()
            for queue in RECORD_QUEUES:
                for key in list_keys(queue, options):
                    found.update(filter(None, map(message_record_id, client.lrange(key, 0, -1))))
            held = client.hgetall(channel.qos.unacked_key)
            overdue = overdue_tags(client, channel.qos.unacked_index_key, float(options.get("visibility_timeout", 3600)))
            found.update(filter(None, (message_record_id(json.loads(raw)[0]) for tag, raw in held.items() if tag not in overdue)))
            return found
    except redis.RedisError:
        return None


def overdue_tags(client: redis.Redis, index_key: str, visibility_timeout: float) -> set[bytes]:
    """Delivery tags of unacknowledged messages delivered more than the visibility timeout ago.

    Kombu should have put them back in their queue by then; when it has not, its restore is
    stuck (its mutex left held for minutes by a worker killed while restoring), and a record
    whose only message is one of them would wait that long. They count as lost: sending the
    record again is safe, as every step is idempotent.
    """
    return set(client.zrangebyscore(index_key, 0, time.time() - visibility_timeout))


def lost_records(stalled: dict[int, list[int]]) -> dict[int, list[int]]:
    """The stalled records whose messages are not in the broker: those to send again."""
    if not stalled:
        return {}
    if uses_rabbitmq(current_app.extensions["celery"]):
        return lost_on_rabbitmq(stalled)
    present = records_in_broker()
    if present is None:
        return {}
    lost = {job_id: [record_id for record_id in ids if record_id not in present] for job_id, ids in stalled.items()}
    return {job_id: ids for job_id, ids in lost.items() if ids}


def lost_on_rabbitmq(stalled: dict[int, list[int]]) -> dict[int, list[int]]:
    """The stalled records to send again on RabbitMQ, judged by the record queues' counts (see the module's docstring)."""
    held = messages_held(current_app.extensions["celery"], RECORD_QUEUES, current_app.config.get("RABBITMQ_MANAGEMENT_URL", ""))
    if held is None:
        return {}
    if held == 0:
        return stalled
    cutoff = utcnow() - BUSY_BROKER_PATIENCE * stuck_after()
    return {job_id: ids for job_id, ids in stalled.items() if last_activity(db.session.get(Job, job_id)) < cutoff}
