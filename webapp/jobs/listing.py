"""The jobs list: a page of jobs filtered by status, kind and operator, and the jobs of each status.

The dashboard's table and the API's list read the same filter the same way. A live table
refreshes every few seconds, so what it reads is a fixed number of queries whatever the number
of jobs on the page: the page, its operators, the counts of its active jobs' records (the
trigger-kept counts), and the jobs per status (one GROUP BY on the status index).
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import JOB_STATUSES, Job, Operator


@dataclass(frozen=True)
class JobFilter:
    """Which jobs a list shows; None means any. ``operator_id`` is the operator's, looked up once."""

    status: str | None = None
    kind: str | None = None
    operator: str | None = None
    operator_id: int | None = None

    def apply(self, query: Select[Any], *, with_status: bool = True) -> Select[Any]:
        """``query`` narrowed to these jobs (without the status condition when ``with_status`` is false)."""
        if self.status and with_status:
            query = query.where(Job.status == self.status)
        if self.kind:
            query = query.where(Job.kind == self.kind)
        if self.operator:
            query = query.where(Job.created_by_id == self.operator_id)
        return query

    def args(self, **changes: str | None) -> dict[str, str]:
        """The filter as URL arguments (with ``changes``), for links that keep it."""
        values = {"status": self.status, "kind": self.kind, "operator": self.operator} | changes
        return {name: value for name, value in values.items() if value}

    @property
    def active(self) -> bool:
        """True when any filter is set."""
        return bool(self.status or self.kind or self.operator)


def operator_id(username: str) -> int | None:
    """The id of the operator with this username, or None when there is none."""
    return db.session.execute(db.select(Operator.id).where(Operator.username == username)).scalar_one_or_none()


def operator_names() -> list[str]:
    """Every operator's username, sorted: the choices of the operator filter."""
    return list(db.session.execute(db.select(Operator.username).order_by(Operator.username)).scalars())


def filtered_jobs(job_filter: JobFilter, page: int, per_page: int) -> tuple[list[Job], bool]:
    """A page of the filtered jobs, newest first, with their operators; and whether more follow."""
    query = job_filter.apply(db.select(Job)).options(selectinload(Job.created_by)).order_by(Job.id.desc())
    jobs = list(db.session.execute(query.offset((page - 1) * per_page).limit(per_page + 1)).scalars())
    return jobs[:per_page], len(jobs) > per_page


def status_counts(job_filter: JobFilter) -> dict[str, int]:
    """Jobs per status under the filter's kind and operator (every status, 0 when none): one GROUP BY."""
    query = job_filter.apply(db.select(Job.status, db.func.count()), with_status=False).group_by(Job.status)
    counts = dict.fromkeys(JOB_STATUSES, 0)
    counts.update({status: number for status, number in db.session.execute(query)})
    return counts
