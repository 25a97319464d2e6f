"""A job's records and outcomes as a streamed CSV download (the dashboard's and the API's)."""

import csv
import io
from collections.abc import Iterator

from flask import Response, stream_with_context

from webapp.extensions import db
from webapp.jobs.kinds import KINDS, Step
from webapp.jobs.step_history import error_trace, read_histories
from webapp.models import Job, JobRecord

EXPORT_COLUMNS = ["seq", "key", "state", "attempts", "error", "erp_ref", "started_at", "finished_at"]
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


def export_rows(job_id: int, steps: tuple[Step, ...]) -> Iterator[str]:
    """The job's records as CSV text, chunk by chunk (constant memory for any job size); attempts and
    errors as the job page counts them (webapp.jobs.step_history)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
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
        for r in chunk:
            row = [
                r.seq,
                r.key,
                r.state,
                histories[r.id].attempts,
                error_trace(r.state, r.error, histories[r.id].errors),
                r.erp_ref or "",
                r.started_at.isoformat() if r.started_at else "",
                r.finished_at.isoformat() if r.finished_at else "",
            ]
            writer.writerow([spreadsheet_safe(cell) for cell in row])
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
