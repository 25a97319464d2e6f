"""Job-level steps as plain functions: add records, count outcomes, close the job."""

from typing import Any

from sqlalchemy import Row

from tasks import records, runlog_cleanup
from webapp.extensions import db, execute_core, on_postgresql
from webapp.jobs.launch import insert_pending_records
from webapp.models import ACTIVE_JOB_STATUSES, TERMINAL_RECORD_STATES, Job, JobRecord, JobStatus, RecordState, locked_job, utcnow


def counts_by_state(job_id: int) -> dict[str, int]:
    """Number of records of the job in each state (one GROUP BY on an index)."""
    rows = db.session.execute(db.select(JobRecord.state, db.func.count()).where(JobRecord.job_id == job_id).group_by(JobRecord.state)).all()
    return {state: count for state, count in rows}


def add_records(job: Job, keys: list[str]) -> None:
    """Create the job's records in input order; already-present keys are kept (safe to redo)."""
    existing = set(db.session.execute(db.select(JobRecord.key).where(JobRecord.job_id == job.id)).scalars())
    rows = [(seq, key) for seq, key in enumerate(keys, start=1) if key not in existing]
    insert_pending_records(job.id, rows)
    job.total = len(existing) + len(rows)


def fail_listed(job_id: int, problems: dict[str, str]) -> None:
    """Fail, each with its reason, the records of keys the ERP listed that are not keys (never fetched).

    Only records still pending change, so a dispatch that runs again changes nothing. The caller commits.
    """
    if not problems:
        return
    records_table = JobRecord.__table__
    db.session.execute(
        records_table.update()
        .where(
            records_table.c.job_id == job_id,
            records_table.c.key == db.bindparam("listed_key"),
            records_table.c.state == RecordState.PENDING,
        )
        .values(state=RecordState.FAILED, error=db.bindparam("reason"), finished_at=utcnow()),
        [{"listed_key": key, "reason": reason} for key, reason in problems.items()],
    )


def has_unfinished(job_id: int) -> bool:
    """True while some record of the job needs work."""
    return (
        db.session.execute(
            db.select(JobRecord.id).where(JobRecord.job_id == job_id, JobRecord.state.not_in(TERMINAL_RECORD_STATES)).limit(1)
        ).first()
        is not None
    )


def final_status(counts: dict[str, int]) -> str | None:
    """The job's terminal status from its record counts, or None while records are unfinished."""
    total = sum(counts.values())
    succeeded = counts.get(RecordState.SUCCEEDED, 0)
    failed = counts.get(RecordState.FAILED, 0)
    cancelled = counts.get(RecordState.CANCELLED, 0)
    if succeeded + failed + cancelled < total:
        return None
    if cancelled:
        return JobStatus.CANCELLED
    if failed == 0:
        return JobStatus.SUCCEEDED
    if succeeded == 0:
        return JobStatus.FAILED
    return JobStatus.COMPLETED_WITH_FAILURES


def finalize(job_id: int) -> dict[str, Any]:
    """Close the job if every record is final; idempotent, so a second call changes nothing.

    Two chord bodies of one job may both find it done at once (tasks.window). The close is a
    conditional UPDATE of a job still active, so only one of them closes it and counts it in
    ``finalized_count`` (once per run of the job: a retry of its failed records closes it again),
    on SQLite too, where the job row is not locked.
    """
    job = locked_job(job_id)
    if job is None:
        return {"job": job_id, "status": None}
    status = final_status(counts_by_state(job_id)) if job.is_active else None
    if status is not None and job.cancel_requested_at is not None:
        status = JobStatus.CANCELLED
    if status is None:
        db.session.rollback()
        return {"job": job_id, "status": job.status}
    closed = db.session.execute(
        db.update(Job)
        .where(Job.id == job_id, Job.status.in_(ACTIVE_JOB_STATUSES))
        .values(status=status, finished_at=utcnow(), finalized_count=Job.finalized_count + 1),
        execution_options={"synchronize_session": False},
    ).rowcount
    if closed:
        runlog_cleanup.close_abandoned_runs(job_id)
    db.session.commit()
    return {"job": job_id, "status": status if closed else db.session.get(Job, job_id, populate_existing=True).status}


