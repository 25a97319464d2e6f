"""Faults against private services: a poison pill, Redis restarted empty, PostgreSQL restarted mid-job.

The poison pill and the PostgreSQL restart run on both brokers; Redis restarted empty is about
Redis as the broker (RabbitMQ's node restart is in tests/test_rabbitmq_faults.py)."""

from pathlib import Path

import pytest
from flask import Flask

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun, utcnow

pytestmark = pytest.mark.faults


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


@pytest.mark.both_brokers
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


KEYS = [f"PO-{n}" for n in range(101400, 101440)]
OUTAGE_SECONDS = 3


def poll_job(app: Flask, job_id: int) -> tuple[str, int] | None:
    """(status, succeeded records) of the job, or None while the database does not answer."""
    from sqlalchemy.exc import OperationalError

    try:
        with app.app_context():
            status = db.session.execute(db.select(Job.status).where(Job.id == job_id)).scalar_one()
            done = db.session.execute(
                db.select(db.func.count()).select_from(JobRecord).where(JobRecord.job_id == job_id, JobRecord.state == "succeeded")
            ).scalar_one()
            return status, done
    except OperationalError:
        return None


def po_numbers(app: Flask) -> list[str]:
    """Every PO number in the ERP table, duplicates included."""
    from webapp.models import PurchaseOrder

    with app.app_context():
        return sorted(db.session.execute(db.select(PurchaseOrder.po_number)).scalars().all())


def second_app(database_uri: str, redis_url: str, erp_url: str, broker_url: str = "") -> Flask:
    """An app on another database, Redis or broker than the session's (the sandbox ERP stays the session's).

    Its login limiter counts in memory: the limiter is one per process, its storage that of the
    last app made, and the Redis a fault test stops must not be the one the session's app counts in.
    """
    from webapp.app import create_app

    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "REDIS_URL": redis_url,
            "BROKER_URL": broker_url,
            "ERP_API_URL": erp_url,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


def run_job_through_a_fault(app: Flask, fault_workers: WorkerSet, fault: object) -> int:
    """Start 40 slow POs, apply ``fault`` once 8 are done, and check the job still ends with every PO once; return its id."""
    from webapp.jobs.launch import launch_job

    fault_workers.start("db", queues="default,db", pool="prefork", concurrency=2)
    fault_workers.start("io", queues="fetch", pool="threads", concurrency=2)
    fault_workers.start_beat()
    fault_workers.wait_ready()
    with app.app_context():
        job_id = launch_job("purchase_orders", "upload", KEYS, None, input_name="fault.csv").id
    before = wait_for(lambda: (p := poll_job(app, job_id)) and p[1] >= 8 and p, timeout=90, message="8 POs made")
    assert before[1] < len(KEYS), "the fault must strike mid-job"
    fault()

    def ended() -> tuple[str, int] | None:
        fault_workers.replace_exited()  # as a supervisor would (a worker can end itself on a Redis restart)
        progress = poll_job(app, job_id)
        return progress if progress and progress[0] not in ("queued", "running") else None

    status = wait_for(ended, timeout=240, interval=0.5, message="the job to end after the fault")
    assert status == ("succeeded", len(KEYS))
    assert po_numbers(app) == sorted(KEYS), "every PO exactly once"
    return job_id


def test_redis_restarted_without_persistence_mid_job(
    app: Flask, worker_env: dict[str, str], database_uri: str, erp_url: str, live_server: str, tmp_path: Path
) -> None:
    """Every queued message, unacked message and chord counter vanishes; the sweeper still finishes the job."""
    from devtools.localredis import start_private_redis
    from tests.chaos import set_chaos

    server = start_private_redis(workdir=str(tmp_path))
    workers = WorkerSet(dict(worker_env, REDIS_URL=server.url), tmp_path)
    restarted: list = []

    def restart_redis() -> None:
        server.stop()
        restarted.append(start_private_redis(port=server.port, workdir=str(tmp_path), password=server.password))

    set_chaos(app, latency_ms=400)
    try:
        run_job_through_a_fault(second_app(database_uri, server.url, erp_url), workers, restart_redis)
    finally:
        set_chaos(app)
        workers.stop_all()
        for instance in [server, *restarted]:
            instance.stop()


def assert_outage_attempts_logged(app: Flask, log_dir: Path) -> None:
    """Every run the workers could not open or close during the outage has its row, closed, once
    the database is back (the workers keep them: tasks.runlog_backlog)."""
    import re

    logs = "".join(path.read_text(errors="replace") for path in log_dir.glob("*.log"))
    missed = set(re.findall(r"could not (?:open|close) the task run of ([0-9a-f-]{36})", logs))
    assert missed, "the outage struck while no task ran: nothing to check"

    def unwritten() -> set[str]:
        with app.app_context():
            written = db.session.execute(
                db.select(TaskRun.task_id).where(TaskRun.task_id.in_(missed), TaskRun.finished_at.is_not(None))
            ).scalars()
            return missed - set(written)

    wait_for(lambda: not unwritten(), timeout=60, interval=0.5, message=f"rows for the {len(missed)} runs of the outage")


@pytest.mark.both_brokers
def test_postgres_restarted_mid_job(
    app: Flask, worker_env: dict[str, str], redis_url: str, broker_url: str, erp_url: str, live_server: str, tmp_path: Path
) -> None:
    """PostgreSQL goes away for a few seconds mid-job; tasks wait it out and every PO is made once."""
    import time

    from devtools.localpostgres import PrivatePostgres, postgres_bin
    from tests.chaos import set_chaos
    from webapp import migrations

    if postgres_bin("initdb") is None:
        pytest.fail("initdb not found: install PostgreSQL's server package to run this test")
    server = PrivatePostgres()
    server.start()
    job_app = second_app(server.url, redis_url, erp_url, broker_url)
    migrations.upgrade(job_app)
    workers = WorkerSet(dict(worker_env, DATABASE_URL=server.url), tmp_path)

    def restart_postgres() -> None:
        server.stop()
        time.sleep(OUTAGE_SECONDS)  # the outage itself is what this test is about
        server.start()

    set_chaos(app, latency_ms=400)
    try:
        run_job_through_a_fault(job_app, workers, restart_postgres)
        assert_outage_attempts_logged(job_app, tmp_path)
    finally:
        set_chaos(app)
        workers.stop_all()
        with job_app.app_context():
            from webapp.extensions import db as job_db

            job_db.engine.dispose()
        server.destroy()
