"""What record rows say while real workers run them: queued, attempt N of M failed, next at, running on W, lost."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.chaos import set_chaos
from tests.jobs import start


@pytest.fixture
def own_workers(worker_env: dict[str, str], live_server: str, tmp_path: Path) -> Iterator[WorkerSet]:
    """Workers of this test alone: quick heartbeats, slow retries, a patient ERP client.

    Its broker is emptied after them, unacknowledged messages included: a retry still waiting when
    the test ends would otherwise run in the next test, on the record that then has its id (the
    database starts again from id 1), and mix its runs into that record's row.
    """
    env = dict(worker_env, HEARTBEAT_SECONDS="1", FETCH_BACKOFF_BASE="4", FETCH_BACKOFF_MAX="8", ERP_TIMEOUT="10")
    workers = WorkerSet(env, tmp_path)
    yield workers
    workers.stop_all()
    redis.Redis.from_url(worker_env["REDIS_URL"]).delete("fetch", "db", "default", "unacked", "unacked_index")


def rows(client: FlaskClient, job_id: int) -> str:
    """The rows fragment of the job."""
    return client.get(f"/jobs/{job_id}/rows", headers={"HX-Request": "true"}).get_data(as_text=True)


def test_rows_tell_queued_then_retrying(app: Flask, client: FlaskClient, own_workers: WorkerSet) -> None:
    """With no fetch worker the records wait as queued; with a failing ERP they show their next retry.

    "of 9" is the attempt budget of the app serving the page (FETCH_MAX_RETRIES + 1), as set for the web process.
    """
    own_workers.start("db", queues="default,db", pool="prefork", concurrency=1)
    own_workers.wait_ready()
    set_chaos(app, error_rate=1.0)
    try:
        job_id = start(app, ["PO-101500", "PO-101501"])
        wait_for(lambda: rows(client, job_id).count("queued (waiting for a worker)") == 2, timeout=60, message="both records queued")
        own_workers.start("io", queues="fetch", pool="threads", concurrency=2)
        own_workers.wait_ready()
        wait_for(lambda: "retrying: attempt 1 of 9 failed, next at" in rows(client, job_id), timeout=60, message="a retry due")
    finally:
        set_chaos(app)


def test_row_says_lost_when_its_worker_dies(app: Flask, client: FlaskClient, own_workers: WorkerSet) -> None:
    """A fetch running on a worker killed with SIGKILL reads 'running on W', then 'lost' once its heartbeat expires."""
    own_workers.start("db", queues="default,db", pool="prefork", concurrency=1)
    io = own_workers.start("io", queues="fetch", pool="threads", concurrency=1)
    own_workers.wait_ready()
    set_chaos(app, latency_ms=6000)
    try:
        job_id = start(app, ["PO-101510"])
        wait_for(lambda: f"running fetch on {io}" in rows(client, job_id), timeout=60, message="the fetch running")
        own_workers.kill(io)
        wait_for(
            lambda: f"lost: {io} stopped sending heartbeats while running fetch" in rows(client, job_id),
            timeout=30,
            message="the record shown as lost",
        )
    finally:
        set_chaos(app)
