"""What flow control knows of running jobs: their records in flight, and each one's share of the workers.

tasks.window decides what to send; this module only reads, for the job page, the workers page
and tasks.window itself. A job's records in flight are those sent (seq up to ``sent_through``)
and not finished; its share of the workers is its part of the record steps that ended in the
last minute, which shows whether jobs really interleave.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from webapp.extensions import db
from webapp.models import TERMINAL_RECORD_STATES, Job, JobRecord, JobStatus, RecordState, TaskRun, utcnow

UNFINISHED = tuple(state for state in RecordState if state not in TERMINAL_RECORD_STATES)
SHARE_WINDOW = timedelta(minutes=1)


def window_size() -> int:
    """Records a job may have in the broker at once (at least one)."""
    return max(1, int(current_app.config["JOB_WINDOW_RECORDS"]))


def in_flight(job_id: int, sent_through: int) -> int:
    """Records of the job sent and not finished: queued, running or waiting for a retry.

    The index on (job, state, seq) reads only these, however many records the job finished.
    """
    return db.session.execute(
        db.select(db.func.count())
        .select_from(JobRecord)
        .where(JobRecord.job_id == job_id, JobRecord.state.in_(UNFINISHED), JobRecord.seq <= sent_through)
    ).scalar_one()


def in_flight_by_job(job_ids: Sequence[int]) -> dict[int, int]:
    """``in_flight`` of many jobs in one query (an index range per job); jobs with none are absent."""
    return dict(
        db.session.execute(
            db.select(JobRecord.job_id, db.func.count())
            .join(Job, Job.id == JobRecord.job_id)
            .where(Job.id.in_(job_ids), JobRecord.state.in_(UNFINISHED), JobRecord.seq <= Job.sent_through)
            .group_by(JobRecord.job_id)
        ).all()
    )


@dataclass(frozen=True)
class Share:
    """One running job as flow control sees it."""

    job_id: int
    kind: str
    total: int
    sent: int
    in_flight: int
    steps_last_minute: int
    share: float | None  # of all record steps that ended in the last minute


def running_shares(limit: int = 50) -> list[Share]:
    """Every running job's records in flight and share of the last minute's record steps, oldest job first."""
    jobs = db.session.execute(
        db.select(Job.id, Job.kind, Job.total, Job.sent_through).where(Job.status == JobStatus.RUNNING).order_by(Job.id).limit(limit)
    ).all()
    if not jobs:
        return []
    steps = dict(
        db.session.execute(
            db.select(TaskRun.job_id, db.func.count())
            .where(TaskRun.finished_at >= utcnow() - SHARE_WINDOW, TaskRun.record_id.is_not(None))
            .group_by(TaskRun.job_id)
        ).all()
    )
    flying = in_flight_by_job([job.id for job in jobs])
    all_steps = sum(steps.values())
    return [
        Share(
            job.id,
            job.kind,
            job.total,
            job.sent_through,
            flying.get(job.id, 0),
            steps.get(job.id, 0),
            steps.get(job.id, 0) / all_steps if all_steps else None,
        )
        for job in jobs
    ]


@dataclass(frozen=True)
class JobWindow:
    """A running job's window: records sent so far, of which in flight, and the window's size."""

    sent: int
    total: int
    in_flight: int
    size: int

    def as_json(self) -> dict[str, int]:
        """The window as the API shows it."""
        return {"sent": self.sent, "total": self.total, "in_flight": self.in_flight, "size": self.size}


def job_window(job: Job) -> JobWindow | None:
    """The job's window while it runs and has sent records; None otherwise."""
    return job_windows([job]).get(job.id)


def job_windows(jobs: Sequence[Job]) -> dict[int, JobWindow]:
    """The windows of those of ``jobs`` that run and have sent records, in one query however many."""
    sending = [job for job in jobs if job.status == JobStatus.RUNNING and job.sent_through]
    if not sending:
        return {}
    flying = in_flight_by_job([job.id for job in sending])
    size = window_size()
    return {job.id: JobWindow(min(job.sent_through, job.total), job.total, flying.get(job.id, 0), size) for job in sending}
