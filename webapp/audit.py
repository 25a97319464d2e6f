"""Writing the audit trail, in the same transaction as the action it records; reading it filtered."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_login import current_user
from sqlalchemy import Select

from webapp.extensions import db
from webapp.models import AuditEvent, Job, Operator


def actor_name(operator: Operator | None) -> str:
    """The name to record: the operator's, or 'schedule'/'system' when no person acted."""
    if operator is not None and getattr(operator, "username", None):
        return operator.username
    if current_user and getattr(current_user, "is_authenticated", False):
        return current_user.username
    return "system"


def record(action: str, detail: str, job: Job | int | None = None, actor: Operator | str | None = None) -> AuditEvent:
    """Stage an audit event; the caller's commit makes it permanent together with the action."""
    name = actor if isinstance(actor, str) else actor_name(actor)
    job_id = job.id if isinstance(job, Job) else job
    event = AuditEvent(actor=name, action=action, job_id=job_id, detail=detail[:2000])
    db.session.add(event)
    return event


@dataclass(frozen=True)
class AuditFilter:
    """Which events a view of the trail shows; None means any. Days are UTC and inclusive."""

    actor: str | None = None
    action: str | None = None
    job_id: int | None = None
    since: date | None = None
    until: date | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        """``query`` narrowed to these events."""
        if self.actor:
            query = query.where(AuditEvent.actor == self.actor)
        if self.action:
            query = query.where(AuditEvent.action == self.action)
        if self.job_id:
            query = query.where(AuditEvent.job_id == self.job_id)
        if self.since:
            query = query.where(AuditEvent.at >= datetime.combine(self.since, datetime.min.time()))
        if self.until:
            query = query.where(AuditEvent.at < datetime.combine(self.until + timedelta(days=1), datetime.min.time()))
        return query

    def args(self, **changes: Any) -> dict[str, str]:
        """The filter as URL arguments (with ``changes``), for links that keep it."""
        values = {"operator": self.actor, "action": self.action, "job": self.job_id, "since": self.since, "until": self.until}
        return {name: str(value) for name, value in (values | changes).items() if value}


def events(audit_filter: AuditFilter, page: int, per_page: int) -> tuple[list[AuditEvent], bool]:
    """A page of the filtered events, newest first; and whether more follow."""
    query = audit_filter.apply(db.select(AuditEvent)).order_by(AuditEvent.id.desc())
    rows = list(db.session.execute(query.offset((page - 1) * per_page).limit(per_page + 1)).scalars())
    return rows[:per_page], len(rows) > per_page


def choices() -> tuple[list[str], list[str]]:
    """The actors and the actions the trail holds, sorted: what the page's filters offer."""
    actors = db.session.execute(db.select(AuditEvent.actor).distinct().order_by(AuditEvent.actor)).scalars()
    actions = db.session.execute(db.select(AuditEvent.action).distinct().order_by(AuditEvent.action)).scalars()
    return list(actors), list(actions)
