"""The base of every record step, and what the steps share: backoff, giving up cleanly.

A record step never lets an error escape into its chord: a database outage is retried with
backoff, any other unexpected error fails the record with its traceback in the task log, a task
whose worker died POISON_CAP times is failed instead of being redelivered forever, and a
cancelled job's records are cancelled instead of written, unless their first ERP write already
committed: those finish their remaining write steps, so a record is in the ERP whole or not at all.
"""

import logging
import random
import sys
import traceback
from collections.abc import Callable
from typing import Any

from celery import Task, states
from celery.exceptions import Retry
from flask import current_app
from sqlalchemy import Row
from sqlalchemy.exc import OperationalError

from tasks import jobs, records, runlog
from webapp.extensions import db

log = logging.getLogger(__name__)

POISON_CAP = 3  # a task id whose worker died this many times is failed, not redelivered again

# What a record step does once its checks pass: (job id, record id, the record's row or None) → outcome.
Step = Callable[[int, int, Row | None], dict[str, Any]]


class RecordTask(Task):
    """Base of the per-record steps: never lets an error escape into the chord.

    A database outage is retried with backoff; any other unexpected error fails the record
    with its traceback in the task log; a poison pill (worker died POISON_CAP times) is failed
    instead of being redelivered forever.
    """

    writes_erp = False  # steps that write to the ERP set it: their cancel check locks the job row

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.app.flask_app.app_context():  # type: ignore[attr-defined]
            record_id = kwargs["record_id"]
            try:
                return self.run(*args, **kwargs)
            except Retry:
                raise
            except jobs.JobCancelled as exc:
                db.session.rollback()
                return cancel_unless_done(record_id, exc.by)
            except OperationalError as exc:
                db.session.rollback()
                if self.request.retries < current_app.config["DB_RETRY_MAX"]:
                    runlog.note(self.request.id, error=f"database unavailable: {exc.orig}")
                    raise self.retry(countdown=db_backoff_seconds(self.request.retries), max_retries=None) from None
                return self.fail_with_traceback(record_id, f"database unavailable: {exc.orig}")
            except Exception as exc:
                db.session.rollback()
                return self.fail_with_traceback(record_id, f"internal error: {type(exc).__name__}: {exc}")

    def run_step(self, job_id: int, record_id: int, step: Step) -> dict[str, Any]:
        """Run ``step`` on the record as its cancel check read it, unless its worker died too often
        on it or its job was cancelled."""
        lost = runlog.lost_count(self.request.id)
        if lost >= POISON_CAP:
            name = self.name.rsplit(".", 1)[-1]
            return fail_unless_done(record_id, f"gave up: the worker process died {lost} times while running {name}")
        if not self.writes_erp:
            # The cancel check and the running mark of a step that does not write to the ERP take
            # no lock and write one row: one statement when the record waits for its fetch. A step
            # that ends here instead (a record already final, a cancelled job) writes its record and
            # closes its run as two statements: a worker killed between them leaves the run
            # STARTED, which its redelivery marks LOST.
            commit_each_statement()
            claimed = records.claim_for_fetch(record_id)
            if claimed is not None:
                return step(job_id, record_id, claimed)
            commit_each_statement()
        record, by = jobs.cancelled_by_loading(job_id, record_id, lock=self.writes_erp)
        if by is not None and not partly_written(record):
            return cancel_unless_done(record_id, by, record)
        return step(job_id, record_id, record)

    def fail_with_traceback(self, record_id: int, error: str) -> dict[str, Any]:
        """Fail the record and keep the traceback on the task run and in Celery's result backend."""
        runlog.note(self.request.id, traceback=traceback.format_exc())
        keep_failure(self)
        return fail_unless_done(record_id, error)


def keep_failure(task: Task) -> None:
    """Store the exception being handled as the task's FAILURE in Celery's result backend, with its
    traceback, where the task view reads it (``store_errors_even_if_ignored`` does nothing here:
    the step returns an outcome instead of raising, so that its chord counts it).

    store_result() writes the task's own key only: mark_as_failure() would also count the task
    in its chord a second time. The request then ignores the step's return value, so the outcome
    it returns to the chord does not overwrite the failure with SUCCESS. Never raises: the record
    fails in SQL whether or not Redis answers.
    """
    exc = sys.exc_info()[1]
    try:
        task.backend.store_result(task.request.id, exc, states.FAILURE, traceback=traceback.format_exc(), request=task.request)
        task.request.ignore_result = True
    except Exception:
        log.warning("could not keep the failure of %s in the result backend", task.request.id, exc_info=True)


def commit_each_statement() -> None:
    """Send the session's statements in autocommit mode until its next commit: each commits on its
    own, without the BEGIN and COMMIT round trips a transaction costs.

    Only for statements that need no transaction together. At the commit the connection goes
    back to the pool, which restores its isolation level: the session's next transaction is an
    ordinary one again. A fetch step uses it twice (see RecordTask.run_step and tasks.steps.fetch_document): its
    record is read and marked running, then its payload stored and its run closed, two round
    trips each instead of four.
    """
    db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def partly_written(record: Any) -> bool:
    """True once the record's first ERP write committed (its erp_ref is set): a cancel lets it finish,
    so that a cancelled record never leaves part of itself in the ERP (a product without its components)."""
    return record is not None and record.erp_ref is not None


def cancel_unless_done(record_id: int, by: str | None, record: Row | None = None) -> dict[str, Any]:
    """Mark the record cancelled unless it already has its final outcome; ``record`` is its row
    as the caller just read it (read again when not given)."""
    if record is None:
        record = records.load(record_id)
    if record is None or records.is_done(record) or partly_written(record):
        # A partly written record was written by another delivery meanwhile: that one finishes it.
        runlog.note(state=runlog.SKIPPED)
        return records.outcome(record_id, record is not None and record.state == "succeeded")
    return records.mark_cancelled(record, by)


def fail_unless_done(record_id: int, error: str) -> dict[str, Any]:
    """Mark the record failed unless it already has its final outcome."""
    record = records.load(record_id)
    if record is None:
        runlog.note(state=runlog.FAILURE, error=error)
        return records.outcome(record_id, False)
    if records.is_done(record):
        runlog.note(state=runlog.SKIPPED)
        return records.outcome(record_id, record.state == "succeeded")
    return records.mark_failed(record, error)


def backoff_seconds(retries: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, at least Retry-After, never above FETCH_BACKOFF_MAX."""
    config = current_app.config
    ceiling = config["FETCH_BACKOFF_MAX"]
    delay = min(ceiling, config["FETCH_BACKOFF_BASE"] * 2**retries)
    delay = delay / 2 + random.uniform(0, delay / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, ceiling)


def db_backoff_seconds(retries: int) -> float:
    """Backoff while the database is unreachable: doubling from FETCH_BACKOFF_BASE up to DB_BACKOFF_MAX."""
    config = current_app.config
    delay = min(config["DB_BACKOFF_MAX"], config["FETCH_BACKOFF_BASE"] * 2**retries)
    return delay / 2 + random.uniform(0, delay / 2)