def finalize_stalled() -> list[int]:
    """Finalize running jobs whose records are all final: their chord callback was lost.

    The chord body normally does this; when a chord part was never counted (a worker killed
    between storing a result and reporting it), the body never fires. Safe to run any time,
    because finalize() is idempotent. A running job without records is a reconciliation file
    still being read (its records come with the confirmation): it is not finished.
    """
    unfinished = db.select(JobRecord.id).where(JobRecord.job_id == Job.id, JobRecord.state.not_in(TERMINAL_RECORD_STATES)).exists()
    has_records = db.select(JobRecord.id).where(JobRecord.job_id == Job.id).exists()
    ids = db.session.execute(db.select(Job.id).where(Job.status == JobStatus.RUNNING, has_records, ~unfinished).limit(500)).scalars().all()
    db.session.rollback()
    return [job_id for job_id in ids if finalize(job_id)["status"] != JobStatus.RUNNING]


class JobCancelled(Exception):
    """The job's cancel flag is set: the step must not write."""

    def __init__(self, by: str | None) -> None:
        super().__init__(f"cancelled by {by}")
        self.by = by


def locks_rows() -> bool:
    """True on PostgreSQL, whose row locks the cancel checks use; SQLite locks the whole database."""
    return on_postgresql()


def cancelled_by(job_id: int, lock: bool = False) -> str | None:
    """Who cancelled the job, or None. With ``lock``, hold a share lock on the job row until commit
    (see cancelled_by_loading)."""
    query = db.select(Job.cancel_requested_at, Job.cancelled_by).where(Job.id == job_id)
    if lock and locks_rows():
        query = query.with_for_update(read=True)
    row = db.session.execute(query).first()
    if row is None or row[0] is None:
        return None
    return row[1] or "an operator"


# Built once: every step runs it, and building the statement costs more than running it.
# Plain tables, not mapped classes: a statement naming a mapped class takes the ORM's slower path.
_JOBS = Job.__table__
_RECORD_AND_CANCEL = (
    records.row_query()
    .add_columns(_JOBS.c.cancel_requested_at, _JOBS.c.cancelled_by)
    .join(_JOBS, _JOBS.c.id == JobRecord.__table__.c.job_id)
)
_RECORD_AND_CANCEL_LOCKED = _RECORD_AND_CANCEL.with_for_update(read=True, of=_JOBS)


def cancelled_by_loading(job_id: int, record_id: int, lock: bool = False) -> tuple[Row | None, str | None]:
    """Like cancelled_by(), reading the record's row in the same query; returns (record, who cancelled).

    The step is handed the row (tasks.base.RecordTask.run_step), so it reads its record without a query of its own.

    A step that writes to the ERP passes ``lock``: on PostgreSQL the query then also takes a share
    lock on the job row, held until the step commits its write. A cancel (which locks the job row,
    then its records) waits for the write instead of interleaving with it, and both lock the job
    before any record, so they cannot deadlock. On SQLite, which has no row locks, the step checks
    again after writing (ensure_not_cancelled_after_write).
    """
    query = _RECORD_AND_CANCEL_LOCKED if lock and locks_rows() else _RECORD_AND_CANCEL
    row = execute_core(query, {"record_id": record_id}).first()
    if row is None:
        return None, cancelled_by(job_id, lock=lock)
    return row, None if row.cancel_requested_at is None else row.cancelled_by or "an operator"


def ensure_not_cancelled_after_write(job_id: int, record: Row) -> None:
    """Raise JobCancelled if the job was cancelled; a step that writes to the ERP calls it after
    writing and before committing, with the record as the step loaded it. A record whose first
    write committed before (its erp_ref set) finishes whatever the cancel: it is not checked.

    Needed on SQLite only: the check runs inside the write transaction, which holds the database's
    write lock, so no cancel can commit between the check and the commit. On PostgreSQL the step's
    first query took a share lock on the job row before the write (cancelled_by_loading), so a
    cancel cannot have been acknowledged since.
    """
    if locks_rows() or record.erp_ref is not None:
        return
    by = cancelled_by(job_id)
    if by is not None:
        raise JobCancelled(by)


def start_running(job_id: int, **canvas: str) -> bool:
    """Mark the queued job running (with its canvas ids, if given); False when a cancel (or another
    dispatch) changed the job since the dispatch read it. The caller commits.

    One conditional UPDATE: the dispatch reads the job long before it starts it (making the
    records, asking the ERP), and a plain write of the status would overwrite a cancel committed
    in between, bringing a cancelled job back to running.
    """
    return bool(
        db.session.execute(
            db.update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED, Job.cancel_requested_at.is_(None))
            .values(status=JobStatus.RUNNING, started_at=db.func.coalesce(Job.started_at, utcnow()), **canvas),
            execution_options={"synchronize_session": False},
        ).rowcount
    )


def fail_job(job: Job, error: str) -> None:
    """End a job that could not even start (its record list could not be obtained)."""
    job.status = JobStatus.FAILED
    job.error = error
    job.finished_at = utcnow()
    db.session.commit()
