"""Faults against private services: a poison pill, Redis restarted empty, PostgreSQL restarted mid-job."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.helpers import WorkerSet, wait_for
from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun, utcnow


@pytest.fixture
def fault_workers(worker_env: dict[str, str], live_server: str, tmp_path: Path) -> Iterator[WorkerSet]:
    """Workers of this test alone, able to load the fault-injection tasks."""
    env = dict(worker_env, CELERY_EXTRA_IMPORTS="tests.fault_tasks")
    workers = WorkerSet(env, tmp_path)
    yield workers
    workers.stop_all()


def make_record(app: Flask, key: str) -> tuple[int, int]:
    """A running job with one record; returns (job id, record id)."""
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status="running", total=1, started_at=utcnow())
        db.session.add(job)
        db.session.flush()
        record = JobRecord(job_id=job.id, seq=1, key=key, state="pending")
        db.session.add(record)
        db.session.commit()
        return job.id, record.id


def record_state(app: Flask, record_id: int) -> tuple[str, str | None]:
    """The record's state and error."""
    with app.app_context():
        record = db.session.get(JobRecord, record_id)
        db.session.refresh(record)
        return record.state, record.error


def test_poison_pill_is_capped_and_the_worker_stays_healthy(app: Flask, fault_workers: WorkerSet) -> None:
    """A task that kills its worker process every time is failed after 3 deaths; the worker keeps working."""
    fault_workers.start("db", queues="default,db", pool="prefork", concurrency=1)
    fault_workers.wait_ready()
    celery_app = app.extensions["celery"]
    job_id, record_id = make_record(app, "PO-100001")
    celery_app.send_task("tests.fault_tasks.poison_pill", kwargs={"job_id": job_id, "record_id": record_id}, queue="db")
    state, error = wait_for(lambda: (s := record_state(app, record_id))[0] == "failed" and s, timeout=120, message="poison pill capped")
    assert error == "gave up: the worker process died 3 times while running poison_pill"
    with app.app_context():
        runs = db.session.execute(db.select(TaskRun.state).where(TaskRun.record_id == record_id).order_by(TaskRun.id)).scalars().all()
    assert runs == ["LOST", "LOST", "LOST", "FAILURE"]
    job_id, other = make_record(app, "PO-100002")
    result = celery_app.send_task("tests.fault_tasks.harmless", kwargs={"job_id": job_id, "record_id": other}, queue="db")
    assert result.get(timeout=30) == {"record": other, "ok": True}
