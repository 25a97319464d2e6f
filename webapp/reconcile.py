"""Reconciliation jobs on the web side: keep the upload, start reading it, confirm its preview.

The request only saves the file and commits the job, its upload row and an outbox message for
the reading task: a file of a million rows never holds a request open. The file's SHA-256 (for
"already imported") comes from the reader, which hashes every byte in its one pass anyway.
"""

import os
import shutil
import uuid

from flask import current_app
from werkzeug.datastructures import FileStorage

from webapp import audit, outbox
from webapp.extensions import db
from webapp.kinds import DISPATCH_TASK
from webapp.models import Job, JobRecord, JobStatus, Operator, ReconImport, RecordState, locked_job, utcnow

READ_TASK = "tasks.workflows.read_report"
ALLOWED = (".csv", ".txt", ".tsv")
COPY_CHUNK = 1 << 20


class ReconError(Exception):
    """The upload or the confirmation cannot go ahead (shown to the operator)."""


def upload_folder() -> str:
    """Where uploads are kept: shared by web and workers (UPLOAD_FOLDER, default instance/uploads)."""
    folder = current_app.config.get("UPLOAD_FOLDER") or os.path.join(current_app.instance_path, "uploads")
    os.makedirs(folder, exist_ok=True)
    return folder


def save(upload: FileStorage, folder: str, name: str) -> tuple[str, int]:
    """Copy an uploaded file to ``folder/name`` in chunks; return (path, size)."""
    path = os.path.join(folder, name)
    with open(path, "wb") as out:
        shutil.copyfileobj(upload.stream, out, COPY_CHUNK)
        return path, out.tell()


def check_name(upload: FileStorage | None, what: str, required: bool) -> FileStorage | None:
    """The upload if present and of an accepted type; ReconError otherwise."""
    if upload is None or not upload.filename:
        if required:
            raise ReconError(f"choose the {what} to upload")
        return None
    if not upload.filename.lower().endswith(ALLOWED):
        raise ReconError(f"{upload.filename!r} is not a report file: upload the {what} as .csv, .txt or .tsv")
    return upload


def launch_reconciliation(report: FileStorage | None, orders: FileStorage | None, operator: Operator | None) -> Job:
    """Save the file(s) and start reading them in a worker; return the job at once."""
    report = check_name(report, "settlement or Date Range report", required=True)
    orders = check_name(orders, "orders or shipments report", required=False)
    folder = os.path.join(upload_folder(), uuid.uuid4().hex)
    os.makedirs(folder)
    path, size = save(report, folder, "report")
    if size == 0:
        raise ReconError("the report file is empty")
    orders_path = save(orders, folder, "orders")[0] if orders is not None else None
    job = Job(kind="reconciliation", source="upload", total=0, created_by=operator, input_name=report.filename)
    db.session.add(job)
    db.session.flush()
    db.session.add(ReconImport(job_id=job.id, filename=report.filename, path=path, size_bytes=size,
                               orders_filename=orders.filename if orders else None, orders_path=orders_path))
    message = outbox.add(READ_TASK, job_id=job.id)
    audit.record("launch", f"Reconciliation: read {report.filename} ({size:,} bytes)", job, operator)
    db.session.commit()
    outbox.relay_quietly([message.id])
    return job


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
    return "Nothing to write: every transaction is already in the ERP" + (f" (jobs {jobs})" if jobs else "")


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
    db.session.execute(db.insert(JobRecord), [
        {"job_id": job.id, "seq": seq, "key": f"{o['settlement_id']}/{o['state']}", "state": RecordState.PENDING,
         "payload": {"import_id": upload.id, "settlement_id": o["settlement_id"], "state": o["state"],
                     "currency": currencies.get(o["settlement_id"], "USD")}}
        for seq, o in enumerate(orders, start=1)
    ])
    job.total = len(orders)
    job.status = JobStatus.QUEUED
    upload.confirmed_at, upload.confirmed_by = utcnow(), audit.actor_name(operator)
    outbox.add(DISPATCH_TASK, job_id=job.id)
    audit.record("confirm", f"confirmed {upload.filename}: {len(orders)} sales orders to write", job, operator)
    db.session.commit()
    outbox.relay_quietly_pending(job.id)
    return job
