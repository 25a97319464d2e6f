"""Finding work whose messages were lost, so beat can send it again.

Redis can lose a message outright: a worker killed between popping it and recording it as
unacknowledged, a broker restarted without persistence, a retry whose publish failed. Nothing in
Celery notices. A job that has made no progress for ``STUCK_AFTER_SECONDS`` (no task started or
finished, no retry due) while some of its records are unfinished is stalled: its unfinished
records are dispatched again. Every step is idempotent, so a record that was only slow is safe
to run twice.
"""

from datetime import timedelta

from flask import current_app

from webapp.extensions import db
from webapp.models import TERMINAL_RECORD_STATES, Job, JobRecord, JobStatus, OutboxMessage, TaskRun, utcnow


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
    return db.session.execute(
        db.select(JobRecord.id).where(JobRecord.job_id == job.id, JobRecord.retry_at > since).limit(1)
    ).first() is not None


def stalled_records(limit_jobs: int = 50) -> dict[int, list[int]]:
    """Unfinished record ids of running jobs that made no progress for STUCK_AFTER_SECONDS."""
    cutoff = utcnow() - stuck_after()
    stalled: dict[int, list[int]] = {}
    jobs = db.session.execute(
        db.select(Job).where(Job.status == JobStatus.RUNNING).order_by(Job.id).limit(limit_jobs)
    ).scalars().all()
    for job in jobs:
        if last_activity(job) > cutoff or retry_pending(job, cutoff):
            continue
        ids = db.session.execute(
            db.select(JobRecord.id)
            .where(JobRecord.job_id == job.id, JobRecord.state.not_in(TERMINAL_RECORD_STATES))
            .order_by(JobRecord.seq)
        ).scalars().all()
        if ids:
            stalled[job.id] = list(ids)
    return stalled


def resend_lost_dispatches() -> list[int]:
    """Queued jobs whose dispatch message went out long ago but never ran: mark it to be sent again."""
    cutoff = utcnow() - stuck_after()
    messages = db.session.execute(
        db.select(OutboxMessage)
        .join(Job, Job.id == OutboxMessage.job_id)
        .where(Job.status == JobStatus.QUEUED, OutboxMessage.status == "dispatched", OutboxMessage.dispatched_at < cutoff)
    ).scalars().all()
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
