"""Cancel, retry failed, re-run, download and the audit trail, against real workers."""

import csv
import io
import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.chaos import set_chaos
from tests.forms import csrf_token, post
from tests.jobs import finished_job, make_job, start
from webapp.extensions import db
from webapp.models import AuditEvent, Job, JobRecord, JobStateCount, PurchaseOrder, TaskRun, locked_job

# Its worker tests run on Redis and on RabbitMQ (tests/conftest.py).
pytestmark = pytest.mark.both_brokers

KEYS = [f"PO-{n}" for n in range(101200, 101260)]


def count(app: Flask, model: type, *where: object) -> int:
    """Rows of ``model`` matching ``where``."""
    with app.app_context():
        return db.session.execute(db.select(db.func.count()).select_from(model).where(*where)).scalar_one()


def test_cancel_stops_every_write_after_it_is_acknowledged(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """After the cancel returns, not one more PO is written; the job ends cancelled with its counts."""
    set_chaos(app, latency_ms=300)
    job_id = start(app, KEYS)
    wait_for(lambda: count(app, PurchaseOrder) >= 3, timeout=60, message="a few POs written")
    assert post(client, f"/jobs/{job_id}/cancel") == 302
    written_at_cancel = count(app, PurchaseOrder)
    job = finished_job(app, job_id)
    set_chaos(app)
    assert job.status == "cancelled"
    assert job.cancelled_by == "olga"
    assert count(app, PurchaseOrder) == written_at_cancel
    succeeded = count(app, JobRecord, JobRecord.job_id == job_id, JobRecord.state == "succeeded")
    cancelled = count(app, JobRecord, JobRecord.job_id == job_id, JobRecord.state == "cancelled")
    assert succeeded == written_at_cancel
    assert succeeded + cancelled == len(KEYS)
    assert cancelled > 0
    summary = client.get(f"/jobs/{job_id}/summary").get_data(as_text=True)
    assert f'data-state="cancelled">{cancelled}<' in summary


def test_retry_failed_reruns_only_the_failed_records(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """Three missing POs fail; once the ERP has them, retry-failed runs just those three and finalize once more."""
    keys = KEYS[:12]
    set_chaos(app, missing_keys=",".join(keys[:3]))
    job_id = start(app, keys)
    assert finished_job(app, job_id).status == "completed_with_failures"
    set_chaos(app)
    with app.app_context():
        runs_before = dict(
            db.session.execute(
                db.select(TaskRun.record_id, db.func.count()).where(TaskRun.job_id == job_id).group_by(TaskRun.record_id)
            ).all()
        )
    assert post(client, f"/jobs/{job_id}/retry-failed") == 302
    job = finished_job(app, job_id)
    assert job.status == "succeeded"
    assert job.finalized_count == 2
    assert count(app, PurchaseOrder) == 12
    with app.app_context():
        runs_after = dict(
            db.session.execute(
                db.select(TaskRun.record_id, db.func.count()).where(TaskRun.job_id == job_id).group_by(TaskRun.record_id)
            ).all()
        )
        retried = db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job_id, JobRecord.key.in_(keys[:3]))).scalars().all()
    changed = {record for record, runs in runs_after.items() if record is not None and runs != runs_before.get(record)}
    assert changed == set(retried), "only the failed records ran again"
    page = client.get(f"/jobs/{job_id}/records/{retried[0]}").get_data(as_text=True)
    assert "FAILURE" in page and "SUCCESS" in page, "the attempt history of the failed try stays visible"
    assert "Errors on the way (1)" in page and "was not found" in page
    history = "succeeded on retry 1 (first run: 3 failed)"
    assert history in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert history in client.get("/").get_data(as_text=True)
    rows = client.get(f"/jobs/{job_id}/rows?state=succeeded").get_data(as_text=True)
    assert rows.count("succeeded after 1 error; last: ") == 3
    assert rows.count("success after 2 tries</td>") == 3, "the fetch failed once, then succeeded on the retry"


