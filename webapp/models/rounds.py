"""A job's rounds: its first run, then each "retry failed records", kept as it ended."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db


class JobRound(db.Model):
    """One ended round of a job: its status and record counts when it ended, and who retried it.

    A retry sends a job's failed records again under the same job, which then ends anew: without
    this row the job's first outcome (and that anything ever failed) would be lost. The round a job
    is in now is the job row itself; only rounds that were retried are written here.
    """

    __tablename__ = "job_rounds"
    __table_args__ = (UniqueConstraint("job_id", "number", name="uq_job_rounds_job_id_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 1 is the first run, 2 the first retry, …
    status: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    # The job's last task run when the round ended: later runs belong to later rounds.
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    retried_at: Mapped[datetime] = mapped_column(DateTime)
    retried_by: Mapped[str | None] = mapped_column(String(80))
