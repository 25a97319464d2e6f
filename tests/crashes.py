"""A worker killed mid-job, as the crash tests of both brokers do it."""

import time

from flask import Flask

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.chaos import set_chaos
from tests.jobs import finished_job, start
from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun


def finished_records(app: Flask, job_id: int) -> int:
    """Records of the job with a final outcome."""
    with app.app_context():
        return db.session.execute(
            db.select(db.func.count())
            .select_from(JobRecord)
            .where(JobRecord.job_id == job_id, JobRecord.state.in_(["succeeded", "failed"]))
        ).scalar_one()


def started_on(app: Flask, job_id: int, worker: str) -> int:
    """Runs of the job still STARTED on this worker."""
    with app.app_context():
        return db.session.execute(
            db.select(db.func.count())
            .select_from(TaskRun)
            .where(TaskRun.job_id == job_id, TaskRun.worker == worker, TaskRun.state == "STARTED")
        ).scalar_one()


def kill_the_fetch_worker_mid_job(app: Flask, job_app: Flask, workers: WorkerSet, keys: list[str], beat: bool) -> tuple[Job, float, str]:
    """Start a db and an io worker (and beat), a slow PO job through ``job_app``; SIGKILL the io
    worker once records are done and fetches run on it, start another; return the ended job, the
    seconds from the kill to its end, and the killed worker's name. The caller stops the workers
    and calms the sandbox ERP."""
    workers.start("db", queues="default,db", pool="prefork", concurrency=2)
    io_node = workers.start("io", queues="fetch", pool="threads", concurrency=4)
    if beat:
        workers.start_beat()
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
    print(f"job finished {recovered_in:.1f} s after the SIGKILL")
    return job, recovered_in, io_node
