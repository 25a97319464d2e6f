"""The upload store: files in and out in chunks, on the database (SQLite or PostgreSQL) and on S3 (moto)."""

import io
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest
from flask import Flask

from tests.s3_mock import BUCKET, objects
from tests.streams import Broken, Generated, Trickle
from webapp import storage
from webapp.extensions import db
from webapp.models import StoredFile, StoredFileChunk
from webapp.storage import database

MiB = 1 << 20


def payload(size: int) -> bytes:
    """``size`` bytes that differ from chunk to chunk, so a chunk out of order shows."""
    block = bytes(range(256)) * 4096
    return b"".join(i.to_bytes(4, "big") + block for i in range(size // len(block) + 1))[:size]


def count(model: type) -> int:
    """Rows of ``model``."""
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def read_back(file: StoredFile) -> bytes:
    """The stored bytes, through a temporary local copy."""
    with storage.local_copy(file) as path:
        return Path(path).read_bytes()


def test_database_round_trip_of_a_multi_chunk_file(app: Flask) -> None:
    """3.5 MiB arrive in trickles; they are stored as 4 chunk rows and read back byte for byte."""
    data = payload(3 * MiB + MiB // 2)
    with app.app_context():
        file = storage.store(Trickle(data, 100_000), "report.csv")
        db.session.commit()
        assert (file.backend, file.size_bytes, file.name) == ("database", len(data), "report.csv")
        sizes = (
            db.session.execute(
                db.select(db.func.length(StoredFileChunk.data)).where(StoredFileChunk.file_id == file.id).order_by(StoredFileChunk.seq)
            )
            .scalars()
            .all()
        )
        assert sizes == [MiB, MiB, MiB, MiB // 2]
        assert read_back(db.session.get(StoredFile, file.id)) == data


def test_the_temporary_copy_is_deleted_after_use(app: Flask) -> None:
    """The local copy lives in TMPDIR only while the block runs, even when the block fails."""
    with app.app_context():
        file = storage.store(io.BytesIO(b"a,b\n1,2\n"), "small.csv")
        with pytest.raises(RuntimeError), storage.local_copy(file) as path:
            assert Path(path).read_bytes() == b"a,b\n1,2\n"
            raise RuntimeError("the reader failed")
        assert not os.path.exists(path)


def test_delete_removes_the_row_and_every_chunk(app: Flask) -> None:
    """A deleted file leaves no chunk behind; another file is untouched."""
    with app.app_context():
        gone, kept = storage.store(io.BytesIO(payload(2 * MiB + 1)), "gone.csv"), storage.store(io.BytesIO(b"kept"), "kept.csv")
        db.session.commit()
        storage.delete(gone)
        db.session.commit()
        assert count(StoredFile) == 1 and count(StoredFileChunk) == 1
        assert read_back(kept) == b"kept"


def test_a_file_missing_chunks_is_not_read_as_complete(app: Flask) -> None:
    """A chunk gone (a delete racing a read) raises instead of handing the reader a shorter file."""
    with app.app_context():
        file = storage.store(io.BytesIO(payload(3 * MiB)), "cut.csv")
        db.session.execute(db.delete(StoredFileChunk).where(StoredFileChunk.file_id == file.id, StoredFileChunk.seq == 1))
        with pytest.raises(storage.StoredFileMissing, match="1,048,576 of its 3,145,728 bytes"):
            storage.copy_to_temp(file)


def test_a_large_file_is_copied_in_order_by_several_connections(app: Flask) -> None:
    """13.5 MiB, more chunks than one fetch holds: on PostgreSQL fetched by FETCH_THREADS connections at
    once, each writing its chunks at their offsets; the copy is byte for byte the file."""
    data = payload(13 * MiB + MiB // 2)
    with app.app_context():
        file = storage.store(io.BytesIO(data), "large.csv")
        db.session.commit()
        assert read_back(db.session.get(StoredFile, file.id)) == data


def test_a_large_file_missing_a_chunk_is_not_read_as_complete(app: Flask) -> None:
    """A chunk gone from the middle of a large file (committed, as a delete racing a read) raises, however it was fetched."""
    with app.app_context():
        file = storage.store(io.BytesIO(payload(13 * MiB)), "cut.csv")
        db.session.commit()
        db.session.execute(db.delete(StoredFileChunk).where(StoredFileChunk.file_id == file.id, StoredFileChunk.seq == 6))
        db.session.commit()
        with pytest.raises(storage.StoredFileMissing, match="of its 13,631,488 bytes"):
            storage.copy_to_temp(db.session.get(StoredFile, file.id))


def test_a_rollback_stores_nothing(app: Flask) -> None:
    """The chunks are written in the caller's transaction: rolled back, nothing is left."""
    with app.app_context():
        storage.store(io.BytesIO(payload(2 * MiB)), "refused.csv")
        db.session.rollback()
        assert count(StoredFile) == 0 and count(StoredFileChunk) == 0


def test_memory_stays_flat_storing_and_reading_a_large_file(app: Flask) -> None:
    """64 MiB in and out: Python never holds more than a chunk (storing) or two batches of chunks (reading)."""
    with app.app_context():
        tracemalloc.start()
        try:
            file = storage.store(Generated(64 * MiB), "big.csv")
            db.session.commit()
            _, stored_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            with storage.local_copy(file) as path:
                assert os.path.getsize(path) == 64 * MiB
            _, read_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert stored_peak < 4 * MiB, f"storing peaked at {stored_peak / MiB:.1f} MiB"
    assert read_peak < (2 * database.CHUNKS_PER_READ + 2) * MiB, f"reading peaked at {read_peak / MiB:.1f} MiB"


def test_s3_round_trip_in_parts_and_delete(app: Flask, s3_bucket: object) -> None:
    """With UPLOAD_S3_BUCKET set a 20 MiB file goes up as a multipart object under the prefix, comes
    back whole, and is gone from the bucket once deleted; no chunk rows are written."""
    data = payload(20 * MiB + 7)
    file = storage.store(Trickle(data, 1 << 16), "big.csv")
    db.session.commit()
    assert (file.backend, file.bucket, file.size_bytes) == ("s3", BUCKET, len(data))
    assert objects(s3_bucket) == [file.object_key] and file.object_key.startswith("reports/")
    head = s3_bucket.head_object(Bucket=BUCKET, Key=file.object_key)  # type: ignore[attr-defined]
    assert head["ContentLength"] == len(data) and "-" in head["ETag"], "a multipart upload's ETag ends in -<parts>"
    assert count(StoredFileChunk) == 0
    assert read_back(file) == data
    storage.delete(file)
    db.session.commit()
    assert objects(s3_bucket) == [] and count(StoredFile) == 0


def test_s3_discard_removes_the_object_of_a_refused_file(app: Flask, s3_bucket: object) -> None:
    """An S3 object is not part of the transaction: ``discard`` removes it, the rollback the row."""
    file = storage.store(io.BytesIO(b"a,b\n"), "refused.csv")
    assert objects(s3_bucket) == [file.object_key]
    storage.discard([file])
    db.session.rollback()
    assert objects(s3_bucket) == [] and count(StoredFile) == 0


def test_s3_upload_cut_off_leaves_no_object_or_part(app: Flask, s3_bucket: object) -> None:
    """A stream failing after two parts' worth: boto3 aborts the multipart upload, so no parts stay billed."""
    with pytest.raises(OSError, match="connection reset"):
        storage.store(Broken(17 * MiB), "cut.csv")
    db.session.rollback()
    assert objects(s3_bucket) == []
    assert s3_bucket.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []  # type: ignore[attr-defined]


def test_s3_file_deleted_meanwhile_is_missing(app: Flask, s3_bucket: object) -> None:
    """An object deleted behind the row's back reads as missing, not as an empty file."""
    file = storage.store(io.BytesIO(b"a,b\n"), "gone.csv")
    s3_bucket.delete_object(Bucket=BUCKET, Key=file.object_key)  # type: ignore[attr-defined]
    with pytest.raises(storage.StoredFileMissing):
        storage.copy_to_temp(file)


def test_copies_left_by_a_killed_worker_are_removed_later(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy or staged rows older than a day in TMPDIR are a killed worker's leftovers: the next copy
    removes them, and leaves a recent one (another read in progress) and other programs' files alone."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale, recent, other = tmp_path / f"{storage.COPY_PREFIX}7-old", tmp_path / f"{storage.COPY_PREFIX}8-now", tmp_path / "other-old"
    staged = tmp_path / f"{storage.STAGED_PREFIX}old.pickle"
    for path in (stale, recent, other, staged):
        path.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    os.utime(staged, (two_days_ago, two_days_ago))
    os.utime(other, (two_days_ago, two_days_ago))
    with app.app_context():
        file = storage.store(io.BytesIO(b"a,b\n"), "report.csv")
        with storage.local_copy(file) as path:
            assert os.path.dirname(path) == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([recent.name, other.name])


def test_s3_object_of_a_row_that_cannot_be_written_is_deleted(app: Flask, s3_bucket: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The object is up but its row's update fails (the database went away): the caller never gets
    the file to discard, so ``store`` deletes the object itself."""
    real_flush, calls = db.session.flush, []

    def flush_fails_after_upload() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("database connection lost")
        real_flush()

    monkeypatch.setattr(db.session, "flush", flush_fails_after_upload)
    with pytest.raises(OSError, match="database connection lost"):
        storage.store(io.BytesIO(b"a,b\n"), "orphan.csv")
    assert len(calls) == 2 and objects(s3_bucket) == []
