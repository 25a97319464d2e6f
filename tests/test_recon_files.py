"""A reconciliation upload's stored files: nothing stored when refused, deleted when discarded,
failed or past UPLOAD_RETENTION_DAYS, kept otherwise."""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage

from tests.forms import csrf_token
from tests.recon_corpus.builders import dr_file, dr_row
from tests.s3_mock import objects
from tests.streams import Broken
from webapp.extensions import db
from webapp.models import Job, JobStatus, ReconImport, StoredFile, StoredFileChunk, utcnow
from webapp.reconciliation import imports as reconcile

# The read message stays in the outbox: these tests run the reading task themselves, or not at all.
pytestmark = pytest.mark.usefixtures("no_relay")

GOOD = dr_file([dr_row(order_id="113-0000001-0000001", state="WA", sku="SKU-A", product_sales="20.00")]).encode()
BAD = dr_file([dr_row(order_id="113-0000004-0000004", product_sales="12.345")]).encode()


def stored_counts() -> tuple[int, int]:
    """(stored files, chunk rows)."""
    files = db.session.execute(db.select(db.func.count()).select_from(StoredFile)).scalar_one()
    return files, db.session.execute(db.select(db.func.count()).select_from(StoredFileChunk)).scalar_one()


def launch(content: bytes, name: str = "report.csv", orders: bytes | None = None) -> int:
    """Launch a reconciliation job from ``content`` (and an orders report); return its id."""
    orders_upload = FileStorage(io.BytesIO(orders), filename="orders.txt") if orders is not None else None
    return reconcile.launch_reconciliation(FileStorage(io.BytesIO(content), filename=name), orders_upload, None).id


def upload_of(job_id: int) -> ReconImport:
    """The upload row of job ``job_id``, read fresh."""
    return db.session.execute(db.select(ReconImport).filter_by(job_id=job_id).execution_options(populate_existing=True)).scalar_one()


def test_an_empty_report_is_refused_and_stores_nothing(app: Flask, client: FlaskClient) -> None:
    """The empty file was streamed into storage before its size was known: the refusal rolls it back."""
    data = {
        "csrf_token": csrf_token(client.get("/").data),
        "file": (io.BytesIO(b""), "empty.csv"),
        "orders": (io.BytesIO(b"x" * 3_000_000), "orders.txt"),
    }
    response = client.post("/jobs/reconciliation", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and "the report file is empty" in response.get_data(as_text=True)
    with app.app_context():
        assert stored_counts() == (0, 0)
        assert db.session.execute(db.select(db.func.count()).select_from(Job)).scalar_one() == 0


def test_an_upload_cut_off_mid_way_stores_nothing(app: Flask) -> None:
    """The orders report fails after 3 MiB, the report stored already: both go with the rollback."""
    with app.test_request_context():
        with pytest.raises(OSError, match="connection reset"):
            reconcile.launch_reconciliation(
                FileStorage(io.BytesIO(GOOD), filename="report.csv"), FileStorage(Broken(3 << 20), filename="orders.txt"), None
            )
        assert stored_counts() == (0, 0)
        assert db.session.execute(db.select(db.func.count()).select_from(Job)).scalar_one() == 0


@pytest.mark.parametrize("case", ["empty report", "orders cut off"])
def test_a_refused_upload_leaves_no_object_in_s3(app: Flask, s3_bucket: object, case: str) -> None:
    """On S3 the object is stored before the refusal: it is deleted, and no row refers to it."""
    report, orders = (b"", None) if case == "empty report" else (GOOD, Broken(9 << 20))
    with app.test_request_context():
        with pytest.raises((reconcile.ReconError, OSError)):
            reconcile.launch_reconciliation(
                FileStorage(io.BytesIO(report), filename="report.csv"), FileStorage(orders, filename="orders.txt") if orders else None, None
            )
        assert objects(s3_bucket) == [] and stored_counts() == (0, 0)


def test_an_accepted_upload_on_s3_is_read_from_a_local_copy(app: Flask, s3_bucket: object) -> None:
    """The report goes to the bucket, the read task copies it back and previews it, the file stays."""
    from tasks.workflows import read_report

    with app.test_request_context():
        job_id = launch(GOOD)
        assert len(objects(s3_bucket)) == 1 and stored_counts() == (1, 0)
        read_report.run(job_id=job_id)
        assert db.session.get(Job, job_id, populate_existing=True).status == JobStatus.AWAITING_CONFIRMATION
        assert upload_of(job_id).preview["states"][0]["state"] == "WA"
        assert len(objects(s3_bucket)) == 1 and upload_of(job_id).files_deleted_at is None


def staged(job_id: int) -> int:
    """How many staged transactions the job's upload has."""
    from webapp.reconciliation.ledger.store import staged_rows

    return staged_rows(upload_of(job_id).id)


def test_discarding_the_preview_deletes_the_files(app: Flask, client: FlaskClient) -> None:
    """The preview's Discard button (a cancel while awaiting confirmation) deletes the report and
    the orders report; the preview stays and the page says when the files went."""
    from tasks.workflows import read_report

    with app.test_request_context():
        job_id = launch(GOOD, orders=b"amazon-order-id\tship-state\n113-0000001-0000001\tWA\n")
        read_report.run(job_id=job_id)
        assert db.session.get(Job, job_id).status == JobStatus.AWAITING_CONFIRMATION
        assert stored_counts() == (2, 2) and staged(job_id) > 0
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Discard" in page and "deleted on" not in page
    assert client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf_token(page)}).status_code == 302
    with app.app_context():
        upload = upload_of(job_id)
        assert (upload.report_file_id, upload.orders_file_id) == (None, None) and upload.files_deleted_at is not None
        assert upload.preview is not None and stored_counts() == (0, 0)
        assert staged(job_id) == 0, "the staged transactions went with the file"
        assert db.session.get(Job, job_id).status == JobStatus.CANCELLED
    assert "The uploaded files were deleted on" in client.get(f"/jobs/{job_id}").get_data(as_text=True)


