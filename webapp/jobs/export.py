"""A job's records and outcomes as a streamed CSV download (the dashboard's and the API's)."""

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from flask import Response, stream_with_context

from webapp.extensions import db
from webapp.jobs.kinds import KINDS, Step
from webapp.jobs.step_history import RecordHistory, error_trace, read_histories
from webapp.models import Job, JobRecord

EXPORT_COLUMNS = ["seq", "key", "state", "attempts", "error", "erp_ref", "started_at", "finished_at"]
STEP_COLUMNS = ("{label}", "{label} runs")  # per step of the kind, after "attempts": its last state, its task runs
EXPORT_CHUNK = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: object) -> object:
    """A text cell a spreadsheet will show as text, never run as a formula (OWASP's CSV injection advice).

    Keys and ERP errors come from uploads and from the ERP: a cell such as ``=HYPERLINK(...)`` would
    otherwise run when an operator opens the download in a spreadsheet.
    """
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def utc_time(value: datetime | None) -> str:
    """A stored time (naive, UTC) marked as UTC, as the API writes times, so nobody reads it as local time."""
    return value.isoformat(timespec="seconds") + "Z" if value else ""


def header(steps: tuple[Step, ...]) -> list[str]:
    """The columns: the record's, with each step's state and runs after ``attempts``."""
    at = EXPORT_COLUMNS.index("attempts") + 1
    step_columns = [column.format(label=step.label) for step in steps for column in STEP_COLUMNS]
    return EXPORT_COLUMNS[:at] + step_columns + EXPORT_COLUMNS[at:]


def record_row(record: JobRecord, history: RecordHistory) -> list[object]:
    """One record as a CSV row, its cells made safe for a spreadsheet: attempts and the error as the
    job page shows them, then each step's latest state (lower case, "" if it never ran) and runs."""
    row: list[object] = [record.seq, record.key, record.state, history.attempts]
    row += [cell for step in history.steps for cell in ((step.state.lower() if step.runs else ""), step.runs)]
    row += [error_trace(record.state, record.error, history.errors), record.erp_ref or ""]
    row += [utc_time(record.started_at), utc_time(record.finished_at)]
    return [spreadsheet_safe(cell) for cell in row]


def export_rows(job_id: int, steps: tuple[Step, ...]) -> Iterator[str]:
    """The job's records as CSV text, chunk by chunk (constant memory for any job size); attempts and
    errors as the job page counts them (webapp.jobs.step_history)."""

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header(steps))
    last_seq = 0
    while True:
        chunk = (
            db.session.execute(
                db.select(JobRecord).where(JobRecord.job_id == job_id, JobRecord.seq > last_seq).order_by(JobRecord.seq).limit(EXPORT_CHUNK)
            )
            .scalars()
            .all()
        )
        if not chunk:
            break
        histories = read_histories([r.id for r in chunk], steps)
        writer.writerows(record_row(r, histories[r.id]) for r in chunk)
        last_seq = chunk[-1].seq
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        db.session.expunge_all()
    yield buffer.getvalue()


def csv_response(job: Job) -> Response:
    """A streamed CSV download of the job's records."""
    response = Response(stream_with_context(export_rows(job.id, KINDS[job.kind].steps)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="job-{job.id}-records.csv"'
    return response
