"""What a job's dispatch step is doing, in words, from its latest task run in the SQL log.

A job has no records until its dispatch task makes them (for a job of the ERP's pending list,
after the ERP has answered), so while it is queued its trouble is the dispatch's own: listing,
retry N at HH:MM:SS with the reason, its worker lost, or failed.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webapp.extensions import db
from webapp.jobs.kinds import DISPATCH_TASK, LISTINGS
from webapp.models import Job, JobStatus, TaskRun

# Written into the statement, not bound: PostgreSQL uses a partial index only for a predicate it
# can match when planning, and a prepared statement's generic plan does not know a bound value.
DISPATCHES = db.literal(DISPATCH_TASK, literal_execute=True)


@dataclass(frozen=True)
class DispatchView:
    """The latest run of a job's dispatch task: state, attempt, error, retry time, and a sentence."""

    state: str
    attempt: int
    error: str | None
    retry_at: datetime | None
    started_at: datetime | None
    text: str

    def as_json(self, iso: Any) -> dict[str, Any]:
        """The view as the API shows it (``iso`` formats the timestamps)."""
        return {
            "state": self.state,
            "attempt": self.attempt,
            "error": self.error,
            "retry_at": iso(self.retry_at),
            "started_at": iso(self.started_at),
            "text": self.text,
        }


def doing(job: Job) -> str:
    """What the job's dispatch does, in words: list the ERP's keys, or make the records."""
    listing = LISTINGS.get((job.kind, job.source))
    if listing is not None and job.total == 0:
        return f"listing {listing.what} from the ERP"
    return "making its records and sending them to the workers"


def sentence(job: Job, state: str, attempt: int, error: str | None, retry_at: datetime | None) -> str:
    """The dispatch run's state in operator's words."""
    what = doing(job)
    if state == "STARTED":
        return f"{what} (attempt {attempt})"
    if state == "RETRY":
        due = f" at {retry_at:%H:%M:%S}" if retry_at else ""
        return f"{what}: retry {attempt}{due} ({error or 'no reason recorded'})"
    if state == "LOST":
        return f"{what}: its worker died during attempt {attempt}; it will be sent again"
    if state == "FAILURE":
        return f"{what} failed: {error or 'no reason recorded'}"
    return "its records were made"


def dispatch_views(jobs: list[Job]) -> dict[int, DispatchView]:
    """The latest dispatch run of each of these jobs that has one (one query on a partial index)."""
    by_id = {job.id: job for job in jobs}
    if not by_id:
        return {}
    latest = (
        db.select(db.func.max(TaskRun.id)).where(TaskRun.job_id.in_(list(by_id)), TaskRun.task_name == DISPATCHES).group_by(TaskRun.job_id)
    )
    rows = db.session.execute(
        db.select(TaskRun.job_id, TaskRun.state, TaskRun.attempt, TaskRun.error, TaskRun.retry_at, TaskRun.started_at).where(
            TaskRun.id.in_(latest)
        )
    ).all()
    return {
        job_id: DispatchView(state, attempt, error, retry_at, started_at, sentence(by_id[job_id], state, attempt, error, retry_at))
        for job_id, state, attempt, error, retry_at, started_at in rows
    }


def dispatch_view(job: Job) -> DispatchView | None:
    """The latest dispatch run of one job, or None before its dispatch task first ran."""
    return dispatch_views([job]).get(job.id)


def queued_dispatch(job: Job) -> DispatchView | None:
    """The dispatch's latest run while the job is queued (its records not made yet); None otherwise."""
    return dispatch_view(job) if job.status == JobStatus.QUEUED else None
