"""Beat purges expired uploads as it starts, not only an hour later: a beat restarted more often
than hourly (deploys, a throw-away disk losing its schedule file) still deletes them."""

import io
from datetime import timedelta

from flask import Flask
from werkzeug.datastructures import FileStorage

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.recon_corpus.builders import dr_file, dr_row
from webapp.extensions import db
from webapp.models import Job, JobStatus, OutboxMessage, ReconImport, utcnow
from webapp.reconciliation import imports as reconcile

REPORT = dr_file([dr_row(order_id="113-0000001-0000001", state="WA", sku="SKU-A", product_sales="20.00")]).encode()


def expired_upload(app: Flask) -> int:
    """A reconciliation job that succeeded 40 days ago, its upload still stored; its id."""
    with app.test_request_context():
        job_id = reconcile.launch_reconciliation(FileStorage(io.BytesIO(REPORT), filename="old.csv"), None, None).id
        db.session.execute(db.delete(OutboxMessage))  # its read is not what this test is about
        db.session.execute(
            db.update(Job).where(Job.id == job_id).values(status=JobStatus.SUCCEEDED, finished_at=utcnow() - timedelta(days=40))
        )
        db.session.commit()
    return job_id


def files_deleted(app: Flask, job_id: int) -> bool:
    """True once the job's upload has been purged."""
    with app.app_context():
        deleted = db.session.execute(db.select(ReconImport.files_deleted_at).where(ReconImport.job_id == job_id)).scalar_one()
        db.session.rollback()
    return deleted is not None


def test_beat_purges_expired_uploads_as_it_starts(app: Flask, own_workers: WorkerSet) -> None:
    job_id = expired_upload(app)
    assert app.config["UPLOAD_RETENTION_DAYS"] < 40 and not files_deleted(app, job_id)
    own_workers.start("db", queues="default,db", pool="prefork", concurrency=1)
    own_workers.wait_ready()
    own_workers.start_beat()  # a fresh schedule file: its hourly purge is an hour away
    wait_for(lambda: files_deleted(app, job_id), timeout=60, interval=0.2, message="the purge beat sends as it starts")
