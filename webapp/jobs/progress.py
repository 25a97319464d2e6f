"""What the job page shows: counts by state, progress, rate and ETA; record rows with their steps."""

import math
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import defer

from webapp.extensions import db
from webapp.jobs.kinds import KINDS
from webapp.jobs.record_status import LatestRun, describe, live_workers
from webapp.jobs.step_history import RecordHistory, StepView, error_trace, read_histories, step_label
from webapp.models import RECORD_STATES, TERMINAL_RECORD_STATES, Job, JobRecord, JobStateCount, utcnow


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
            .where(JobStateCount.job_id.in_(job_ids))
            .group_by(JobStateCount.job_id, JobStateCount.state)
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
class RowView:
    """One record row: the record, what its steps went through, and its status in words."""

    record: JobRecord
    history: RecordHistory
    state_class: str = ""
    status: str = ""

    @property
    def steps(self) -> list[StepView]:
        """Its steps, in chain order."""
        return self.history.steps

    @property
    def latest(self) -> LatestRun | None:
        """Its latest task run."""
        return self.history.latest

    @property
    def attempts(self) -> int:
        """Tries of its current step (webapp.jobs.step_history): 1 for a record that never retried."""
        return self.history.attempts

    @property
    def step_labels(self) -> list[str]:
        """What each step went through, in words."""
        return [step_label(step, self.record.state) for step in self.steps]

    @property
    def error_text(self) -> str:
        """Its error, or the trace of the errors it met before it succeeded."""
        return error_trace(self.record.state, self.record.error, self.history.errors)


def record_rows(job: Job, page: int, per_page: int, state: str | None = None) -> tuple[list[RowView], int]:
    """One page of record rows with their steps (two queries whatever the job's size); and the row count."""
    query = db.select(JobRecord).options(defer(JobRecord.payload)).where(JobRecord.job_id == job.id)  # rows never show it
    count_query = db.select(db.func.count()).select_from(JobRecord).where(JobRecord.job_id == job.id)
    if state:
        query = query.where(JobRecord.state == state)
        count_query = count_query.where(JobRecord.state == state)
    matching = job.total if not state else db.session.execute(count_query).scalar_one()
    page_records = db.session.execute(query.order_by(JobRecord.seq).offset((page - 1) * per_page).limit(per_page)).scalars().all()
    histories = read_histories([r.id for r in page_records], KINDS[job.kind].steps)
    rows = {r.id: RowView(r, histories[r.id]) for r in page_records}
    describe_rows(rows, job.cancel_requested_at is not None)
    return list(rows.values()), matching


def describe_rows(rows: dict[int, RowView], cancel_requested: bool = False) -> None:
    """Give each row its truthful status, with one batched heartbeat read for the workers on the page."""
    busy = {row.latest.worker for row in rows.values() if row.latest and row.latest.state == "STARTED" and row.latest.worker}
    live = live_workers(busy) if busy else set()
    limit = current_app.config["FETCH_MAX_RETRIES"]
    for row in rows.values():
        row.state_class, row.status = describe(row.record, row.latest, live, limit, cancel_requested)
