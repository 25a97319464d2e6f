"""A job's records and outcomes as a streamed CSV download (the dashboard's and the API's)."""

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from flask import Response, stream_with_context

from webapp.extensions import db
from webapp.jobs.kinds import KINDS, Step
from webapp.models import Job, JobRecord, TaskRun

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


def step_runs(record_ids: list[int], steps: tuple[Step, ...]) -> dict[int, list[tuple[str, int]]]:
    """Per record, per step: (its last task run's state, lower case, or "" if it never ran; its runs). One query."""
    index = {step.task_name: i for i, step in enumerate(steps)}
    found = {record_id: [("", 0)] * len(steps) for record_id in record_ids}
    runs = db.session.execute(
        db.select(TaskRun.record_id, TaskRun.task_name, TaskRun.state).where(TaskRun.record_id.in_(record_ids)).order_by(TaskRun.id)
    )
    for record_id, task_name, state in runs:
        if task_name in index:
            step = found[record_id]
            _, count = step[index[task_name]]
            step[index[task_name]] = (state.lower(), count + 1)
    return found


def record_row(record: JobRecord, steps: list[tuple[str, int]]) -> list[object]:
    """One record as a CSV row, its cells made safe for a spreadsheet."""
    row: list[object] = [record.seq, record.key, record.state, sum(count for _, count in steps)]
    row += [cell for step in steps for cell in step]
    row += [record.error or "", record.erp_ref or "", utc_time(record.started_at), utc_time(record.finished_at)]
    return [spreadsheet_safe(cell) for cell in row]


def export_rows(job_id: int, steps: tuple[Step, ...]) -> Iterator[str]:
    """The job's records as CSV text, chunk by chunk (constant memory for any job size)."""
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
        runs = step_runs([r.id for r in chunk], steps)
        writer.writerows(record_row(r, runs[r.id]) for r in chunk)
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
