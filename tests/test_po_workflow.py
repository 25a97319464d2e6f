"""The purchase-order job end to end: real workers, real Redis, the sandbox ERP over HTTP."""

import json
import math
from typing import Any

import pytest
import redis
from flask import Flask

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.chaos import set_chaos
from tests.jobs import finished_job, start
from webapp.extensions import db
from webapp.jobs.launch import launch_job
from webapp.models import Job, JobKeyList, JobRecord, PurchaseOrder, PurchaseOrderLine, TaskRun
from webapp.sandbox.data import purchase_order

# Its worker tests run on Redis and on RabbitMQ (tests/conftest.py).
pytestmark = pytest.mark.both_brokers

PO_NUMBERS = [f"PO-{n}" for n in range(100100, 100150)]


def closed_run_state(app: Flask, task_id: str, timeout: float = 30) -> str:
    """Wait until the task's run is closed; return its state."""

    def closed() -> str | None:
        with app.app_context():
            return db.session.execute(
                db.select(TaskRun.state).where(TaskRun.task_id == task_id, TaskRun.finished_at.is_not(None))
            ).scalar_one_or_none()

    return wait_for(closed, timeout=timeout, message=f"the run of {task_id} to close")


def count(app: Flask, query: Any) -> int:
    """Run a scalar count query in an app context."""
    with app.app_context():
        return db.session.execute(query).scalar_one()


def test_flaky_erp_every_po_made_once(app: Flask, workers: WorkerSet) -> None:
    """50 POs against 30% transient failures: the job succeeds with 50 POs and visible retries."""
    set_chaos(app, error_rate=0.15, throttle_rate=0.1, timeout_rate=0.05, retry_after_s=0)
    job = finished_job(app, start(app, PO_NUMBERS))
    set_chaos(app)
    assert job.status == "succeeded"
    assert job.finalized_count == 1
    assert count(app, db.select(db.func.count()).select_from(PurchaseOrder).where(PurchaseOrder.po_number.in_(PO_NUMBERS))) == 50
    with app.app_context():
        retried = db.session.execute(
            db.select(db.func.count()).select_from(TaskRun).where(TaskRun.job_id == job.id, TaskRun.state == "RETRY")
        ).scalar_one()
        fetch_runs = db.session.execute(
            db.select(db.func.count()).select_from(TaskRun).where(TaskRun.job_id == job.id, TaskRun.task_name.endswith("fetch_po"))
        ).scalar_one()
        lines = db.session.execute(db.select(db.func.count()).select_from(PurchaseOrderLine)).scalar_one()
    assert retried > 0, "a 30% failure rate over 50 fetches must have caused retries"
    assert fetch_runs == 50 + retried
    assert lines == sum(len(purchase_order(n)["lines"]) for n in PO_NUMBERS)


def test_missing_pos_fail_without_retries(app: Flask, workers: WorkerSet) -> None:
    """3 permanently missing POs fail at once; 47 succeed; completed with failures; finalize once."""
    missing = PO_NUMBERS[5:8]
    set_chaos(app, missing_keys=",".join(missing))
    job = finished_job(app, start(app, PO_NUMBERS))
    set_chaos(app)
    assert job.status == "completed_with_failures"
    assert job.finalized_count == 1
    with app.app_context():
        failed = db.session.execute(db.select(JobRecord).where(JobRecord.job_id == job.id, JobRecord.state == "failed")).scalars().all()
        assert sorted(r.key for r in failed) == sorted(missing)
        assert all("not found" in (r.error or "") for r in failed)
        for record in failed:
            runs = db.session.execute(db.select(TaskRun).where(TaskRun.record_id == record.id)).scalars().all()
            assert [(run.task_name.rsplit(".", 1)[-1], run.state) for run in runs if "fetch" in run.task_name] == [("fetch_po", "FAILURE")]
        finalize_runs = db.session.execute(
            db.select(db.func.count()).select_from(TaskRun).where(TaskRun.job_id == job.id, TaskRun.task_name.endswith("next_window"))
        ).scalar_one()
        made = db.session.execute(db.select(db.func.count()).select_from(PurchaseOrder)).scalar_one()
    assert finalize_runs == math.ceil(50 / app.config["JOB_WINDOW_BATCH"])  # one chord body per batch
    assert made == 47


def test_one_record_job(app: Flask, workers: WorkerSet) -> None:
    """A single-record job (a one-element chord header) still finishes; its dispatch made the
    record of its launch's key list and dropped the list."""
    job = finished_job(app, start(app, ["PO-100777"]))
    assert job.status == "succeeded"
    with app.app_context():
        assert db.session.execute(db.select(JobRecord.key).where(JobRecord.job_id == job.id)).scalars().all() == ["PO-100777"]
        assert db.session.get(JobKeyList, job.id) is None


