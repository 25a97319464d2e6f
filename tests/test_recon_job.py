"""The reconciliation job end to end: upload, read in a worker, preview, confirm, one sales order per state."""

import hashlib
import io
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from devtools.workers import WorkerSet
from tests.forms import csrf_token
from tests.recon_corpus.builders import CORPUS, dr_file, dr_row
from tests.recon_jobs import DATE_RANGE, job_id_of, job_in, upload
from webapp.extensions import db
from webapp.models import Job, JobRecord, ReconImport, SalesOrder, SalesOrderLine

# Its worker tests run on Redis and on RabbitMQ (tests/conftest.py).
pytestmark = pytest.mark.both_brokers


def test_date_range_preview_confirm_and_idempotent_reimport(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """Preview shows totals per state; confirm writes one sales order per state; the same file again changes nothing."""
    status, location = upload(client, DATE_RANGE)
    assert status == 302
    job_id = job_id_of(location)
    job_in(app, job_id, "awaiting_confirmation")
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(SalesOrder)).scalar_one() == 0, "nothing before confirm"
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Confirm: write 2 sales orders" in page
    assert '<td>WA</td><td class="num">2</td>' in page
    assert "25.50" in page and "10.00" in page
    assert client.post(f"/jobs/{job_id}/confirm", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert job_in(app, job_id, "succeeded", "completed_with_failures", "failed").status == "succeeded"
    with app.app_context():
        orders = {o.state: o for o in db.session.execute(db.select(SalesOrder)).scalars()}
        assert sorted(orders) == ["CA", "WA"]
        wa_lines = db.session.execute(
            db.select(SalesOrderLine.line_type, SalesOrderLine.code, SalesOrderLine.quantity, SalesOrderLine.amount_cents)
            .where(SalesOrderLine.sales_order_id == orders["WA"].id)
            .order_by(SalesOrderLine.line_no)
        ).all()
    assert [tuple(line) for line in wa_lines] == [("sku", "SKU-A", 2, 2000), ("sku", "SKU-B", 1, 550), ("tax", "product_tax", 0, 255)]

    status, location = upload(client, DATE_RANGE, name="same-again.csv")
    again = job_id_of(location)
    assert job_in(app, again, "succeeded", "awaiting_confirmation", "failed").status == "succeeded", "nothing to confirm"
    with app.app_context():  # the reader's hash, from its one pass over the file
        hashes = db.session.execute(db.select(ReconImport.sha256).where(ReconImport.job_id.in_([job_id, again]))).scalars().all()
    assert hashes == [hashlib.sha256(DATE_RANGE).hexdigest()] * 2
    page = client.get(f"/jobs/{again}").get_data(as_text=True)
    assert "Already imported on" in page and "by olga" in page
    assert f'Nothing to write: every transaction is already in the ERP (job <a href="/jobs/{job_id}">#{job_id}</a>)' in page
    assert "Confirm: write" not in page
    assert client.post(f"/jobs/{again}/confirm", data={"csrf_token": csrf_token(page)}).status_code == 302
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(SalesOrder)).scalar_one() == 2
        assert db.session.execute(db.select(db.func.count()).select_from(SalesOrderLine)).scalar_one() == 5


def test_a_read_message_sent_again_after_confirm_reads_nothing(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """A file read and confirmed, its job queued for the writes: read_report delivered again (a
    redelivery, or the sweeper re-sending the queued job's messages) leaves the job as it is."""
    from tasks.workflows import read_report

    status, location = upload(client, DATE_RANGE, name="read-once.csv")
    job_id = job_id_of(location)
    job_in(app, job_id, "awaiting_confirmation")
    with app.app_context():  # what confirm() commits, without sending the dispatch to the workers
        db.session.execute(db.update(Job).where(Job.id == job_id).values(status="queued"))
        db.session.execute(db.update(ReconImport).where(ReconImport.job_id == job_id).values(confirmed_at=db.func.now()))
        db.session.commit()
    with app.app_context():
        assert read_report.run(job_id=job_id) == {"job": job_id, "read": False}
    assert job_in(app, job_id, "queued", timeout=1).status == "queued"


def test_settlement_v2_with_orders_report(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """The shared V2 sample with its orders report reads without errors and can be confirmed."""
    status, location = upload(
        client,
        (CORPUS / "settlement-sample.txt").read_bytes(),
        "settlement-sample.txt",
        orders=(CORPUS / "settlement-sample-orders.txt").read_bytes(),
    )
    assert status == 302
    job_id = job_id_of(location)
    job_in(app, job_id, "awaiting_confirmation")
    with app.app_context():
        upload_row = db.session.execute(db.select(ReconImport).filter_by(job_id=job_id)).scalar_one()
        assert upload_row.ok and upload_row.report_kind == "settlement_v2"
        assert upload_row.preview["settlements"][0]["total_amount"] == 58289


def test_legacy_v1_and_bad_rows_are_refused_with_lines(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """A V1 file and a file with a bad amount fail in the preview with the line named; the ERP stays empty."""
    status, location = upload(client, (CORPUS / "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE.csv").read_bytes(), "v1.csv")
    v1 = job_in(app, job_id_of(location), "failed")
    assert "nothing was written" in v1.error
    assert "V1" in v1.error or "legacy" in v1.error.lower()
    bad = dr_file([dr_row(order_id="113-0000004-0000004", product_sales="12.345")]).encode()
    status, location = upload(client, bad, "bad.csv")
    job = job_in(app, job_id_of(location), "failed")
    assert "line 9" in job.error and "12.345" in job.error
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "this file cannot be confirmed" in page and "Confirm:" not in page
    assert client.post(f"/jobs/{job.id}/confirm", data={"csrf_token": csrf_token(page)}).status_code == 302
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(SalesOrder)).scalar_one() == 0
        assert db.session.execute(db.select(db.func.count()).select_from(JobRecord)).scalar_one() == 0


def test_missing_or_wrong_upload_is_a_400(app: Flask, client: FlaskClient) -> None:
    """No file, or a spreadsheet, gets a 400 with the problem in words and no job."""
    data = {"csrf_token": csrf_token(client.get("/").data)}
    response = client.post("/jobs/reconciliation", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and "choose the settlement or Date Range report" in response.get_data(as_text=True)
    status, body = upload(client, b"PK\x03\x04", "report.xlsx")
    assert status == 400 and "is not a report file" in body
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(Job)).scalar_one() == 0


def test_the_upload_request_stores_the_file_without_hashing_it(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request only stores the file: its hash comes from the reader's one pass, so a million-row
    upload is not read twice on the way to its preview. Until then nothing counts as imported before."""
    from werkzeug.datastructures import FileStorage

    from webapp import storage
    from webapp.jobs import outbox
    from webapp.reconciliation import imports as reconcile

    monkeypatch.setattr(outbox, "relay_quietly", lambda ids: None)  # the read stays in the outbox: no worker reads it
    with app.test_request_context():
        job = reconcile.launch_reconciliation(FileStorage(io.BytesIO(DATE_RANGE), filename="unread.csv"), None, None)
        upload = db.session.execute(db.select(ReconImport).filter_by(job_id=job.id)).scalar_one()
        assert (upload.size_bytes, upload.sha256) == (len(DATE_RANGE), None)
        assert upload.path is None and upload.report_file.size_bytes == len(DATE_RANGE)
        with storage.local_copy(upload.report_file) as path:
            assert Path(path).read_bytes() == DATE_RANGE
        assert reconcile.earlier_import(upload) is None