def test_rerun_download_and_audit(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """Re-run starts a new job from the stored input; the CSV lists outcomes; the audit trail has every action."""
    token = csrf_token(client.get("/").data)
    upload = {"csrf_token": token, "file": (io.BytesIO(b"po_number\nPO-101300\nPO-101301\n"), "two.csv")}
    response = client.post("/jobs/purchase-orders", data=upload, content_type="multipart/form-data")
    first = int(response.headers["Location"].rsplit("/", 1)[-1])
    assert finished_job(app, first).status == "succeeded"
    assert post(client, f"/jobs/{first}/rerun") == 302
    with app.app_context():
        second = db.session.execute(db.select(Job.id).where(Job.rerun_of_id == first)).scalar_one()
    rerun = finished_job(app, second)
    assert (rerun.status, rerun.total, rerun.input_name) == ("succeeded", 2, "two.csv")
    assert count(app, PurchaseOrder) == 2, "the re-run wrote nothing twice"
    body = client.get(f"/jobs/{second}/records.csv")
    rows = list(csv.DictReader(io.StringIO(body.get_data(as_text=True))))
    assert body.headers["Content-Disposition"] == f'attachment; filename="job-{second}-records.csv"'
    assert [(r["key"], r["state"]) for r in rows] == [("PO-101300", "succeeded"), ("PO-101301", "succeeded")]
    assert all(r["attempts"] == "1" and r["erp_ref"] for r in rows), "one attempt of each record's current step, as on the page"
    page = client.get(f"/jobs/{second}").get_data(as_text=True)
    assert f'<dd class="rerun-of"><a href="/jobs/{first}">job #{first}</a>' in page
    assert post(client, f"/jobs/{second}/cancel") == 302  # refused: nothing to cancel
    with app.app_context():
        events = db.session.execute(db.select(AuditEvent.actor, AuditEvent.action, AuditEvent.job_id).order_by(AuditEvent.id)).all()
    assert [tuple(e) for e in events] == [("olga", "launch", first), ("olga", "launch", second)]
    audit_page = client.get("/audit").get_data(as_text=True)
    assert f"re-run of job #{first}" in audit_page


def test_actions_through_the_api(app: Flask, api_token: str, workers: WorkerSet) -> None:
    """The API cancels, refuses what does not apply with 409, and lists the audit trail."""
    headers = {"Authorization": f"Bearer {api_token}"}
    client = app.test_client()
    set_chaos(app, latency_ms=300)
    job_id = start(app, KEYS[:20])
    response = client.post(f"/api/jobs/{job_id}/cancel", headers=headers)
    set_chaos(app)
    assert response.status_code == 200
    assert finished_job(app, job_id).status == "cancelled"
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=headers).status_code == 409
    assert client.post(f"/api/jobs/{job_id}/retry-failed", headers=headers).status_code == 409
    events = client.get(f"/api/audit?job={job_id}", headers=headers).get_json()["events"]
    assert [(e["action"], e["actor"]) for e in events] == [("cancel", "olga"), ("launch", "system")]
    export = client.get(f"/api/jobs/{job_id}/records.csv", headers=headers)
    assert export.status_code == 200 and export.mimetype == "text/csv"


def test_schedule_and_sandbox_changes_are_audited(app: Flask, client: FlaskClient) -> None:
    """Creating and pausing a schedule and saving sandbox settings each leave an audit event."""
    token = csrf_token(client.get("/").data)
    created = client.post("/schedules/", data={"csrf_token": token, "name": "nightly", "job_kind": "pull_pending_pos", "cron": "0 2 * * *"})
    assert created.status_code == 302
    with app.app_context():
        from webapp.models import Schedule

        schedule_id = db.session.execute(db.select(Schedule.id)).scalar_one()
    assert client.post(f"/schedules/{schedule_id}/pause", data={"csrf_token": token}).status_code == 302
    saved = client.post(
        "/sandbox/settings",
        data={
            "csrf_token": token,
            "latency_ms": "5",
            "error_rate": "0",
            "timeout_rate": "0",
            "throttle_rate": "0",
            "retry_after_s": "1",
            "missing_keys": "",
        },
    )
    assert saved.status_code == 302
    with app.app_context():
        events = db.session.execute(db.select(AuditEvent.actor, AuditEvent.action, AuditEvent.detail).order_by(AuditEvent.id)).all()
    assert [(e.actor, e.action) for e in events] == [("olga", "schedule_change")] * 2 + [("olga", "sandbox_change")]
    assert "created schedule 'nightly'" in events[0].detail
    assert "latency_ms=5" in events[2].detail
    set_chaos(app)


def test_holding_the_job_row_never_blocks_a_record_write(app: Flask) -> None:
    """While a cancel holds its job's row, a worker can still move a record of the job to a new state.

    The state-count row the move inserts has a foreign key to the job, checked under a key-share
    lock; a job lock that excluded it made cancel (job, then records) and a worker (record, then the
    check on the job) deadlock: a 500 on the cancel. On PostgreSQL a blocked write here times out.
    """
    job_id = make_job(app, "running", records=2)
    outcome: list[str] = []
    with app.app_context():
        engine = db.engine

        def move_record() -> None:
            """A worker's write on its own connection: pending → running for the first record."""
            try:
                with engine.connect() as conn:
                    if engine.dialect.name == "postgresql":
                        conn.execute(db.text("SET lock_timeout = '5s'"))
                    conn.execute(db.update(JobRecord).where(JobRecord.job_id == job_id, JobRecord.seq == 1).values(state="running"))
                    conn.commit()
                outcome.append("written")
            except Exception as exc:  # reported by the assertion below
                outcome.append(f"{type(exc).__name__}: {exc}")

        assert locked_job(job_id) is not None
        worker = threading.Thread(target=move_record)
        worker.start()
        worker.join(timeout=30)
        db.session.rollback()
    assert outcome == ["written"]
    assert count(app, JobStateCount, JobStateCount.job_id == job_id, JobStateCount.state == "running", JobStateCount.n == 1) == 1


def test_a_job_deleted_with_its_records_takes_its_counts_along(app: Flask) -> None:
    """A purge that deletes job rows (records and counts cascade) succeeds; other jobs' counts stay."""
    gone, kept = make_job(app, "succeeded", records=3), make_job(app, "running", records=2)
    with app.app_context():
        db.session.execute(db.delete(Job).where(Job.id == gone))
        db.session.commit()
    assert count(app, JobRecord, JobRecord.job_id == gone) == 0
    assert count(app, JobStateCount, JobStateCount.job_id == gone) == 0
    with app.app_context():
        db.session.execute(db.delete(JobRecord).where(JobRecord.job_id == kept, JobRecord.seq == 1))
        db.session.commit()
        left = db.session.execute(db.select(db.func.sum(JobStateCount.n)).where(JobStateCount.job_id == kept)).scalar_one()
    assert left == 1
