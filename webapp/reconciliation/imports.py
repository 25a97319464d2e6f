"""Reconciliation jobs on the web side: store the upload, start reading it, confirm its preview.

The request only stores the file (webapp.storage: the database or S3, where every worker reads
it) and commits the job, its upload row and an outbox message for the reading task: a file of a
million rows never holds a request open. The file's SHA-256 (for "already imported") comes from
the reader, which hashes every byte in its one pass anyway. A refused upload stores nothing.
"""

from werkzeug.datastructures import FileStorage

from webapp import audit, storage
from webapp.extensions import db
from webapp.jobs import outbox
from webapp.jobs.kinds import DISPATCH_TASK
from webapp.models import Job, JobRecord, JobStatus, Operator, OutboxMessage, ReconImport, RecordState, StoredFile, locked_job, utcnow
from webapp.plurals import counted
from webapp.storage.names import name_problem

READ_TASK = "tasks.workflows.read_report"
ALLOWED = (".csv", ".txt", ".tsv")


class ReconError(Exception):
    """The upload or the confirmation cannot go ahead (shown to the operator)."""


def check_name(upload: FileStorage | None, what: str, required: bool) -> FileStorage | None:
    """The upload if present and of an accepted type; ReconError otherwise."""
    if upload is None or not upload.filename:
        if required:
            raise ReconError(f"choose the {what} to upload")
        return None
    if problem := name_problem(upload.filename):
        raise ReconError(problem)
    if not upload.filename.lower().endswith(ALLOWED):
        raise ReconError(f"{upload.filename!r} is not a report file: upload the {what} as .csv, .txt or .tsv")
    return upload


def launch_reconciliation(report: FileStorage | None, orders: FileStorage | None, operator: Operator | None) -> Job:
    """Store the file(s) and start reading them in a worker; return the job at once."""
    report = check_name(report, "settlement or Date Range report", required=True)
    orders = check_name(orders, "orders or shipments report", required=False)
    stored: list[StoredFile] = []
    try:
        job, message = add_job(report, orders, operator, stored)
        db.session.commit()
    except BaseException:
        try:
            storage.discard(stored)  # S3 objects; database chunks go with the rollback
        finally:
            db.session.rollback()
        raise
    outbox.relay_quietly([message.id])
    return job


def add_job(
    report: FileStorage, orders: FileStorage | None, operator: Operator | None, stored: list[StoredFile]
) -> tuple[Job, OutboxMessage]:
    """Store the files (appended to ``stored`` as they are) and add the job, its upload row and its read message."""
    report_file = storage.store(report.stream, report.filename or "report")
    stored.append(report_file)
    if report_file.size_bytes == 0:
        raise ReconError("the report file is empty")
    orders_file = storage.store(orders.stream, orders.filename or "orders") if orders is not None else None
    if orders_file is not None:
        stored.append(orders_file)
    job = Job(kind="reconciliation", source="upload", total=0, created_by=operator, input_name=report.filename)
    db.session.add(job)
    db.session.flush()
    db.session.add(
        ReconImport(
            job_id=job.id,
            filename=report.filename,
            size_bytes=report_file.size_bytes,
            report_file_id=report_file.id,
            orders_filename=orders.filename if orders else None,
            orders_file_id=orders_file.id if orders_file else None,
        )
    )
    message = outbox.add(READ_TASK, job_id=job.id)
    audit.record("launch", f"Reconciliation: read {report.filename} ({report_file.size_bytes:,} bytes)", job, operator)
    return job, message


def earlier_import(upload: ReconImport) -> ReconImport | None:
    """The confirmed import of the same file content, if this file was imported before (known once
    the file has been read to the end, which gives its hash)."""
    if upload.sha256 is None:
        return None
    return db.session.execute(
        db.select(ReconImport)
        .where(ReconImport.sha256 == upload.sha256, ReconImport.confirmed_at.is_not(None), ReconImport.id != upload.id)
        .order_by(ReconImport.confirmed_at)
        .limit(1)
    ).scalar_one_or_none()


def not_confirmable(job: Job, upload: ReconImport) -> str:
    """Why a reconciliation job cannot be confirmed now, in words."""
    if upload.confirmed_at is not None:
        return f"job #{job.id} was confirmed already"
    return {
        JobStatus.QUEUED: f"job #{job.id} is still reading its file",
        JobStatus.RUNNING: f"job #{job.id} is still reading its file",
        JobStatus.FAILED: f"job #{job.id} cannot be confirmed: its file has errors",
        JobStatus.CANCELLED: f"job #{job.id} was discarded",
        JobStatus.SUCCEEDED: f"job #{job.id} has nothing left to write",
    }.get(job.status, f"job #{job.id} cannot be confirmed now")


def nothing_to_write(preview: dict) -> str:
    """The words shown when every transaction of a file is in the ERP already."""
    jobs = ", ".join(f"#{job}" for job in preview.get("imported_jobs", []))
    what = (
        "the ERP holds these settlements and states from imports this report cannot be matched against"
        if preview.get("blocked")
        else "every transaction is already in the ERP"
    )
    return f"Nothing to write: {what}" + (f" (jobs {jobs})" if jobs else "")


def confirm(job_id: int, operator: Operator | None) -> Job:
    """Make one record per (settlement, state) with transactions the ERP lacks, and dispatch their writes."""
    job = locked_job(job_id)
    upload = db.session.execute(db.select(ReconImport).filter_by(job_id=job_id)).scalar_one_or_none()
    if job is None or upload is None:
        raise ReconError(f"job #{job_id} is not a reconciliation job")
    if job.status != JobStatus.AWAITING_CONFIRMATION or not upload.ok:
        raise ReconError(not_confirmable(job, upload))
    if "nothing_new" not in upload.preview:
        raise ReconError(f"job #{job.id} was read before transactions were tracked: upload the file again")
    currencies = {s["id"]: s["currency"] for s in upload.preview["settlements"]}
    orders = [o for o in upload.preview["orders"] if o.get("new", {}).get("rows")]
    if not orders:
        raise ReconError(nothing_to_write(upload.preview))
    db.session.execute(
        db.insert(JobRecord),
        [
            {
                "job_id": job.id,
                "seq": seq,
                "key": f"{o['settlement_id']}/{o['state']}",
                "state": RecordState.PENDING,
                "payload": {
                    "import_id": upload.id,
                    "settlement_id": o["settlement_id"],
                    "state": o["state"],
                    "rows": o["rows"],
                    "kind": upload.report_kind,
                    "currency": currencies.get(o["settlement_id"], "USD"),
                },
            }
            for seq, o in enumerate(orders, start=1)
        ],
    )
    job.total = len(orders)
    job.status = JobStatus.QUEUED
    upload.confirmed_at, upload.confirmed_by = utcnow(), audit.actor_name(operator)
    outbox.add(DISPATCH_TASK, job_id=job.id)
    audit.record("confirm", f"confirmed {upload.filename}: {counted(len(orders), 'sales order')} to write", job, operator)
    db.session.commit()
    outbox.relay_quietly_pending(job.id)
    return job