def test_a_file_read_with_errors_is_deleted(app: Flask) -> None:
    """Read with errors, the job fails and can never be confirmed: its file goes at once."""
    from tasks.workflows import read_report

    with app.test_request_context():
        job_id = launch(BAD)
        read_report.run(job_id=job_id)
        assert db.session.get(Job, job_id, populate_existing=True).status == JobStatus.FAILED
        assert upload_of(job_id).files_deleted_at is not None and stored_counts() == (0, 0)


def test_a_file_that_cannot_be_read_fails_its_job_and_is_deleted(app: Flask) -> None:
    """Chunks missing (an internal error, not the file's fault): the job fails saying so, and the rest goes."""
    from tasks.workflows import read_report

    with app.test_request_context():
        job_id = launch(GOOD)
        db.session.execute(db.delete(StoredFileChunk))
        db.session.commit()
        assert read_report.run(job_id=job_id) == {"job": job_id, "read": False}
        job = db.session.get(Job, job_id, populate_existing=True)
        assert job.status == JobStatus.FAILED and "StoredFileMissing" in job.error
        assert upload_of(job_id).files_deleted_at is not None and stored_counts() == (0, 0)


def test_retention_deletes_only_the_files_of_jobs_finished_long_ago(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """UPLOAD_RETENTION_DAYS after the job ended its file goes; younger, unfinished or
    awaiting-confirmation jobs keep theirs, and a second purge finds nothing."""
    from tasks.workflows import purge_uploads

    monkeypatch.setitem(app.config, "UPLOAD_RETENTION_DAYS", 30)
    now = utcnow()
    cases = {
        "succeeded 31 days ago": (JobStatus.SUCCEEDED, now - timedelta(days=31)),
        "completed with failures 45 days ago": (JobStatus.COMPLETED_WITH_FAILURES, now - timedelta(days=45)),
        "succeeded 29 days ago": (JobStatus.SUCCEEDED, now - timedelta(days=29)),
        "awaiting confirmation for 60 days": (JobStatus.AWAITING_CONFIRMATION, None),
        "running": (JobStatus.RUNNING, None),
    }
    with app.test_request_context():
        ids = {}
        for name, (status, finished_at) in cases.items():
            ids[name] = launch(GOOD, name=f"{name}.csv")
            db.session.execute(
                db.update(Job)
                .where(Job.id == ids[name])
                .values(status=status, finished_at=finished_at, created_at=now - timedelta(days=60))
            )
        db.session.commit()
        assert sorted(purge_uploads.run()) == sorted([ids["succeeded 31 days ago"], ids["completed with failures 45 days ago"]])
        kept = {name for name, job_id in ids.items() if upload_of(job_id).files_deleted_at is None}
        assert kept == {"succeeded 29 days ago", "awaiting confirmation for 60 days", "running"}
        assert stored_counts() == (3, 3)
        assert purge_uploads.run() == []


def test_an_upload_saved_on_disk_before_stored_files_still_reads_and_expires(app: Flask, tmp_path: Path) -> None:
    """A row from before (a path under the old UPLOAD_FOLDER, no stored file) is read from its
    path, and past its retention the file there is deleted."""
    from tasks.workflows import purge_uploads, read_report

    saved = tmp_path / "report"
    saved.write_bytes(GOOD)
    with app.test_request_context():
        job = Job(kind="reconciliation", source="upload", total=0, input_name="old.csv")
        db.session.add(job)
        db.session.flush()
        db.session.add(ReconImport(job_id=job.id, filename="old.csv", path=str(saved), size_bytes=len(GOOD)))
        db.session.commit()
        read_report.run(job_id=job.id)
        assert db.session.get(Job, job.id, populate_existing=True).status == JobStatus.AWAITING_CONFIRMATION
        assert upload_of(job.id).rows_read == 1 and saved.exists()
        db.session.execute(
            db.update(Job).where(Job.id == job.id).values(status=JobStatus.SUCCEEDED, finished_at=utcnow() - timedelta(days=40))
        )
        db.session.commit()
        assert purge_uploads.run() == [job.id]
        assert not saved.exists() and upload_of(job.id).files_deleted_at is not None


def test_an_upload_saved_on_another_machines_disk_fails_saying_so(app: Flask, tmp_path: Path) -> None:
    """A row from before stored files, read by a worker whose machine lacks its path: the job fails
    naming the path and why, not with a bare "no such file"."""
    from tasks.workflows import read_report

    with app.test_request_context():
        job = Job(kind="reconciliation", source="upload", total=0, input_name="old.csv")
        db.session.add(job)
        db.session.flush()
        db.session.add(ReconImport(job_id=job.id, filename="old.csv", path=str(tmp_path / "elsewhere"), size_bytes=len(GOOD)))
        db.session.commit()
        assert read_report.run(job_id=job.id) == {"job": job.id, "read": False}
        job = db.session.get(Job, job.id, populate_existing=True)
        assert job.status == JobStatus.FAILED
        assert f"old.csv was saved at {tmp_path / 'elsewhere'} before uploads were stored" in job.error
