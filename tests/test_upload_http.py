"""A 200 MB Date Range report through gunicorn, as an operator's browser sends it: log in, post the
dashboard form with its CSRF token, wait for the preview, confirm, and find the ERP sales orders;
the web process's memory stays flat while it receives the file."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from devtools.memory import PeakRss
from devtools.uploads import MultipartFile, confirm, post_upload
from devtools.waiting import wait_for
from devtools.web import gunicorn, logged_in
from devtools.workers import WorkerSet
from tests.recon_corpus.builders import date_range_report
from webapp.extensions import db
from webapp.models import Job, ReconImport, SalesOrder

ROWS = 575_000  # ~200 MB
WEB_GROWTH_LIMIT = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated Date Range report of about 200 MB."""
    path = date_range_report(tmp_path_factory.mktemp("http-upload") / "date-range-200mb.csv", ROWS, seed=5)
    assert path.stat().st_size > 200_000_000
    return path


@pytest.fixture(scope="module")
def workers(worker_env: dict[str, str], live_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerSet]:
    """The Procfile's database worker, with time limits long enough to read 200 MB on a busy machine
    (the suite's 15 s limit is for short steps)."""
    env = dict(worker_env, TASK_TIME_LIMIT="600", TASK_SOFT_TIME_LIMIT="550", BROKER_VISIBILITY_TIMEOUT="900")
    workers = WorkerSet(env, tmp_path_factory.mktemp("http-workers"))
    workers.start("db", queues="default,db", pool="prefork", concurrency=2)
    workers.wait_ready()
    yield workers
    workers.stop_all()


def job_status(app: Flask, job_id: int) -> str:
    """The job's status now."""
    with app.app_context():
        return db.session.get(Job, job_id).status


def test_a_200_mb_report_through_gunicorn(app: Flask, worker_env: dict[str, str], workers: WorkerSet,
                                          operator: tuple[str, str], report: Path, tmp_path: Path) -> None:
    """Upload → preview → confirm → sales orders, over HTTP; gunicorn grows by less than 100 MB meanwhile."""
    env = dict(worker_env, COOKIE_SECURE="0", UPLOAD_FOLDER=str(tmp_path / "uploads"), WEB_CONCURRENCY="1")
    with gunicorn(env, tmp_path / "gunicorn.log") as (base, process):
        session = logged_in(base, *operator)
        session.get(f"{base}/", timeout=30)  # the dashboard rendered once: templates and queries warm
        sampler = PeakRss(process.pid)
        idle = sampler.now()
        sampler.start()
        try:
            response = post_upload(session, base, report)
        finally:
            peak = sampler.stop()
        assert response.status_code == 302, response.text[:1000]
        job_id = int(re.fullmatch(r"/jobs/(\d+)", response.headers["Location"]).group(1))
        growth = peak - idle
        print(f"gunicorn: idle {idle / 1e6:.0f} MB, peak {peak / 1e6:.0f} MB during the upload")
        assert growth < WEB_GROWTH_LIMIT, f"gunicorn grew by {growth / 1e6:.0f} MB (idle {idle / 1e6:.0f} MB)"

        wait_for(lambda: job_status(app, job_id) in ("awaiting_confirmation", "failed"), timeout=600, interval=0.5,
                 message="the preview")
        with app.app_context():
            upload = db.session.execute(db.select(ReconImport).filter_by(job_id=job_id)).scalar_one()
            assert (job_status(app, job_id), upload.size_bytes, upload.ok) == ("awaiting_confirmation", report.stat().st_size, True)
            orders = len(upload.preview["orders"])

        assert confirm(session, base, job_id).status_code == 302
        wait_for(lambda: job_status(app, job_id) in ("succeeded", "failed", "completed_with_failures"), timeout=600,
                 interval=0.5, message="the sales orders")
    assert job_status(app, job_id) == "succeeded"
    with app.app_context():
        assert orders > 0
        assert db.session.execute(db.select(db.func.count()).select_from(SalesOrder)).scalar_one() == orders


def test_a_200_mb_report_through_the_api(app: Flask, worker_env: dict[str, str], workers: WorkerSet,
                                         api_token: str, report: Path, tmp_path: Path) -> None:
    """The same report as a script sends it: POST /api/jobs with a bearer token, poll the preview, confirm."""
    with gunicorn(dict(worker_env, WEB_CONCURRENCY="1"), tmp_path / "gunicorn.log") as (base, _):
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {api_token}"
        body = MultipartFile({"kind": "reconciliation"}, "file", report)
        response = api.post(f"{base}/api/jobs", data=body, headers={"Content-Type": body.content_type}, timeout=1800)
        assert response.status_code == 202, response.text[:1000]
        job_id = response.json()["id"]

        def preview() -> dict | None:
            job = api.get(f"{base}/api/jobs/{job_id}", timeout=30).json()
            return job if job["status"] in ("awaiting_confirmation", "failed", "succeeded") else None

        job = wait_for(preview, timeout=600, interval=0.5, message="the preview")
        assert job["status"] == "awaiting_confirmation", job.get("error")
        orders = job["reconciliation"]["orders"]
        assert orders and all(order["new"]["rows"] == order["rows"] for order in orders), "a new settlement: all new"
        assert job["reconciliation"]["bytes_read"] == report.stat().st_size
        assert api.post(f"{base}/api/jobs/{job_id}/confirm", timeout=60).status_code == 202
        wait_for(lambda: job_status(app, job_id) in ("succeeded", "failed", "completed_with_failures"), timeout=600,
                 interval=0.5, message="the sales orders")
    assert job_status(app, job_id) == "succeeded"
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(SalesOrder)).scalar_one() == len(orders)
