"""The SQL log: jobs, their records, every task execution, and the dispatch outbox."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db, on_postgresql
from webapp.jobs.kinds import DISPATCH_TASK

DISPATCH_WHERE = f"task_name = '{DISPATCH_TASK}'"


def utcnow() -> datetime:
    """Current time in UTC, naive (every timestamp in the database is UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def locked_job(job_id: int, refresh: bool = False) -> "Job | None":
    """The job row, locked until commit on PostgreSQL so job-wide changes never interleave.

    FOR NO KEY UPDATE, not FOR UPDATE: it still excludes the share lock a write step takes on the
    job, but not the key-share lock of the foreign-key checks PostgreSQL runs when a record or a
    state count of the job is written. With FOR UPDATE, a cancel holding the job and waiting for a
    record deadlocks with a worker holding that record and waiting on the job for its key check.
    """
    lock = {"key_share": True} if on_postgresql() else None
    return db.session.get(Job, job_id, with_for_update=lock, populate_existing=refresh)


class JobStatus(StrEnum):
    """Lifecycle of a job; the last four are terminal."""

    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_CONFIRMATION = "awaiting_confirmation"  # a reconciliation file was read; nothing written yet
    SUCCEEDED = "succeeded"
    COMPLETED_WITH_FAILURES = "completed_with_failures"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RecordState(StrEnum):
    """Lifecycle of one record (one PO, one product) of a job."""

    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


JOB_STATUSES = tuple(JobStatus)
ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
TERMINAL_JOB_STATUSES = (JobStatus.SUCCEEDED, JobStatus.COMPLETED_WITH_FAILURES, JobStatus.FAILED, JobStatus.CANCELLED)
RECORD_STATES = tuple(RecordState)
TERMINAL_RECORD_STATES = (RecordState.SUCCEEDED, RecordState.FAILED, RecordState.CANCELLED)
# What starts a job without an operator names it in the job's input: a schedule's jobs are
# "schedule: <name>" (Schedule.job_input_name), the demo job of `flask demo seed` is DEMO_INPUT_NAME.
SCHEDULE_INPUT_PREFIX = "schedule: "
DEMO_INPUT_NAME = "demo-purchase-orders.csv"


class Job(db.Model):
    """One operator-launched job; its canvas ids are kept here, not in the result backend."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_created_by", "created_by_id", "id"),)  # the jobs list filtered by operator, newest first

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default=JobStatus.QUEUED, index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    input_name: Mapped[str | None] = mapped_column(String(255))
    input_text: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    dispatch_task_id: Mapped[str | None] = mapped_column(String(64))
    group_id: Mapped[str | None] = mapped_column(String(64))
    chord_id: Mapped[str | None] = mapped_column(String(64))
    finalized_count: Mapped[int] = mapped_column(Integer, default=0)
    swept_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(80))
    rerun_of_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    resent_records: Mapped[int] = mapped_column(Integer, default=0)
    # Flow control (tasks.window): records up to this seq have been sent to the broker.
    sent_through: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    created_by = relationship("Operator")

    @property
    def started_by(self) -> str:
        """Who started the job, as the pages say it: its operator, else the schedule or the command that did."""
        if self.created_by is not None:
            return self.created_by.username
        if (self.input_name or "").startswith(SCHEDULE_INPUT_PREFIX):
            return "schedule"
        if self.input_name == DEMO_INPUT_NAME:
            return "demo seed (flask demo seed)"
        return "no operator (command line)"

    @property
    def has_failures(self) -> bool:
        """True when the job ended with failed records (so they can be retried)."""
        return self.status in (JobStatus.COMPLETED_WITH_FAILURES, JobStatus.FAILED)

    @property
    def is_active(self) -> bool:
        """True while the job may still change (pages keep polling)."""
        return self.status in ACTIVE_JOB_STATUSES

    @property
    def cancelling(self) -> bool:
        """True once a cancel is asked while steps still run: the page says "cancelling" and offers no
        Cancel, rather than "running" with a live button until the last step ends."""
        return self.is_active and self.cancel_requested_at is not None


class JobRecord(db.Model):
    """One unit of work of a job (a PO number, a product code), with its outcome."""

    __tablename__ = "job_records"
    __table_args__ = (
        UniqueConstraint("job_id", "key", name="uq_job_records_job_id_key"),
        Index("ix_job_records_job_seq", "job_id", "seq"),
        # Flow control counts a job's records in flight: unfinished, at or before its sent_through.
        Index("ix_job_records_job_state_seq", "job_id", "state", "seq"),
        Index("ix_job_records_state_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=RecordState.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    erp_ref: Mapped[str | None] = mapped_column(String(64))
    retry_at: Mapped[datetime | None] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    job = relationship("Job")


class JobKeyList(db.Model):
    """The keys of a job launched but not yet dispatched: its dispatch task turns them into records.

    A launch writes this one row instead of a record per key, so the request of a 10,000-record
    job costs one insert, not 10,000 rows with their indexes and key checks; the dispatch task (or
    a cancel arriving first) inserts the records and drops the list in one transaction.
    """

    __tablename__ = "job_key_lists"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    keys: Mapped[list[str]] = mapped_column(JSON)


class JobStateCount(db.Model):
    """Records of a job per state, kept by database triggers on job_records (see the migration).

    Sharded by record id so concurrent steps of one job rarely update the same row; a job's
    counts are the sum over its shards, a read of at most a hundred rows whatever the job's size.
    """

    __tablename__ = "job_state_counts"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class TaskRun(db.Model):
    """One execution of one Celery task (each retry and each redelivery is a row)."""

    __tablename__ = "task_runs"
    __table_args__ = (
        Index("ix_task_runs_record", "record_id", "id"),
        Index("ix_task_runs_job", "job_id", "id"),
        Index("ix_task_runs_finished_at", "finished_at"),
        # The task view's next steps (runs this task sent) and a group's members.
        Index("ix_task_runs_parent_id", "parent_id"),
        Index("ix_task_runs_group_id", "group_id"),  # throughput, ERP health and /metrics look back by time
        # The latest dispatch run of a job (webapp/jobs/dispatch_status.py) without reading its record steps' runs.
        Index("ix_task_runs_dispatch", "job_id", "id", postgresql_where=text(DISPATCH_WHERE), sqlite_where=text(DISPATCH_WHERE)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), index=True)
    task_name: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("job_records.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    # The canvas as Celery sent it (tasks.runlog_rows.canvas_ids): the task that called this one in its
    # chain, and for a chain's last task, its group and the chord body the group feeds.
    parent_id: Mapped[str | None] = mapped_column(String(64))
    group_id: Mapped[str | None] = mapped_column(String(64))
    chord_id: Mapped[str | None] = mapped_column(String(64))


class OutboxMessage(db.Model):
    """A task to publish, written in the same transaction as the job it belongs to."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    task_name: Mapped[str] = mapped_column(String(200))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    task_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime)
