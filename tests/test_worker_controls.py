"""Worker controls against real workers: a prefork pool grown and shrunk, a queue paused while a
job's messages wait in it and resumed, a warm shutdown; each reply shown and audited."""

import os
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.forms import auth, csrf_token
from webapp.extensions import db
from webapp.models import AuditEvent, Job, TaskRun
from webapp.monitoring.heartbeats import KEY_PREFIX, SEEN_KEY

HTMX = {"HX-Request": "true"}


@pytest.fixture
def control_workers(worker_env: dict[str, str], redis_url: str, live_server: str, tmp_path: Path) -> Iterator[WorkerSet]:
    """Workers of one test, beating every second; their heartbeats are removed afterwards."""
    workers = WorkerSet(dict(worker_env, HEARTBEAT_SECONDS="1"), tmp_path)
    yield workers
    workers.stop_all()
    client = redis.Redis.from_url(redis_url)
    ours = re.compile(rf"(ctl|cdb|cio)\d+-{os.getpid()}@localhost")
    for node in [host.decode() for host in client.hkeys(SEEN_KEY) if ours.fullmatch(host.decode())]:
        client.delete(KEY_PREFIX + node)
        client.hdel(SEEN_KEY, node)


def worker(app: Flask, token: str, hostname: str) -> dict[str, Any]:
    """One worker as /api/ops/workers shows it ({} when not listed)."""
    workers = app.test_client().get("/api/ops/workers", headers=auth(token)).get_json()["workers"]
    return next((w for w in workers if w["hostname"] == hostname), {})


def queue_depth(app: Flask, token: str, name: str) -> int:
    """Messages waiting in a queue, as /api/ops/workers shows it."""
    queues = app.test_client().get("/api/ops/workers", headers=auth(token)).get_json()["queues"]
    return next((q["depth"] for q in queues if q["name"] == name), 0)


def control(client: FlaskClient, path: str) -> str:
    """POST a control as the page's htmx button does (CSRF header); the section it answers, unescaped."""
    token = csrf_token(client.get("/ops/workers").data)
    response = client.post(path, headers=HTMX | {"X-CSRFToken": token})
    assert response.status_code == 200
    return unescape(response.get_data(as_text=True))


def audit_trail(app: Flask) -> list[tuple[str, str, str]]:
    """(actor, action, detail) of every audit event, oldest first."""
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(db.select(AuditEvent.actor, AuditEvent.action, AuditEvent.detail).order_by(AuditEvent.id))
        ]


