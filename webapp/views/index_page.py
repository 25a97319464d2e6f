"""The dashboard page and its jobs table: rendered by the dashboard and again, with form errors, by a refused launch."""

from flask import render_template
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.jobs.dispatch_status import dispatch_views
from webapp.jobs.kinds import KINDS
from webapp.jobs.rounds import history_words, rounds_of
from webapp.models import ACTIVE_JOB_STATUSES, TERMINAL_RECORD_STATES, Job, JobRecord, JobStatus
from webapp.web.paging import page_number

JOBS_PER_PAGE = 25


def jobs_page(page: int) -> tuple[list[Job], dict[int, int], bool]:
    """A page of jobs, newest first, with finished-record counts (one aggregate query)."""
    jobs = (
        db.session.execute(
            db.select(Job)
            .options(selectinload(Job.created_by))
            .order_by(Job.id.desc())
            .offset((page - 1) * JOBS_PER_PAGE)
            .limit(JOBS_PER_PAGE + 1)
        )
        .scalars()
        .all()
    )
    has_more = len(jobs) > JOBS_PER_PAGE
    jobs = list(jobs[:JOBS_PER_PAGE])
    done: dict[int, int] = {}
    active_ids = [job.id for job in jobs if job.status in ACTIVE_JOB_STATUSES]
    if active_ids:
        rows = db.session.execute(
            db.select(JobRecord.job_id, db.func.count())
            .where(JobRecord.job_id.in_(active_ids), JobRecord.state.in_(TERMINAL_RECORD_STATES))
            .group_by(JobRecord.job_id)
        ).all()
        done = {job_id: count for job_id, count in rows}
    return jobs, done, has_more


def histories(jobs: list[Job]) -> dict[int, str | None]:
    """The rounds of the retried jobs on the page in one line each (one query): a job that succeeded
    on a retry still shows that its first run failed."""
    ended = rounds_of([job.id for job in jobs])
    return {job.id: history_words(job, ended[job.id]) for job in jobs if job.id in ended}


def table_context() -> dict[str, object]:
    """Template variables of the jobs table fragment."""
    page = page_number()
    jobs, done, has_more = jobs_page(page)
    dispatches = dispatch_views([job for job in jobs if job.status == JobStatus.QUEUED])
    return {
        "jobs": jobs,
        "done": done,
        "page": page,
        "has_more": has_more,
        "kinds": KINDS,
        "dispatches": dispatches,
        "histories": histories(jobs),
        "any_active": any(job.is_active for job in jobs),
    }


def render_index(
    upload_errors: list[str] | None = None, failed_kind: str | None = None, kept: dict[str, str] | None = None, repeats: bool = False
) -> str:
    """The home page; after a launch not started, its errors under its form's card, the form
    filled in again with what the operator typed (``kept``), and with ``repeats`` (keys given
    twice, nothing else wrong) a warning that offers to remove them and start."""
    return render_template(
        "dashboard/index.html",
        upload_errors=upload_errors or [],
        failed_kind=failed_kind,
        kept=kept or {},
        repeats=repeats,
        **table_context(),
    )
