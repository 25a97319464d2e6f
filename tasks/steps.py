"""The two kinds of record step: fetching a record's document from the ERP, and writing it into the ERP.

Each runs through RecordTask.run_step, which hands it the record as its cancel check read it.
"""

from collections.abc import Callable
from typing import Any

from celery import Task
from flask import current_app
from sqlalchemy import Row

from tasks import jobs, records, runlog
from tasks.base import backoff_seconds, commit_each_statement, fail_unless_done
from webapp.erp_client import ErpError, TransientError, erp_path, get_json
from webapp.erp_writes.written import Unwritable, Written
from webapp.extensions import db
from webapp.models import RecordState

# Writes what a record fetched into the ERP: (the record's row, job id) → what it made. Caller commits.
ErpWrite = Callable[[Row, int], Written]


def fetch_document(
    task: Task, path: str, validate: Callable[[str, Any], dict[str, Any]], job_id: int, record_id: int, record: Row | None
) -> dict[str, Any]:
    """Fetch a record's ERP document; retry transient failures with backoff, fail permanent ones at once."""
    if record is None or records.is_done(record):
        return fail_unless_done(record_id, "the record is gone")
    if record.payload:  # fetched before a later step was lost: no need to ask the ERP again
        runlog.note(state=runlog.SKIPPED)
        return records.outcome(record_id, True)
    if record.state != RecordState.RUNNING:  # a claimed record is running already (records.claim_for_fetch)
        records.mark_running(record)
    try:
        data = validate(record.key, get_json(erp_path(path, record.key), record.key))
    except TransientError as exc:
        return retry_or_fail(task, record, exc)
    except ErpError as exc:
        return records.mark_failed(record, exc.reason)
    # The record gets no outcome here (it stays running until its write step), so its payload and
    # its run's close need no transaction: one statement on PostgreSQL, two on SQLite, where a
    # worker killed between them leaves the payload stored and the run STARTED (the redelivery
    # marks the run LOST and skips the fetch).
    commit_each_statement()
    runlog.close_in_transaction(record={"record_id": record_id, "payload": data})
    db.session.commit()
    return records.outcome(record_id, True)


def retry_or_fail(task: Task, record: Row, exc: ErpError) -> dict[str, Any]:
    """Schedule another attempt, or fail the record once the retry budget is spent."""
    attempts = task.request.retries + 1
    limit = current_app.config["FETCH_MAX_RETRIES"]
    if task.request.retries >= limit:
        return records.mark_failed(record, f"gave up after {attempts} attempts: {exc.reason}")
    countdown = backoff_seconds(task.request.retries, exc.retry_after)
    retry_at = runlog.retry_time(countdown)
    message = f"{exc.reason} (attempt {attempts} of {limit + 1})"
    records.mark_retrying(record, message, retry_at)
    runlog.note(task.request.id, error=message, retry_at=retry_at)
    raise task.retry(countdown=countdown, max_retries=limit)


def write_to_erp(write: ErpWrite, job_id: int, record_id: int, record: Row | None) -> dict[str, Any]:
    """The one ERP-write step: write, give the record its outcome, close its run, commit; twice writes once.

    This order keeps a write from following a cancel: the cancel check that read the record holds
    a share lock on the job row until this commit (PostgreSQL); on SQLite the job is checked again
    inside the write's transaction, and a cancel found there rolls the write back.
    """
    if record is None or records.is_done(record):
        return fail_unless_done(record_id, "the record is gone")
    try:
        written = write(record, job_id)
    except Unwritable as exc:
        return records.mark_failed(record, str(exc))
    values = records.succeeded(written.erp_ref) if written.whole else {"erp_ref": written.erp_ref}
    if written.note is not None:
        values["error"] = written.note
    jobs.ensure_not_cancelled_after_write(job_id, record)
    runlog.close_in_transaction(record={"record_id": record_id, **values})  # with the run's close: one statement
    db.session.commit()
    return records.outcome(record_id, True)
