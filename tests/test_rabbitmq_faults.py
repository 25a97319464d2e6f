"""Faults with RabbitMQ as the broker: a killed worker without the sweeper, a restarted RabbitMQ node.

Crash semantics on RabbitMQ: every task is acknowledged late (after it ran) and a worker holds
unacknowledged messages only on its own connection, so when a worker is SIGKILLed the broker
sees the connection drop and queues its unacknowledged messages again at once; no visibility
timeout and no sweeper are needed (on Redis they are: see tests/test_worker_crash.py). Queues
are durable and messages persistent, and a publish returns only once the broker confirmed it,
so a restarted RabbitMQ node still holds every queued and unacknowledged message.

The node restarted here is a private one (devtools/localrabbit.py), never a broker others use.
"""

import time
from pathlib import Path

import pytest
from flask import Flask

from devtools.localrabbit import Vhosts, start_private_rabbit
from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.chaos import set_chaos
from tests.jobs import finished_job, start
from tests.test_faults import KEYS, run_job_through_a_fault, second_app
from tests.test_worker_crash import finished_records, started_on
from webapp.extensions import db
from webapp.models import Job, PurchaseOrder, TaskRun

pytestmark = pytest.mark.faults


def test_a_killed_workers_messages_come_back_without_the_sweeper(
    app: Flask, worker_env: dict[str, str], rabbitmq_url: str, live_server: str, tmp_path: Path
) -> None:
    """SIGKILL the fetch worker mid-job with no beat (no sweeper) running: RabbitMQ hands its
    unacknowledged fetches to the replacement as soon as its connection drops, and the job ends."""
    env = dict(worker_env, BROKER_URL=rabbitmq_url, STUCK_AFTER_SECONDS="900")
    job_app = second_app(env["DATABASE_URL"], env["REDIS_URL"], env["ERP_API_URL"], broker_url=rabbitmq_url)
    workers = WorkerSet(env, tmp_path)
    keys = KEYS[:30]
    try:
        workers.start("db", queues="default,db", pool="prefork", concurrency=2)
        io_node = workers.start("io", queues="fetch", pool="threads", concurrency=4)
        workers.wait_ready()
        set_chaos(app, latency_ms=600)
        job_id = start(job_app, keys)
        wait_for(
            lambda: finished_records(app, job_id) >= 5 and started_on(app, job_id, io_node) >= 2,
            timeout=60,
            message="a few records done, fetches running on the io worker",
        )
        workers.kill(io_node)
        killed_at = time.monotonic()
        workers.start("io", queues="fetch", pool="threads", concurrency=4)
        job = finished_job(app, job_id, timeout=90)
        recovered_in = time.monotonic() - killed_at
    finally:
        set_chaos(app)
        workers.stop_all()
    print(f"job finished {recovered_in:.1f} s after the SIGKILL")
    assert job.status == "succeeded"
    assert job.resent_records == 0, "the broker brought the messages back, not a sweeper"
    with app.app_context():
        numbers = db.session.execute(db.select(PurchaseOrder.po_number)).scalars().all()
        dead_runs = db.session.execute(db.select(TaskRun.state).where(TaskRun.worker == io_node)).scalars().all()
    assert sorted(numbers) == sorted(keys), "every PO exactly once"
    assert "STARTED" not in dead_runs and "LOST" in dead_runs, "the killed runs ran again and were marked LOST"


def test_rabbitmq_node_restarted_mid_job(app: Flask, worker_env: dict[str, str], live_server: str, tmp_path: Path) -> None:
    """A private RabbitMQ node is stopped and started again (same port, same data) mid-job: the
    workers reconnect, durable queues still hold the persistent messages, and every PO is made once."""
    node = start_private_rabbit(tmp_path / "rabbitmq")
    broker_url = Vhosts(node.url, node=node).add("celeriac_restart")
    env = dict(worker_env, BROKER_URL=broker_url)
    workers = WorkerSet(env, tmp_path)

    def restart_rabbitmq() -> None:
        node.stop()
        node.start()

    set_chaos(app, latency_ms=400)
    try:
        job_app = second_app(env["DATABASE_URL"], env["REDIS_URL"], env["ERP_API_URL"], broker_url=broker_url)
        job_id = run_job_through_a_fault(job_app, workers, restart_rabbitmq)
    finally:
        set_chaos(app)
        workers.stop_all()
        node.stop()
    with app.app_context():
        resent = db.session.get(Job, job_id).resent_records
    assert resent == 0, "the restarted node kept every message: the sweeper sent none again"
