"""Uploads stored where every process reads them: chunk rows in the database, or an S3 bucket.

Web and workers may run on different machines with throw-away disks, so a file the web request
received is never left on its disk for a worker. Bytes move in chunks both ways: a 1 GiB report
never sits in memory. The database is the default; ``UPLOAD_S3_BUCKET`` selects S3 for new files
(each row says where its bytes are, so files stored before a switch stay readable).
"""

import contextlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from flask import current_app

from webapp.extensions import db
from webapp.models import StoredFile
from webapp.reconciliation.reader.two_cores.halves import STAGED_PREFIX
from webapp.storage import database, s3

DATABASE, S3 = "database", "s3"
COPY_PREFIX = "celeriac-upload-"
STALE_COPY_SECONDS = 24 * 3600  # no read lasts this long (TASK_TIME_LIMIT stops it well before)
# What a read leaves in TMPDIR when its worker is killed: the copy, and the two-core reader's staged rows.
LEFTOVER_PREFIXES = (COPY_PREFIX, STAGED_PREFIX)


class StoredFileMissing(Exception):
    """The stored bytes are not all there (deleted meanwhile): the file cannot be read."""


def store(stream: BinaryIO, name: str) -> StoredFile:
    """Store ``stream`` read to its end; return its row, flushed. The caller commits.

    On the database backend the bytes belong to the caller's transaction, so a rollback stores
    nothing. On S3 the object exists at once: a caller that gives up calls ``discard``.
    """
    bucket = current_app.config.get("UPLOAD_S3_BUCKET")
    file = StoredFile(name=name[:255], backend=S3 if bucket else DATABASE, size_bytes=0)
    db.session.add(file)
    db.session.flush()
    if not bucket:
        file.size_bytes = database.put(stream, file.id)
        db.session.flush()
        return file
    file.bucket, file.object_key = bucket, s3.new_key(current_app.config.get("UPLOAD_S3_PREFIX", ""))
    try:
        file.size_bytes = s3.put(stream, file.bucket, file.object_key)
        db.session.flush()
    except BaseException:
        with contextlib.suppress(Exception):  # the caller never sees this file, so it cannot discard it
            s3.delete(file.bucket, file.object_key)
        raise
    return file


def discard(files: Iterable[StoredFile]) -> None:
    """Remove the S3 objects of files the caller rolls back (database chunks go with its rollback)."""
    for file in files:
        if file.backend == S3 and file.bucket and file.object_key:
            s3.delete(file.bucket, file.object_key)


def delete(file: StoredFile) -> None:
    """Delete the file's bytes and its row. The caller commits; an S3 object is gone at once."""
    if file.backend == S3:
        if file.bucket and file.object_key:
            s3.delete(file.bucket, file.object_key)
    else:
        database.delete(file.id)
    db.session.delete(file)


def copy_to_temp(file: StoredFile) -> str:
    """Copy the file to a new temporary file on this machine (in TMPDIR); return its path. The caller deletes it."""
    remove_stale_copies()
    fd, path = tempfile.mkstemp(prefix=f"{COPY_PREFIX}{file.id}-")
    try:
        with os.fdopen(fd, "wb") as out:
            if file.backend == S3:
                with contextlib.suppress(FileNotFoundError):  # reported below as bytes missing
                    s3.get(file.bucket or "", file.object_key or "", out)
            else:
                database.get(file.id, out, file.size_bytes)
            out.flush()
            copied = os.fstat(out.fileno()).st_size  # S3's threads write at offsets: the position is not the size
        if copied != file.size_bytes:
            raise StoredFileMissing(f"stored file #{file.id} ({file.name}) has {copied:,} of its {file.size_bytes:,} bytes")
    except BaseException:
        os.remove(path)
        raise
    return path


@contextlib.contextmanager
def local_copy(file: StoredFile) -> Iterator[str]:
    """The path of a temporary local copy of the file, deleted when the block ends however it ends."""
    path = copy_to_temp(file)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def remove_stale_copies() -> list[str]:
    """Delete copies (and staged rows) a killed worker left in TMPDIR (its ``finally`` never ran); return their names."""
    folder, cutoff = tempfile.gettempdir(), time.time() - STALE_COPY_SECONDS
    removed = []
    for entry in os.scandir(folder):
        if entry.name.startswith(LEFTOVER_PREFIXES) and entry.is_file() and entry.stat().st_mtime < cutoff:
            with contextlib.suppress(OSError):
                os.remove(entry.path)
                removed.append(entry.name)
    return removed
