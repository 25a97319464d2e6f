"""Search across jobs: a record key (PO number, product code, order id), a job id, a Celery task id, a state."""

import re
from dataclasses import dataclass, field

from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun

PER_PAGE = 50
MAX_QUERY = 200
JOB_ID = re.compile(r"#?(\d{1,9})")


@dataclass
class SearchResults:
    """What one search found: the job named by id, runs of the task id, and a page of records."""

    query: str
    state: str | None
    page: int
    jobs: list[Job] = field(default_factory=list)
    runs: list[TaskRun] = field(default_factory=list)
    records: list[JobRecord] = field(default_factory=list)
    has_more: bool = False

    @property
    def searched(self) -> bool:
        """True when there was something to look for."""
        return bool(self.query or self.state)

    @property
    def found(self) -> bool:
        """True when anything matched."""
        return bool(self.jobs or self.runs or self.records)


def search_all(query: str, state: str | None, page: int = 1) -> SearchResults:
    """Match ``query`` exactly (keys case-insensitively) against job ids, task ids and record keys.

    ``state`` filters the records (alone, it lists every record in that state, newest first).
    """
    query = query.strip()[:MAX_QUERY]
    results = SearchResults(query, state, page)
    if not results.searched:
        return results
    if query and page == 1:
        results.jobs = jobs_by_id(query)
        results.runs = runs_by_task_id(query)
    results.records, results.has_more = records_page(query, state, page)
    return results


def jobs_by_id(query: str) -> list[Job]:
    """The job whose id is ``12`` or ``#12``."""
    match = JOB_ID.fullmatch(query)
    job = db.session.get(Job, int(match.group(1))) if match else None
    return [job] if job is not None else []


def runs_by_task_id(query: str) -> list[TaskRun]:
    """Every run of the Celery task with this exact id (the task_id index)."""
    return list(db.session.execute(db.select(TaskRun).where(TaskRun.task_id == query).order_by(TaskRun.id).limit(PER_PAGE)).scalars())


def records_page(query: str, state: str | None, page: int) -> tuple[list[JobRecord], bool]:
    """One page of records with this key (any case) and/or state, newest first; and whether more follow."""
    select = db.select(JobRecord).options(joinedload(JobRecord.job))
    if query:
        select = select.where(db.func.lower(JobRecord.key) == query.lower())
    if state:
        select = select.where(JobRecord.state == state)
    rows = db.session.execute(select.order_by(JobRecord.id.desc()).offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)).scalars().all()
    return list(rows[:PER_PAGE]), len(rows) > PER_PAGE
