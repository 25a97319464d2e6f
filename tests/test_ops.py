"""The workers & queues page, its JSON API and search: real workers' heartbeats, queues, SQL aggregates."""

import json
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.forms import auth
from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun, utcnow
from webapp.monitoring.heartbeats import KEY_PREFIX, SEEN_KEY
from webapp.monitoring.queues import list_keys, read_queues
from webapp.monitoring.throughput import erp_health, throughput
from webapp.views.workers import chart_bars


def workers_json(app: Flask, token: str) -> dict[str, Any]:
    """GET /api/ops/workers."""
    response = app.test_client().get("/api/ops/workers", headers=auth(token))
    assert response.status_code == 200
    return response.get_json()


def worker_json(app: Flask, token: str, hostname: str) -> dict[str, Any] | None:
    """One worker as the API lists it, or None."""
    return next((w for w in workers_json(app, token)["workers"] if w["hostname"] == hostname), None)


def status_of(app: Flask, token: str, hostname: str) -> str | None:
    """A worker's heartbeat status as the API shows it."""
    worker = worker_json(app, token, hostname)
    return worker["status"] if worker else None


def add_runs(app: Flask, *runs: dict[str, Any]) -> None:
    """Insert task runs (task_name, state, started_at, finished_at, ...)."""
    with app.app_context():
        for fields in runs:
            db.session.add(TaskRun(task_id=fields.pop("task_id", str(uuid.uuid4())), attempt=1, **fields))
        db.session.commit()


def run(task: str, state: str, finished_at: datetime, seconds: float = 0.1, **fields: Any) -> dict[str, Any]:
    """Fields of a finished task run that took ``seconds``."""
    return {"task_name": task, "state": state, "started_at": finished_at - timedelta(seconds=seconds),
            "finished_at": finished_at, **fields}


def add_job(app: Flask, kind: str, records: list[tuple[str, str]], status: str = "running") -> tuple[int, list[int]]:
    """A job with records (key, state); returns its id and the record ids."""
    with app.app_context():
        job = Job(kind=kind, source="upload", status=status, total=len(records))
        db.session.add(job)
        db.session.flush()
        rows = [JobRecord(job_id=job.id, seq=i, key=key, state=state, error="ERP said 404" if state == "failed" else None)
                for i, (key, state) in enumerate(records, start=1)]
        db.session.add_all(rows)
        db.session.commit()
        return job.id, [row.id for row in rows]


