"""Writing the audit trail, in the same transaction as the action it records."""

from flask_login import current_user

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
