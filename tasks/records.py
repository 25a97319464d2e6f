"""State changes of job records, kept in one place so every step reports the same way."""

from datetime import datetime
from typing import Any

from tasks import runlog
from webapp.extensions import db
from webapp.models import TERMINAL_RECORD_STATES, JobRecord, RecordState, utcnow


def outcome(record_id: int, ok: bool) -> dict[str, Any]:
    """What a header task returns. Only the record id and success: a redelivered duplicate must
    return exactly the same value, or the Redis chord counter would count it as another member.
    Errors and skips reach the task log through runlog.note() instead.
    """
    return {"record": record_id, "ok": ok}


def load(record_id: int) -> JobRecord | None:
    """The record as this transaction reads it (no query if the step's cancel check already read it)."""
    return db.session.get(JobRecord, record_id)


def is_done(record: JobRecord) -> bool:
    """True once the record has a final outcome (later deliveries must not change it)."""
    return record.state in TERMINAL_RECORD_STATES


def mark_running(record: JobRecord) -> None:
    """A step of this record has started on a worker."""
    record.state = RecordState.RUNNING
    record.retry_at = None
    record.started_at = record.started_at or utcnow()
    db.session.commit()


def store_payload(record_id: int, payload: dict[str, Any]) -> None:
    """Keep what was fetched for the next step. Written by id, so the record that mark_running()'s
    commit expired is not read back first. The caller's transaction commits it."""
    db.session.execute(db.update(JobRecord).where(JobRecord.id == record_id).values(payload=payload),
                       execution_options={"synchronize_session": False})


def mark_retrying(record: JobRecord, error: str, retry_at: datetime) -> None:
    """A transient failure: say why, and when the next attempt is due."""
    record.state = RecordState.RETRYING
    record.error = error
    record.retry_at = retry_at
    db.session.commit()


def mark_failed(record: JobRecord, error: str) -> dict[str, Any]:
    """A permanent failure: the record is done, with the reason in words."""
    record.state = RecordState.FAILED
    record.error = error
    record.retry_at = None
    record.finished_at = utcnow()
    runlog.commit_settled(state=runlog.FAILURE, error=error)
    return outcome(record.id, False)


def mark_succeeded(record: JobRecord, erp_ref: str) -> None:
    """The ERP effect exists; keep its id for the link. The caller's transaction commits it."""
    record.state = RecordState.SUCCEEDED
    record.erp_ref = erp_ref
    record.error = None
    record.retry_at = None
    record.finished_at = utcnow()


def mark_cancelled(record: JobRecord, by: str | None) -> dict[str, Any]:
    """The job was cancelled before this record's work was written: the record is done, untouched."""
    record.state = RecordState.CANCELLED
    record.error = f"cancelled by {by or 'an operator'}"
    record.retry_at = None
    record.finished_at = utcnow()
    runlog.commit_settled(state=runlog.SKIPPED, error="the job was cancelled")
    return outcome(record.id, False)