def test_only_a_chains_last_step_stores_its_result(app: Flask, workers: WorkerSet) -> None:
    """A fetch step stores nothing in the result backend (the next step reads the record), and no
    step stores its start (the task log in SQL has it): writes per step that nobody reads are CPU
    the job pays for. A chain's last step stores the record's outcome, which the task view counts
    with GroupResult."""
    job = finished_job(app, start(app, ["PO-100778", "PO-100779"]))
    assert job.status == "succeeded"
    with app.app_context():
        steps = db.session.execute(
            db.select(TaskRun.task_id, TaskRun.task_name, TaskRun.record_id).where(TaskRun.job_id == job.id, TaskRun.record_id.is_not(None))
        ).all()
    assert len(steps) == 4  # fetch_po and make_po for each record
    backend = redis.Redis.from_url(app.config["REDIS_URL"])
    stored = {step.task_id: backend.get(f"celery-task-meta-{step.task_id}") for step in steps}
    assert [step.task_name for step in steps if stored[step.task_id] is not None] == ["tasks.workflows.make_po"] * 2
    outcomes = {step.record_id: json.loads(stored[step.task_id]) for step in steps if stored[step.task_id] is not None}
    assert {record_id: (meta["status"], meta["result"]) for record_id, meta in outcomes.items()} == {
        step.record_id: ("SUCCESS", {"record": step.record_id, "ok": True}) for step in steps
    }
    # The chord body's result is stored too (it is written just after the job turns final).
    wait_for(lambda: backend.exists(f"celery-task-meta-{job.chord_id}"), timeout=10, message="the last chord body's result")


@pytest.mark.parametrize("deliveries", [2, 3])
def test_make_po_delivered_twice_leaves_one_po(app: Flask, workers: WorkerSet, deliveries: int) -> None:
    """Redelivering make_po for a finished record (same task id) writes nothing more."""
    job = finished_job(app, start(app, ["PO-100900"]))
    assert job.status == "succeeded"
    celery_app = app.extensions["celery"]
    with app.app_context():
        record = db.session.execute(db.select(JobRecord).where(JobRecord.job_id == job.id)).scalar_one()
        record_id = record.id
        # Force the step to write again, as a redelivery racing the first run would.
        record.state = "running"
        db.session.commit()
    for _ in range(deliveries):
        task_id = celery_app.send_task("tasks.workflows.make_po", kwargs={"job_id": job.id, "record_id": record_id}).id
        # The step stores no result in Redis (nobody reads it): its task run says how it ended.
        assert closed_run_state(app, task_id) in ("SUCCESS", "SKIPPED")
    with app.app_context():
        assert db.session.get(JobRecord, record_id).state == "succeeded"
        pos = db.session.execute(db.select(PurchaseOrder).where(PurchaseOrder.po_number == "PO-100900")).scalars().all()
        assert len(pos) == 1
        lines = db.session.execute(
            db.select(db.func.count()).select_from(PurchaseOrderLine).where(PurchaseOrderLine.purchase_order_id == pos[0].id)
        ).scalar_one()
    assert lines == len(purchase_order("PO-100900")["lines"])


def test_pull_pending_job(app: Flask, workers: WorkerSet) -> None:
    """A job of the ERP's pending POs lists them in the dispatch task, then makes each."""
    with app.app_context():
        job_id = launch_job("purchase_orders", "pending", [], None).id
    job = finished_job(app, job_id, timeout=180)
    assert job.status == "succeeded"
    assert job.total > 100
    assert count(app, db.select(db.func.count()).select_from(PurchaseOrder)) == job.total


def test_stalled_job_is_finalized_by_the_watchdog(app: Flask) -> None:
    """A running job whose records are all final (its chord callback lost) is closed by the beat watchdog."""
    from tasks.jobs import finalize_stalled

    with app.app_context():
        stalled = Job(kind="purchase_orders", source="upload", status="running", total=2)
        busy = Job(kind="purchase_orders", source="upload", status="running", total=2)
        db.session.add_all([stalled, busy])
        db.session.flush()
        db.session.add_all(
            [
                JobRecord(job_id=stalled.id, seq=1, key="PO-100001", state="succeeded"),
                JobRecord(job_id=stalled.id, seq=2, key="PO-100002", state="failed"),
                JobRecord(job_id=busy.id, seq=1, key="PO-100001", state="succeeded"),
                JobRecord(job_id=busy.id, seq=2, key="PO-100002", state="retrying"),
            ]
        )
        db.session.commit()
        stalled_id, busy_id = stalled.id, busy.id
        assert finalize_stalled() == [stalled_id]
        assert db.session.get(Job, stalled_id).status == "completed_with_failures"
        assert db.session.get(Job, busy_id).status == "running"
        assert finalize_stalled() == []
