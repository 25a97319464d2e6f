"""Faults with RabbitMQ as the broker: a killed worker without the sweeper, a restarted RabbitMQ node.

Crash semantics on RabbitMQ: every task is acknowledged late (after it ran) and a worker holds
unacknowledged messages only on its own connection, so when a worker is SIGKILLed the broker
sees the connection drop and queues its unacknowledged messages again at once; no visibility
timeout and no sweeper are needed (on Redis they are: see tests/test_worker_crash.py). Queues
are durable and messages persistent, and a publish returns only once the broker confirmed it,
so a restarted RabbitMQ node still holds every queued and unacknowledged message.

The node restarted here is a private one (devtools/localrabbit.py), never a broker others use.
"""

from pathlib import Path

import pytest
from flask import Flask

from devtools.localrabbit import Vhosts, start_private_rabbit
from devtools.workers import WorkerSet
from tests.chaos import set_chaos
from tests.crashes import kill_the_fetch_worker_mid_job
from tests.test_faults import KEYS, run_job_through_a_fault, second_app
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
        job, _, io_node = kill_the_fetch_worker_mid_job(app, job_app, workers, keys, beat=False)
    finally:
        set_chaos(app)
        workers.stop_all()
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
    # The sweeper's stall limit well above a slow restart's length on a loaded machine (30 s in
    # worker_env), so that only a message the node lost, not its restart's pause, makes it send
    # records again; a lost message still would, within the job's 240 s to end.
    env = dict(worker_env, BROKER_URL=broker_url, STUCK_AFTER_SECONDS="100")
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