def test_grow_then_shrink_a_pool_then_a_warm_shutdown(app: Flask, client: FlaskClient, api_token: str, control_workers: WorkerSet) -> None:
    node = control_workers.start("ctl", queues="ctl-only,ctl-two", pool="prefork", concurrency=1)
    control_workers.wait_ready()
    wait_for(lambda: worker(app, api_token, node).get("status") == "online", timeout=30, message="the worker online")
    page = client.get("/ops/workers").get_data(as_text=True)
    assert f'data-controls="{node}"' in page and 'hx-confirm="Grow the pool of' in page

    grown = control(client, f"/ops/workers/{node}/grow")
    assert f"{node}: grow its pool by one process: the worker replied “pool will grow”" in grown
    assert 'data-answered="true"' in grown
    wait_for(lambda: worker(app, api_token, node)["concurrency"] == 2, timeout=15, message="the pool at 2 processes")
    wait_for(lambda: 'data-pool-size="2"' in client.get("/ops/workers").get_data(as_text=True), timeout=5, message="the page at 2")

    shrunk = control(client, f"/ops/workers/{node}/shrink")
    assert "shrink its pool by one process: the worker replied “pool will shrink”" in shrunk
    wait_for(lambda: worker(app, api_token, node)["concurrency"] == 1, timeout=15, message="the pool back at 1 process")
    refused = control(client, f"/ops/workers/{node}/shrink")
    assert "Not sent:" in refused and "has one process left" in refused

    control(client, f"/ops/workers/{node}/queues/ctl-two/pause")
    wait_for(lambda: worker(app, api_token, node)["paused"] == ["ctl-two"], timeout=15, message="ctl-two paused")
    panel = client.get("/ops/workers/panel").get_data(as_text=True)
    assert 'ctl-only <span class="paused-queues">(paused: ctl-two)</span>' in panel
    assert 'data-queue="ctl-two" data-depth="0"' in panel  # a paused queue stays listed: its messages would wait there

    stopping = control(client, f"/ops/workers/{node}/shutdown")
    assert "it answered a ping and was sent a warm shutdown" in stopping
    wait_for(lambda: worker(app, api_token, node).get("status") == "stopped", timeout=40, message="the worker stopped")
    proc = control_workers.processes[node]
    proc.wait(timeout=30)
    assert proc.returncode == 0
    gone = control(client, f"/ops/workers/{node}/grow")
    assert f"Not sent: No online worker is named '{node}'" in gone

    trail = audit_trail(app)
    assert [(actor, action) for actor, action, _ in trail] == [
        ("olga", "worker_pool_grow"),
        ("olga", "worker_pool_shrink"),
        ("olga", "worker_queue_pause"),
        ("olga", "worker_shutdown"),
    ]
    assert "“pool will grow”" in trail[0][2] and node in trail[0][2]
    grows = unescape(client.get("/audit?action=worker_pool_grow").get_data(as_text=True))
    assert "“pool will grow”" in grows and "warm shutdown" not in grows


def test_a_paused_queue_holds_a_jobs_messages_until_resumed(
    app: Flask, client: FlaskClient, api_token: str, control_workers: WorkerSet
) -> None:
    control_workers.start("cdb", queues="default,db", pool="prefork", concurrency=1)
    fetcher = control_workers.start("cio", queues="fetch", pool="threads", concurrency=4)
    control_workers.wait_ready()
    wait_for(lambda: worker(app, api_token, fetcher).get("status") == "online", timeout=30, message="the fetch worker online")

    paused = control(client, f"/ops/workers/{fetcher}/queues/fetch/pause")
    assert f"{fetcher}: stop taking messages from queue fetch: the worker replied “no longer consuming from fetch”" in paused
    wait_for(lambda: worker(app, api_token, fetcher)["paused"] == ["fetch"], timeout=15, message="the heartbeat to show fetch paused")
    assert 'data-queue="fetch" data-paused="true"' in client.get("/ops/workers").get_data(as_text=True)

    keys = ["PO-100700", "PO-100701", "PO-100702"]
    job_id = client.post("/api/jobs", json={"kind": "purchase_orders", "keys": keys}, headers=auth(api_token)).get_json()["id"]
    wait_for(lambda: queue_depth(app, api_token, "fetch") == 3, timeout=30, message="the job's three fetches waiting in the queue")
    with app.app_context():
        fetched = db.session.execute(
            db.select(db.func.count()).select_from(TaskRun).where(TaskRun.task_name.like("%fetch_po"))
        ).scalar_one()
        assert fetched == 0 and db.session.get(Job, job_id).status == "running"
    stranded = 'class="queue queue-stranded" data-queue="fetch" data-depth="3"'
    assert stranded in client.get("/ops/workers/panel").get_data(as_text=True)

    resumed = control(client, f"/ops/workers/{fetcher}/queues/fetch/resume")
    assert "take messages from queue fetch again: the worker replied “add consumer fetch”" in resumed

    def finished() -> str | None:
        with app.app_context():
            status = db.session.get(Job, job_id).status
            return status if status not in ("queued", "running") else None

    assert wait_for(finished, timeout=60, message="the job to finish") == "succeeded"
    wait_for(lambda: worker(app, api_token, fetcher)["paused"] == [], timeout=10, message="fetch no longer paused")
    actions = [action for _, action, _ in audit_trail(app) if action.startswith("worker_")]
    assert actions == ["worker_queue_pause", "worker_queue_resume"]
