"""Web and workers share no disk: each has its own working directory, UPLOAD_FOLDER and TMPDIR,
as on a platform whose processes run on different machines, and reports still read and confirm."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from devtools.uploads import confirm as press_confirm
from devtools.uploads import post_upload
from devtools.web import gunicorn, logged_in
from devtools.workers import WorkerSet
from tests.forms import csrf_token
from tests.machines import Machine
from tests.recon_corpus.builders import CORPUS, dr_file, dr_row
from tests.recon_jobs import DATE_RANGE, job_id_of, job_in, upload
from webapp.extensions import db
from webapp.models import ReconImport, SalesOrder, StoredFile

LARGE_ROWS = 160_000  # about 45 MB: past the size the reader splits between two processes


@pytest.fixture(scope="module")
def far_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Machine]:
    """A machine of its own for the web process and for the worker."""
    base = tmp_path_factory.mktemp("machines")
    return {name: Machine.make(base / name) for name in ("web", "worker")}


@pytest.fixture(scope="module")
def far_workers(worker_env: dict[str, str], far_dirs: dict[str, Machine], tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerSet]:
    """A prefork worker started in its own directory, with its own UPLOAD_FOLDER and TMPDIR."""
    machine = far_dirs["worker"]
    workers = WorkerSet(machine.env(worker_env), tmp_path_factory.mktemp("far-workers"), cwd=machine.place("cwd"))
    workers.start("far", queues="default,db", pool="prefork", concurrency=2)
    workers.wait_ready()
    yield workers
    workers.stop_all()


@pytest.fixture
def web_elsewhere(app: Flask, far_dirs: dict[str, Machine], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The web side runs in its own directory with its own UPLOAD_FOLDER."""
    monkeypatch.chdir(far_dirs["web"].place("cwd"))
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(far_dirs["web"].place("uploads")))
    return far_dirs["web"].place("cwd")


def large_report() -> bytes:
    """A Date Range report of LARGE_ROWS orders in two states."""
    rows = [
        dr_row(order_id=f"113-{n:07d}-0000001", state="WA" if n % 3 else "CA", sku=f"SKU-{n % 50}", product_sales="10.00")
        for n in range(LARGE_ROWS)
    ]
    return dr_file(rows).encode()


def no_files_left(far_dirs: dict[str, Machine]) -> None:
    """Nothing was saved on either machine, and the worker's temporary copies are gone."""
    assert {name: machine.files() for name, machine in far_dirs.items()} == {"web": [], "worker": []}


def test_a_report_reads_and_confirms_on_a_worker_without_the_web_disk(
    app: Flask, client: FlaskClient, far_workers: WorkerSet, web_elsewhere: Path, far_dirs: dict[str, Machine]
) -> None:
    """Upload on web, read on the worker from the stored bytes, confirm, sales orders written; the
    file is kept (for UPLOAD_RETENTION_DAYS), but no disk holds a copy."""
    status, location = upload(client, DATE_RANGE)
    assert status == 302
    job_id = job_id_of(location)
    job_in(app, job_id, "awaiting_confirmation")
    no_files_left(far_dirs)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Confirm: write 2 sales orders" in page
    client.post(f"/jobs/{job_id}/confirm", data={"csrf_token": csrf_token(page)})
    assert job_in(app, job_id, "succeeded", "completed_with_failures", "failed").status == "succeeded"
    with app.app_context():
        assert sorted(db.session.execute(db.select(SalesOrder.state)).scalars()) == ["CA", "WA"]
        upload_row = db.session.execute(db.select(ReconImport).filter_by(job_id=job_id)).scalar_one()
        assert upload_row.files_deleted_at is None and upload_row.report_file.size_bytes == len(DATE_RANGE)


def test_a_settlement_with_its_orders_report_reads_and_is_discarded(
    app: Flask, client: FlaskClient, far_workers: WorkerSet, web_elsewhere: Path, far_dirs: dict[str, Machine]
) -> None:
    """Both files of a V2 settlement reach the worker; discarding the preview deletes both."""
    status, location = upload(
        client,
        (CORPUS / "settlement-sample.txt").read_bytes(),
        "settlement-sample.txt",
        orders=(CORPUS / "settlement-sample-orders.txt").read_bytes(),
    )
    job_id = job_id_of(location)
    job_in(app, job_id, "awaiting_confirmation")
    with app.app_context():
        upload_row = db.session.execute(db.select(ReconImport).filter_by(job_id=job_id)).scalar_one()
        assert upload_row.ok and upload_row.preview["settlements"][0]["total_amount"] == 58289
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf_token(page)})
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(StoredFile)).scalar_one() == 0
    no_files_left(far_dirs)


def test_a_large_report_through_gunicorn_in_its_own_directory_is_read_on_two_cores_and_confirmed(
    app: Flask, worker_env: dict[str, str], far_workers: WorkerSet, far_dirs: dict[str, Machine], operator: tuple[str, str], tmp_path: Path
) -> None:
    """gunicorn started in the web's directory with its own UPLOAD_FOLDER and TMPDIR takes the form post (over
    10 MiB, with its CSRF token); the worker reads it on two cores from its temporary copy; Confirm writes it."""
    web = far_dirs["web"]
    path = web.place("cwd") / "large.csv"
    path.write_bytes(large_report())
    with gunicorn(web.env(dict(worker_env, COOKIE_SECURE="0")), tmp_path / "gunicorn.log", cwd=web.place("cwd")) as (base, _):
        session = logged_in(base, *operator)
        response = post_upload(session, base, path)
        assert response.status_code == 302, response.text[:500]
        job_id = job_id_of(response.headers["Location"])
        job_in(app, job_id, "awaiting_confirmation", timeout=120)
        path.unlink()
        with app.app_context():
            upload_row = db.session.execute(db.select(ReconImport).filter_by(job_id=job_id)).scalar_one()
            assert (upload_row.rows_read, upload_row.bytes_read) == (LARGE_ROWS, upload_row.size_bytes)
            assert {s["state"]: s["orders"] for s in upload_row.preview["states"]} == {"WA": 106_666, "CA": 53_334}
        no_files_left(far_dirs)
        assert press_confirm(session, base, job_id).status_code == 302
        assert job_in(app, job_id, "succeeded", "completed_with_failures", "failed", timeout=120).status == "succeeded"
    with app.app_context():
        assert sorted(db.session.execute(db.select(SalesOrder.state)).scalars()) == ["CA", "WA"]
