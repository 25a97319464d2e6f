"""Workers killed with SIGKILL mid-job: the job still ends, every PO exactly once.

Crash semantics per broker (tasks are acknowledged late on both): on RabbitMQ a killed worker's
unacknowledged messages are queued again as soon as its connection drops; on Redis they wait for
the visibility timeout, or for the sweeper's orphan restore once the worker's heartbeat is gone.
The SIGKILL test runs on both; the sweeper's tests here run on Redis (tests/test_rabbitmq_faults.py
has RabbitMQ's recovery without a sweeper).
"""

from pathlib import Path

import pytest
from flask import Flask

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.chaos import set_chaos
from tests.crashes import finished_records, kill_the_fetch_worker_mid_job
from tests.jobs import finished_job, start
from webapp.extensions import db
from webapp.models import JobRecord, PurchaseOrder, TaskRun

pytestmark = pytest.mark.faults

PO_NUMBERS = [f"PO-{n}" for n in range(101000, 101080)]


@pytest.mark.both_brokers
def test_sigkill_workers_mid_job(app: Flask, own_workers: WorkerSet) -> None:
    """Kill the database worker, then the fetch worker, each mid-job; replacements finish the job.

    On Redis, redelivery (visibility timeout) brings back what the killed workers held; a message
    lost outright (popped but not yet recorded as unacknowledged) is sent again by beat's sweeper.
    On RabbitMQ the broker queues what they held again as soon as their connections drop.
    """
    db_node = own_workers.start("db", queues="default,db", pool="prefork", concurrency=2)
    io_node = own_workers.start("io", queues="fetch", pool="threads", concurrency=4)
    own_workers.start_beat()
    own_workers.wait_ready()
    set_chaos(app, latency_ms=150, error_rate=0.1)
    job_id = start(app, PO_NUMBERS)

    wait_for(lambda: finished_records(app, job_id) >= 15, timeout=90, message="15 records done")
    own_workers.kill(db_node)
    own_workers.start("db", queues="default,db", pool="prefork", concurrency=2)

    wait_for(lambda: finished_records(app, job_id) >= 45, timeout=120, message="45 records done")
    own_workers.kill(io_node)
    own_workers.start("io", queues="fetch", pool="threads", concurrency=4)
    own_workers.wait_ready()

    job = finished_job(app, job_id, timeout=180)
    set_chaos(app)
    assert job.status == "succeeded"
    with app.app_context():
        numbers = db.session.execute(db.select(PurchaseOrder.po_number)).scalars().all()
        assert sorted(numbers) == sorted(PO_NUMBERS), "every PO exactly once"
        open_runs = db.session.execute(
            db.select(db.func.count()).select_from(TaskRun).where(TaskRun.job_id == job_id, TaskRun.state == "STARTED")
        ).scalar_one()
    assert open_runs == 0, "every execution killed mid-run was redelivered and its row marked LOST"


def test_sweeper_resends_records_whose_messages_were_lost(app: Flask, own_workers: WorkerSet) -> None:
    """A running job whose messages all vanished (as after a Redis restart) is driven to the end by beat's sweeper."""
    from webapp.models import Job, utcnow

    own_workers.start("db", queues="default,db", pool="prefork", concurrency=2)
    own_workers.start("io", queues="fetch", pool="threads", concurrency=4)
    own_workers.start_beat()
    own_workers.wait_ready()
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status="running", total=5, started_at=utcnow(), sent_through=5)
        db.session.add(job)
        db.session.flush()
        for seq, key in enumerate(PO_NUMBERS[:5], start=1):
            db.session.add(JobRecord(job_id=job.id, seq=seq, key=key, state="running" if seq == 1 else "pending"))
        db.session.commit()
        job_id = job.id
    finished = finished_job(app, job_id, timeout=120)
    assert finished.status == "succeeded"
    assert finished.resent_records == 5
    with app.app_context():
        numbers = db.session.execute(db.select(PurchaseOrder.po_number)).scalars().all()
    assert sorted(numbers) == sorted(PO_NUMBERS[:5])


def test_the_sweep_tops_up_a_job_whose_chord_body_was_lost(app: Flask, own_workers: WorkerSet) -> None:
    """A running job whose sent records are all final and whose chord body never came (lost with
    Redis) would wait forever for a top-up: beat's sweep sends its next records, and it ends."""
    from webapp.models import Job, utcnow

    own_workers.start("db", queues="default,db", pool="prefork", concurrency=2)
    own_workers.start("io", queues="fetch", pool="threads", concurrency=4)
    own_workers.start_beat()
    own_workers.wait_ready()
    keys = PO_NUMBERS[:40]
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status="running", total=len(keys), started_at=utcnow(), sent_through=16)
        db.session.add(job)
        db.session.flush()
        db.session.add_all(
            [
                JobRecord(job_id=job.id, seq=seq, key=key, state="succeeded" if seq <= 16 else "pending")
                for seq, key in enumerate(keys, start=1)
            ]
        )
        db.session.commit()
        job_id = job.id
    finished = finished_job(app, job_id, timeout=60)
    assert (finished.status, finished.sent_through, finished.resent_records) == ("succeeded", 40, 0)
    with app.app_context():
        numbers = db.session.execute(db.select(PurchaseOrder.po_number)).scalars().all()
    assert sorted(numbers) == sorted(keys[16:]), "the records sent by the sweep's top-up, each once"


def test_a_dead_workers_steps_are_sent_again_within_a_minute(
    app: Flask, worker_env: dict[str, str], live_server: str, tmp_path: Path
) -> None:
    """SIGKILL the fetch worker mid-job with the default heartbeat and sweep: its started steps are sent again
    once its heartbeat is gone, and the job ends within 60 s, long before Redis' visibility timeout (600 s here)
    or the stuck-job threshold could bring anything back."""

    env = dict(worker_env, BROKER_VISIBILITY_TIMEOUT="600", STUCK_AFTER_SECONDS="900")
    for default in ("SWEEP_SECONDS", "HEARTBEAT_SECONDS", "WORKER_DEAD_AFTER_BEATS"):
        env.pop(default, None)
    workers = WorkerSet(env, tmp_path)
    keys = PO_NUMBERS[:40]
    try:
        job, recovered_in, io_node = kill_the_fetch_worker_mid_job(app, app, workers, keys, beat=True)
    finally:
        set_chaos(app)
        workers.stop_all()
    assert job.status == "succeeded"
    assert recovered_in < 60, f"the job took {recovered_in:.0f} s after the kill"
    assert job.resent_records >= 2, "the dead worker's started steps were sent again by the sweeper"
    with app.app_context():
        numbers = db.session.execute(db.select(PurchaseOrder.po_number)).scalars().all()
        dead_runs = db.session.execute(db.select(TaskRun.state).where(TaskRun.worker == io_node)).scalars().all()
    assert sorted(numbers) == sorted(keys), "every PO exactly once"
    assert "STARTED" not in dead_runs and "LOST" in dead_runs
