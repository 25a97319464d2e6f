"""What the job page shows: counts by state, progress, rate and ETA; record rows with their steps."""

import math
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy.orm import defer

from webapp.extensions import db
from webapp.jobs.kinds import KINDS, Step
from webapp.jobs.record_status import LatestRun, describe, live_workers
from webapp.models import RECORD_STATES, TERMINAL_RECORD_STATES, Job, JobRecord, JobStateCount, TaskRun, utcnow


@dataclass
class Summary:
    """A job's counts and speed, from one aggregate query."""

    counts: dict[str, int]
    total: int
    done: int
    percent: int
    rate: float | None
    eta_seconds: int | None


def state_counts(job_ids: list[int]) -> dict[int, dict[str, int]]:
    """Records by state for each of these jobs, from the trigger-kept counts (a few rows per job, any size)."""
    counts: dict[int, dict[str, int]] = {job_id: dict.fromkeys(RECORD_STATES, 0) for job_id in job_ids}
    if job_ids:
        rows = db.session.execute(
            db.select(JobStateCount.job_id, JobStateCount.state, db.func.sum(JobStateCount.n))
            .where(JobStateCount.job_id.in_(job_ids)).group_by(JobStateCount.job_id, JobStateCount.state)
        ).all()
        for job_id, state, number in rows:
            counts[job_id][state] = number
    return counts


def summarize(job: Job, counts: dict[str, int] | None = None) -> Summary:
    """Counts by record state, progress, records per second and time left (``counts`` if already read)."""
    if counts is None:
        counts = state_counts([job.id])[job.id]
    total = max(job.total, sum(counts.values()))
    done = sum(counts[state] for state in TERMINAL_RECORD_STATES)
    percent = math.floor(100 * done / total) if total else (100 if not job.is_active else 0)
    end = job.finished_at or utcnow()
    elapsed = (end - job.started_at).total_seconds() if job.started_at else 0
    rate = done / elapsed if elapsed > 0 and done else None
    eta = int((total - done) / rate) if rate and job.is_active else None
    return Summary(counts, total, done, percent, rate, eta)


@dataclass
class StepView:
    """The latest state of one step of one record, and how many times it ran."""

    label: str
    state: str = "waiting"
    runs: int = 0
    retry_at: datetime | None = None


@dataclass
class RowView:
    """One record row: the record and its steps."""

    record: JobRecord
    steps: list[StepView] = field(default_factory=list)

    latest: LatestRun | None = None
    retries: int = 0
    state_class: str = ""
    status: str = ""

    @property
    def attempts(self) -> int:
        """Executions of all steps of this record, retries and redeliveries included."""
        return sum(step.runs for step in self.steps)


def record_rows(job: Job, page: int, per_page: int, state: str | None = None) -> tuple[list[RowView], int]:
    """One page of record rows with their steps (two queries whatever the job's size); and the row count."""
    query = db.select(JobRecord).options(defer(JobRecord.payload)).where(JobRecord.job_id == job.id)  # rows never show it
    count_query = db.select(db.func.count()).select_from(JobRecord).where(JobRecord.job_id == job.id)
    if state:
        query = query.where(JobRecord.state == state)
        count_query = count_query.where(JobRecord.state == state)
    matching = job.total if not state else db.session.execute(count_query).scalar_one()
    page_records = db.session.execute(
        query.order_by(JobRecord.seq).offset((page - 1) * per_page).limit(per_page)
    ).scalars().all()
    steps = KINDS[job.kind].steps
    rows = {r.id: RowView(r, [StepView(step.label) for step in steps]) for r in page_records}
    attach_runs(rows, steps)
    describe_rows(rows, job.cancel_requested_at is not None)
    return list(rows.values()), matching


def describe_rows(rows: dict[int, RowView], cancel_requested: bool = False) -> None:
    """Give each row its truthful status, with one batched heartbeat read for the workers on the page."""
    busy = {row.latest.worker for row in rows.values() if row.latest and row.latest.state == "STARTED" and row.latest.worker}
    live = live_workers(busy) if busy else set()
    limit = current_app.config["FETCH_MAX_RETRIES"]
    for row in rows.values():
        row.state_class, row.status = describe(row.record, row.latest, live, row.retries, limit, cancel_requested)


def attach_runs(rows: dict[int, RowView], steps: tuple[Step, ...]) -> None:
    """Fill each row's steps from the task log of those records, in one query."""
    if not rows:
        return
    index = {step.task_name: i for i, step in enumerate(steps)}
    runs = db.session.execute(
        db.select(TaskRun.record_id, TaskRun.task_name, TaskRun.state, TaskRun.retry_at, TaskRun.worker, TaskRun.started_at)
        .where(TaskRun.record_id.in_(list(rows)))
        .order_by(TaskRun.id)
    ).all()
    for record_id, task_name, state, retry_at, worker, started_at in runs:
        if task_name not in index:
            continue
        row = rows[record_id]
        view = row.steps[index[task_name]]
        view.runs += 1
        view.state = state
        view.retry_at = retry_at
        row.latest = LatestRun(view.label, state, worker, started_at)
        row.retries += state == "RETRY"