@pytest.mark.parametrize("path", ["/ops/workers", "/ops/workers/panel", "/ops/search?q=PO-100001"])
def test_pages_require_login(app: Flask, path: str) -> None:
    """Anonymous visitors are sent to the login page."""
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("path", ["/api/ops/workers", "/api/ops/search?q=PO-100001"])
@pytest.mark.parametrize("header", [None, "Bearer not-a-real-token"])
def test_api_requires_a_token(app: Flask, path: str, header: str | None) -> None:
    """No token or an unknown one: 401 in JSON."""
    response = app.test_client().get(path, headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert "token" in response.get_json()["message"]


def test_page_includes_the_panel_which_reloads_itself(client: FlaskClient) -> None:
    """The page is a full page with the nav link and search box; the fragment is one polling element, no inline style."""
    page = client.get("/ops/workers")
    assert page.status_code == 200
    assert b"<html" in page.data and b'id="ops-panel"' in page.data
    assert b'href="/ops/workers"' in page.data and b'action="/ops/search"' in page.data
    fragment = client.get("/ops/workers/panel", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert b"<html" not in fragment.data
    assert fragment.data.lstrip().startswith(b"<section id=\"ops-panel\"")
    assert b'hx-get="/ops/workers/panel"' in fragment.data and b'hx-trigger="load delay:5s"' in fragment.data
    assert b'hx-swap="outerHTML"' in fragment.data and b"<svg" in fragment.data
    assert b"style=" not in fragment.data and b"<style" not in fragment.data


def test_heartbeats_of_running_workers(app: Flask, client: FlaskClient, api_token: str, workers: WorkerSet) -> None:
    """Both workers of the Procfile's shape show as online with their pool, concurrency and queues."""
    nodes = {node: node.split("-", 1)[0].rstrip("0123456789") for node in workers.processes}
    wait_for(lambda: all(status_of(app, api_token, node) == "online" for node in nodes), timeout=30,
             message="both workers online")
    expected = {"db": ("prefork", 2, ["db", "default"]), "io": ("threads", 16, ["fetch"])}
    for node, name in nodes.items():
        worker = worker_json(app, api_token, node)
        assert worker is not None
        assert (worker["pool"], worker["concurrency"], worker["queues"]) == expected[name]
        assert worker["pid"] > 0 and worker["age_seconds"] < 30 and worker["last_seen"].endswith("Z")
    html = client.get("/ops/workers/panel").get_data(as_text=True)
    for node, name in nodes.items():
        assert f'data-worker="{node}" data-status="online"' in html
    assert 'data-pool="prefork" data-concurrency="2"' in html and 'data-pool="threads" data-concurrency="16"' in html
    queues = {q["name"]: q for q in workers_json(app, api_token)["queues"]}
    assert {"default", "db", "fetch"} <= set(queues)
    assert queues["fetch"]["consumers"] >= 1 and queues["db"]["consumers"] >= 1


@pytest.fixture
def probe_workers(worker_env: dict[str, str], redis_url: str, tmp_path: Path) -> Iterator[WorkerSet]:
    """Workers of one test, beating every second, that it may kill; their heartbeats are removed afterwards."""
    workers = WorkerSet(dict(worker_env, HEARTBEAT_SECONDS="1"), tmp_path)
    yield workers
    workers.stop_all()
    client = redis.Redis.from_url(redis_url)
    client.delete("ops-probe")
    ours = re.compile(rf"(probe|calm)\d+-{os.getpid()}@localhost")
    for node in [host.decode() for host in client.hkeys(SEEN_KEY) if ours.fullmatch(host.decode())]:
        client.delete(KEY_PREFIX + node)
        client.hdel(SEEN_KEY, node)


def test_killed_worker_goes_missing_then_gone_and_its_queue_backs_up(
    app: Flask, client: FlaskClient, api_token: str, probe_workers: WorkerSet, live_server: str
) -> None:
    """SIGKILL: missing once the heartbeat is 3 beats old, gone when its key expires. SIGTERM: stopped."""
    killed = probe_workers.start("probe", queues="ops-probe", pool="threads", concurrency=2)
    stopped = probe_workers.start("calm", queues="ops-calm", pool="solo", concurrency=1)
    probe_workers.wait_ready()
    wait_for(lambda: status_of(app, api_token, killed) == status_of(app, api_token, stopped) == "online",
             timeout=30, message="the probe workers online")

    probe_workers.kill(killed)
    killed_at = time.monotonic()
    wait_for(lambda: status_of(app, api_token, killed) == "missing", timeout=15, message="killed worker missing")
    assert time.monotonic() - killed_at >= 2, "an interval or two of silence is not yet missing"
    assert 'data-status="missing"' in client.get("/ops/workers/panel").get_data(as_text=True)
    wait_for(lambda: status_of(app, api_token, killed) == "gone", timeout=15, message="killed worker gone")

    proc = probe_workers.processes.pop(stopped)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=40)
    assert status_of(app, api_token, stopped) == "stopped"

    app.extensions["celery"].send_task("tasks.workflows.relay_outbox", queue="ops-probe")
    probe = next(q for q in workers_json(app, api_token)["queues"] if q["name"] == "ops-probe")
    assert probe["depth"] == 1 and probe["consumers"] == 0
    assert probe["oldest_task"] == "tasks.workflows.relay_outbox" and 0 <= probe["oldest_age_seconds"] < 10
    html = client.get("/ops/workers/panel").get_data(as_text=True)
    assert 'class="queue queue-stranded" data-queue="ops-probe" data-depth="1"' in html
    assert f'data-worker="{killed}" data-status="gone"' in html


def test_queue_depth_and_oldest_message_age(app: Flask, redis_url: str) -> None:
    """Depth counts every priority list; the oldest stamped message gives the age; unacked is the hash length."""
    client = redis.Redis.from_url(redis_url)
    queue = f"ops-idle-{uuid.uuid4().hex[:8]}"
    options = dict(app.extensions["celery"].conf.broker_transport_options, unacked_key=f"{queue}-unacked")
    celery_app = app.extensions["celery"]
    try:
        before = time.time()
        celery_app.send_task("tasks.workflows.relay_outbox", queue=queue, priority=5)
        between = time.time()
        celery_app.send_task("tasks.workflows.sweep", queue=queue)
        client.lpush(queue, json.dumps({"body": "", "headers": {"task": "unstamped"}, "properties": {}}))
        client.hset(f"{queue}-unacked", mapping={"tag-1": "{}", "tag-2": "{}"})
        assert client.llen(list_keys(queue, options)[1]) == 1, "priority 5 lands on the step-3 list"
        stats, unacked = read_queues(client, [queue, "ops-empty"], options, now=between + 60)
    finally:
        client.delete(*list_keys(queue, options), f"{queue}-unacked")
    idle, empty = stats
    assert (idle.depth, unacked, empty.depth, empty.oldest_age_seconds) == (3, 2, 0, None)
    assert idle.oldest_task == "tasks.workflows.relay_outbox", "the oldest waits in the priority list"
    sent = between + 60 - idle.oldest_age_seconds
    assert before - 0.001 <= sent <= between + 0.001
    assert idle.oldest_sent_at == datetime.fromtimestamp(sent, timezone.utc).replace(tzinfo=None)


def test_throughput_chart_and_erp_health_from_the_task_log(app: Flask, client: FlaskClient, api_token: str) -> None:
    """Per-minute finished/failed runs over 15 minutes; fetch runs of the last 5 minutes give error rate and latency."""
    now = utcnow()
    minute = now.replace(second=0, microsecond=0)
    two_ago = minute - timedelta(minutes=2) + timedelta(seconds=30)
    add_runs(
        app,
        *[run("tasks.workflows.make_po", "SUCCESS", two_ago) for _ in range(3)],
        run("tasks.workflows.make_po", "FAILURE", two_ago),
        run("tasks.workflows.make_po", "LOST", two_ago),
        *[run("tasks.workflows.make_po", "SUCCESS", minute) for _ in range(2)],
        *[run("tasks.workflows.make_po", "SUCCESS", minute - timedelta(minutes=20)) for _ in range(5)],
        *[run("tasks.workflows.fetch_po", "SUCCESS", now - timedelta(minutes=1), seconds=0.2) for _ in range(8)],
        run("tasks.workflows.fetch_po", "RETRY", now - timedelta(minutes=1), seconds=0.9),
        run("tasks.workflows.fetch_bom", "FAILURE", now - timedelta(minutes=1), seconds=0.9),
        run("tasks.workflows.fetch_bom", "FAILURE", now - timedelta(minutes=10), seconds=9.0),
        {"task_name": "tasks.workflows.fetch_po", "state": "STARTED", "started_at": now},
    )
    with app.app_context():
        minutes = throughput(now)
        health = erp_health(now)
    assert len(minutes) == 15 and minutes[-1].start == minute
    assert [(m.finished, m.failed) for m in minutes[-3:]] == [(5, 2), (10, 1), (2, 0)]
    assert (sum(m.finished for m in minutes), sum(m.failed for m in minutes)) == (18, 4), "the run 20 minutes ago is out"
    assert (health.runs, health.errors, health.error_rate, health.status) == (10, 2, 0.2, "degraded")
    assert 0.1 < health.p50 <= 0.2 and 0.5 < health.p95 <= 0.9 + 1e-6
    assert health.max_seconds == pytest.approx(0.9, abs=0.01)

    bars = chart_bars(minutes)
    assert (bars[-2].ok_height, bars[-2].failed_height, bars[-3].ok_height, bars[-3].failed_height) == (72, 8, 24, 16)
    body = workers_json(app, api_token)
    assert (body["throughput"]["finished"], body["throughput"]["failed"]) == (18, 4)
    assert body["throughput"]["minutes"][-1] == {"start": minute.isoformat() + "Z", "finished": 2, "failed": 0}
    assert (body["erp"]["runs"], body["erp"]["errors"], body["erp"]["status"]) == (10, 2, "degraded")
    html = client.get("/ops/workers/panel").get_data(as_text=True)
    assert 'data-erp-status="degraded"' in html and 'data-finished="10" data-failed="1"' in html
    assert '<rect class="bar-failed"' in html and 'data-throughput="finished">18<' in html


def test_erp_health_is_idle_without_fetches(app: Flask) -> None:
    """No fetch in the window: no rate, no latency."""
    with app.app_context():
        health = erp_health(utcnow())
    assert (health.runs, health.error_rate, health.p50, health.status) == (0, None, None, "idle")


def test_search_by_key_job_id_task_id_and_state(app: Flask, client: FlaskClient) -> None:
    """A key matches in every job, in any case; #id names a job; a task id lists its runs; state filters."""
    first, (po1, po2) = add_job(app, "purchase_orders", [("PO-100001", "succeeded"), ("PO-100002", "failed")])
    second, (again,) = add_job(app, "purchase_orders", [("PO-100001", "failed")])
    _, (product,) = add_job(app, "bills_of_materials", [("P-10042", "succeeded")])
    task_id = str(uuid.uuid4())
    add_runs(app, run("tasks.workflows.fetch_po", "FAILURE", utcnow(), task_id=task_id, job_id=first, record_id=po2))

    html = client.get("/ops/search?q=po-100001").get_data(as_text=True)
    assert f'data-record="{again}"' in html and f'data-record="{po1}"' in html and f'data-record="{po2}"' not in html
    assert html.index(f'data-record="{again}"') < html.index(f'data-record="{po1}"'), "newest first"
    assert f'href="/jobs/{first}/records/{po1}"' in html and f'href="/jobs/{second}"' in html
    assert f'data-record="{product}"' in client.get("/ops/search?q=p-10042").get_data(as_text=True)

    for query in (f"#{first}", str(first)):
        html = client.get("/ops/search", query_string={"q": query}).get_data(as_text=True)
        assert f'data-job="{first}"' in html and f'href="/jobs/{first}"' in html

    html = client.get("/ops/search", query_string={"q": task_id}).get_data(as_text=True)
    assert "data-task-run=" in html and f'href="/jobs/{first}/records/{po2}"' in html

    html = client.get("/ops/search?state=failed").get_data(as_text=True)
    assert f'data-record="{po2}"' in html and f'data-record="{again}"' in html and f'data-record="{po1}"' not in html
    html = client.get("/ops/search?q=PO-100001&state=failed").get_data(as_text=True)
    assert f'data-record="{again}"' in html and f'data-record="{po1}"' not in html
    assert "Nothing matches" in client.get("/ops/search?q=PO-999999").get_data(as_text=True)


def test_search_pages_records_by_fifty(app: Flask, client: FlaskClient) -> None:
    """51 failed records: 50 on page 1 with a link on, 1 on page 2."""
    add_job(app, "purchase_orders", [(f"PO-{100000 + i}", "failed") for i in range(51)])
    first = client.get("/ops/search?state=failed").get_data(as_text=True)
    assert first.count("data-record=") == 50 and "page=2" in first
    second = client.get("/ops/search?state=failed&page=2").get_data(as_text=True)
    assert second.count("data-record=") == 1 and 'data-key="PO-100000"' in second


def test_search_api(app: Flask, api_token: str) -> None:
    """The same search in JSON, with links; a bad state or nothing to search is a 400."""
    job_id, (record_id,) = add_job(app, "purchase_orders", [("PO-100007", "failed")])
    task_id = str(uuid.uuid4())
    add_runs(app, run("tasks.workflows.fetch_po", "RETRY", utcnow(), task_id=task_id, job_id=job_id, record_id=record_id))
    api = app.test_client()
    body = api.get("/api/ops/search?q=po-100007&state=failed", headers=auth(api_token)).get_json()
    assert [(r["id"], r["key"], r["state"]) for r in body["records"]] == [(record_id, "PO-100007", "failed")]
    assert body["records"][0]["url"].endswith(f"/jobs/{job_id}/records/{record_id}")
    assert body["has_more"] is False and body["jobs"] == [] and body["task_runs"] == []
    body = api.get(f"/api/ops/search?q=%23{job_id}", headers=auth(api_token)).get_json()
    assert [job["id"] for job in body["jobs"]] == [job_id]
    body = api.get(f"/api/ops/search?q={task_id}", headers=auth(api_token)).get_json()
    assert [(r["state"], r["record_id"]) for r in body["task_runs"]] == [("RETRY", record_id)]
    assert api.get("/api/ops/search?state=bogus", headers=auth(api_token)).status_code == 400
    assert api.get("/api/ops/search?q=", headers=auth(api_token)).status_code == 400
