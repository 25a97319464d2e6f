"""State changes of job records, kept in one place so every step reports the same way."""

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select

from tasks import runlog
from webapp.extensions import db, execute_core
from webapp.models import TERMINAL_RECORD_STATES, Job, JobRecord, RecordState, TaskRun, utcnow

# A step reads its record as a plain row and writes every state change as one UPDATE by id, built
# once and run on the session's connection: the ORM's identity map, unit of work and statement
# building cost a step more CPU than the statements themselves. A row keeps the values it was
# read with; the step's next load() after a commit reads the record again.
_RECORDS = JobRecord.__table__
_UPDATE_BY_ID = _RECORDS.update().where(_RECORDS.c.id == db.bindparam("record_id"))


def update(record_id: int, **values: Any) -> None:
    """Write ``values`` onto the record's row; the caller's transaction commits them."""
    execute_core(_UPDATE_BY_ID, {"record_id": record_id, **values})  # SET takes the keys given


def outcome(record_id: int, ok: bool) -> dict[str, Any]:
    """What a header task returns. Only the record id and success: a redelivered duplicate must
    return exactly the same value, or the Redis chord counter would count it as another member.
    Errors and skips reach the task log through runlog.note() instead.
    """
    return {"record": record_id, "ok": ok}


def row_query() -> Select:
    """SELECT of one record's columns by id (bind ``record_id``), to extend with more columns."""
    return db.select(*_RECORDS.c).where(_RECORDS.c.id == db.bindparam("record_id"))


_ROW_BY_ID = row_query()


def load(record_id: int) -> Row | None:
    """The record's row as this transaction reads it: its columns by name, read-only (the state
    changes below write by id). A step gets its first row from its cancel check's query
    (tasks.base.RecordTask.run_step); load() is for reading it again."""
    return execute_core(_ROW_BY_ID, {"record_id": record_id}).first()


_JOBS = Job.__table__
_CLAIM = (
    _RECORDS.update()
    .where(
        _RECORDS.c.id == db.bindparam("record_id"),
        _RECORDS.c.state.not_in(TERMINAL_RECORD_STATES),
        _RECORDS.c.payload.is_(None),
        _RECORDS.c.job_id == _JOBS.c.id,
        _JOBS.c.cancel_requested_at.is_(None),
    )
    .values(state=RecordState.RUNNING, retry_at=None, started_at=db.func.coalesce(_RECORDS.c.started_at, db.bindparam("now")))
    .returning(*_RECORDS.c)
)


def claim_for_fetch(record_id: int) -> Row | None:
    """Mark the record running and return its row, if it waits for its fetch (not done, nothing
    fetched yet) and its job is not cancelled; else None, and the record is left as it is.

    The fetch step's cancel check and running mark in one statement, one round trip instead of
    two; on PostgreSQL the same statement inserts the step's run row (tasks.runlog.opens_with_claim),
    claimed or not. A step that gets None takes the long way (tasks.base.RecordTask.run_step),
    which says why: a cancelled job, a record already done or already fetched. Commits, so that
    operators see the record in flight while the ERP answers and the connection goes back to the pool.
    """
    parameters = {"record_id": record_id, "now": utcnow()}
    run_row = runlog.deferred_row()
    if run_row is None:
        row = execute_core(_CLAIM, parameters).first()
    else:
        result = execute_core(claim_and_open_run(tuple(run_row)), parameters | {f"t_{key}": value for key, value in run_row.items()}).one()
        runlog.opened(result.run_id)
        row = result if result.id is not None else None
    db.session.commit()
    return row


_RUNS = TaskRun.__table__


@functools.cache
def claim_and_open_run(run_columns: tuple[str, ...]) -> Select:
    """The claim and the INSERT of the step's run in one statement (PostgreSQL: both data-modifying
    WITHs of a SELECT that returns the run's id, and the claimed record's columns or NULLs).
    Parameters: the claim's, and t_<column> for the run's row."""
    claimed = _CLAIM.cte("claimed")
    run = (
        _RUNS.insert()
        .values({name: db.bindparam(f"t_{name}", type_=_RUNS.c[name].type) for name in run_columns})
        .returning(_RUNS.c.id)
        .cte("run")
    )
    return db.select(run.c.id.label("run_id"), *claimed.c).select_from(run.outerjoin(claimed, db.true()))


def is_done(record: Row) -> bool:
    """True once the record has a final outcome (later deliveries must not change it)."""
    return record.state in TERMINAL_RECORD_STATES


def mark_running(record: Row) -> None:
    """A step of this record has started on a worker (claim_for_fetch does the same for a fetch)."""
    update(record.id, state=RecordState.RUNNING, retry_at=None, started_at=record.started_at or utcnow())
    db.session.commit()


def mark_retrying(record: Row, error: str, retry_at: datetime) -> None:
    """A transient failure: say why, and when the next attempt is due."""
    update(record.id, state=RecordState.RETRYING, error=error, retry_at=retry_at)
    db.session.commit()


def mark_failed(record: Row, error: str) -> dict[str, Any]:
    """A permanent failure: the record is done, with the reason in words."""
    update(record.id, state=RecordState.FAILED, error=error, retry_at=None, finished_at=utcnow())
    runlog.commit_closed(state=runlog.FAILURE, error=error)
    return outcome(record.id, False)


def succeeded(erp_ref: str | None) -> dict[str, Any]:
    """The columns of a record whose ERP effect exists, with its id for the link."""
    return {"state": RecordState.SUCCEEDED, "erp_ref": erp_ref, "error": None, "retry_at": None, "finished_at": utcnow()}


def mark_succeeded(record: Row, erp_ref: str | None) -> None:
    """The ERP effect exists; keep its id for the link. The caller's transaction commits it."""
    update(record.id, **succeeded(erp_ref))


def mark_cancelled(record: Row, by: str | None) -> dict[str, Any]:
    """The job was cancelled before this record's work was written: the record is done, untouched."""
    update(record.id, state=RecordState.CANCELLED, error=f"cancelled by {by or 'an operator'}", retry_at=None, finished_at=utcnow())
    runlog.commit_closed(state=runlog.SKIPPED, error="the job was cancelled")
    return outcome(record.id, False)
