"""The audit trail: who did what to which job, and when."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.jobs import utcnow


class AuditEvent(db.Model):
    """One operator action (launch, cancel, retry, re-run, schedule or sandbox change)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_job", "job_id", "id"),
        Index("ix_audit_events_actor", "actor", "id"),  # the audit trail filtered by who, newest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(Text, default="")
