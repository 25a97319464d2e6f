"""The stored files of reconciliation uploads: local copies for the reader, and their deletion.

A file goes as soon as nothing can be written from it (its preview discarded, its read failed),
otherwise ``UPLOAD_RETENTION_DAYS`` after its job finished: until then it is kept as the record
of what was imported. The preview stays on the upload row; ``files_deleted_at`` says when the
bytes went.
"""

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta

from webapp import storage
from webapp.extensions import db
from webapp.models import TERMINAL_JOB_STATUSES, Job, ReconImport, ReconTransactionChunk, StoredFile, utcnow


@contextlib.contextmanager
def local_files(upload: ReconImport) -> Iterator[tuple[str, str | None]]:
    """Paths of the report and of the orders report on this machine, copies deleted when the block ends."""
    with contextlib.ExitStack() as stack:
        report = local_path(stack, upload.report_file, upload.path, upload)
        orders = None
        if upload.orders_filename is not None:
            orders = local_path(stack, upload.orders_file, upload.orders_path, upload)
        yield report, orders


def local_path(stack: contextlib.ExitStack, file: StoredFile | None, saved_path: str | None, upload: ReconImport) -> str:
    """A temporary copy of ``file``, or the path an upload made before stored files was saved at
    (on the disk of the machine that saved it: a worker elsewhere says so rather than "no such file")."""
    if upload.files_deleted_at is None:
        if file is not None:
            return stack.enter_context(storage.local_copy(file))
        if saved_path and os.path.exists(saved_path):
            return saved_path
        if saved_path:
            raise storage.StoredFileMissing(
                f"{upload.filename} was saved at {saved_path} before uploads were stored for every machine, and this one has no such file"
            )
    raise storage.StoredFileMissing(f"the files of {upload.filename} were deleted")


def delete_files(upload: ReconImport) -> bool:
    """Delete the upload's stored files (and a file an older version saved on this disk); the caller commits."""
    if upload.files_deleted_at is not None:
        return False
    files = [file for file in (upload.report_file, upload.orders_file) if file is not None]
    upload.report_file = upload.orders_file = None
    for file in files:
        storage.delete(file)
    for path in (upload.path, upload.orders_path):
        if path:
            with contextlib.suppress(OSError):
                os.remove(path)
    upload.files_deleted_at = utcnow()
    # The staged transactions go with the file: nothing will be written from them any more.
    db.session.execute(db.delete(ReconTransactionChunk).where(ReconTransactionChunk.import_id == upload.id))
    return True


def delete_job_files(job_id: int) -> bool:
    """Delete the stored files of reconciliation job ``job_id``, if it has any; the caller commits."""
    upload = db.session.execute(db.select(ReconImport).filter_by(job_id=job_id)).scalar_one_or_none()
    return upload is not None and delete_files(upload)


def purge_expired(days: float, limit: int = 100) -> list[int]:
    """Delete the files of jobs that finished more than ``days`` ago, one commit per job; return their ids."""
    cutoff = utcnow() - timedelta(days=days)
    uploads = (
        db.session.execute(
            db.select(ReconImport)
            .join(Job, Job.id == ReconImport.job_id)
            .where(ReconImport.files_deleted_at.is_(None), Job.status.in_(TERMINAL_JOB_STATUSES), Job.finished_at < cutoff)
            .order_by(Job.finished_at)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    purged = []
    for upload in uploads:
        delete_files(upload)
        purged.append(upload.job_id)
        db.session.commit()
    return purged
