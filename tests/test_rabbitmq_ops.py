"""Operations on RabbitMQ: the workers page's queue figures, the sweeper's judgement of lost work,
the orphan restore and the worker controls, against real workers on a vhost of this module's own.

The RabbitMQ the tests use runs without its management plugin, so the
management API's reading is checked against a stand-in HTTP server answering as the plugin does.
"""

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devtools.localrabbit import Vhosts
from devtools.ports import free_port
from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tasks import orphans, sweeper
from tasks.workflows import sweep
from tests.forms import auth, csrf_token, logged_in
from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun, utcnow
from webapp.monitoring.heartbeats import KEY_PREFIX, SEEN_KEY
from webapp.monitoring.live import live_state

HTMX = {"HX-Request": "true"}
VHOST = f"celeriac_test_ops_{os.getpid()}"


@pytest.fixture(scope="module")
def amqp_url(rabbitmq_server: Vhosts) -> Iterator[str]:
    """The URL of a vhost of this module alone (its user may do anything in it), deleted afterwards."""
    yield rabbitmq_server.add(VHOST)
    rabbitmq_server.delete(VHOST)


@pytest.fixture(scope="module")
def amqp_app(app: Flask, amqp_url: str) -> Iterator[Flask]:
    """The app on the tests' database and Redis with RabbitMQ as its broker (its Celery app the default meanwhile)."""
    from webapp.app import create_app

    keys = ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "ERP_API_URL", "SANDBOX_ENABLED")
    amqp = create_app(
        {key: app.config[key] for key in keys}
        | {"BROKER_URL": amqp_url, "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False, "STUCK_AFTER_SECONDS": 5}
    )
    yield amqp
    app.extensions["celery"].set_default()
    app.extensions["celery"].set_current()


@pytest.fixture(scope="module")
def amqp_workers(
    amqp_app: Flask, amqp_url: str, worker_env: dict[str, str], live_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """A prefork worker (default, db) and a threads worker (fetch) on the module's vhost, beating every second."""
    workers = WorkerSet(dict(worker_env, BROKER_URL=amqp_url, HEARTBEAT_SECONDS="1"), tmp_path_factory.mktemp("amqp-workers"))
    nodes = {"db": workers.start("adb", queues="default,db", pool="prefork", concurrency=1)}
    nodes["io"] = workers.start("aio", queues="fetch", pool="threads", concurrency=4)
    workers.wait_ready()
    amqp_app.extensions["celery"].set_current()  # not wait_ready's probe, which knows no routes: what this process publishes goes by ours
    yield nodes
    workers.stop_all()
    client = redis.Redis.from_url(amqp_app.config["REDIS_URL"])
    for node in nodes.values():
        client.delete(KEY_PREFIX + node)
        client.hdel(SEEN_KEY, node)


@pytest.fixture
def amqp_client(amqp_app: Flask, operator: tuple[str, str]) -> FlaskClient:
    """A test client of the RabbitMQ app, logged in as the operator."""
    return logged_in(amqp_app, operator)


def live_worker(app: Flask, node: str) -> Any:
    """The worker as its heartbeat shows it (None when not listed)."""
    with app.app_context():
        return next((worker for worker in live_state().workers if worker.hostname == node), None)


def queue(app: Flask, name: str) -> Any:
    """One queue as the workers page reads it from the broker."""
    with app.app_context():
        return next(stat for stat in live_state().queues if stat.name == name)


def control(client: FlaskClient, path: str) -> str:
    """POST a control as the page's htmx button does; the section it answers, unescaped."""
    token = csrf_token(client.get("/ops/workers").data)
    response = client.post(path, headers=HTMX | {"X-CSRFToken": token})
    assert response.status_code == 200
    return unescape(response.get_data(as_text=True))


def set_idle_since(app: Flask, job_id: int, seconds_ago: float) -> None:
    """Make the job's last progress ``seconds_ago`` (the sweeper reads swept_at among its moments)."""
    with app.app_context():
        db.session.execute(db.update(TaskRun).where(TaskRun.job_id == job_id).values(started_at=utcnow() - timedelta(hours=1)))
        db.session.execute(db.update(TaskRun).where(TaskRun.job_id == job_id).values(finished_at=utcnow() - timedelta(hours=1)))
        db.session.get(Job, job_id).swept_at = utcnow() - timedelta(seconds=seconds_ago)
        db.session.commit()


def test_pool_resize_pause_and_a_lost_record_resent_on_rabbitmq(
    amqp_app: Flask, amqp_url: str, amqp_client: FlaskClient, api_token: str, amqp_workers: dict[str, str]
) -> None:
    """Pool grown and shrunk, a queue paused and resumed by the controls; the sweeper leaves records
    whose messages may wait in a busy queue, resends them once really lost, and the job completes."""
    fetcher, maker = amqp_workers["io"], amqp_workers["db"]
    wait_for(lambda: getattr(live_worker(amqp_app, maker), "status", None) == "online", timeout=30, message="the db worker online")

    assert "grow its pool by one process: the worker replied “pool will grow”" in control(amqp_client, f"/ops/workers/{maker}/grow")
    wait_for(lambda: live_worker(amqp_app, maker).concurrency == 2, timeout=15, message="the pool at 2 processes")
    assert "the worker replied “pool will shrink”" in control(amqp_client, f"/ops/workers/{maker}/shrink")
    wait_for(lambda: live_worker(amqp_app, maker).concurrency == 1, timeout=15, message="the pool back at 1 process")

    paused = control(amqp_client, f"/ops/workers/{fetcher}/queues/fetch/pause")
    assert "stop taking messages from queue fetch: the worker replied “no longer consuming from fetch”" in paused
    wait_for(lambda: live_worker(amqp_app, fetcher).paused == ["fetch"], timeout=15, message="the heartbeat to show fetch paused")

    keys = ["PO-100810", "PO-100811"]
    job_id = amqp_client.post("/api/jobs", json={"kind": "purchase_orders", "keys": keys}, headers=auth(api_token)).get_json()["id"]
    wait_for(lambda: queue(amqp_app, "fetch").depth == 2, timeout=30, message="the job's two fetches waiting in RabbitMQ")
    fetch_queue = queue(amqp_app, "fetch")
    assert (fetch_queue.consumers, fetch_queue.unacked, fetch_queue.age_known) == (0, None, False)
    panel = amqp_client.get("/ops/workers/panel").get_data(as_text=True)
    broker = urlsplit(amqp_url)
    assert f"RabbitMQ at {broker.hostname}:{broker.port}, vhost {VHOST}" in panel and "guest" not in panel
    assert 'class="queue queue-stranded" data-queue="fetch" data-depth="2"' in panel
    assert "not known on RabbitMQ without its management API" in panel

    with amqp_app.app_context():
        record_ids = sorted(db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job_id)).scalars())
    stalled = {job_id: record_ids}
    set_idle_since(amqp_app, job_id, 6)
    with amqp_app.app_context():
        assert sweeper.lost_records(stalled) == {}, "its messages may wait in the fetch queue: not lost yet"
    set_idle_since(amqp_app, job_id, 11)
    with amqp_app.app_context():
        assert sweeper.lost_records(stalled) == stalled, "twice the stuck threshold without progress: sent again"

    with amqp_app.app_context(), amqp_app.extensions["celery"].connection_for_write() as connection:
        assert connection.default_channel.queue_purge("fetch") == 2  # the messages are really lost
    set_idle_since(amqp_app, job_id, 6)
    with amqp_app.app_context():
        assert sweeper.lost_records(stalled) == stalled, "nothing in the record queues: lost"

    resumed = control(amqp_client, f"/ops/workers/{fetcher}/queues/fetch/resume")
    assert "take messages from queue fetch again: the worker replied “add consumer fetch”" in resumed
    with amqp_app.app_context():
        assert sweep()["records_resent"] == stalled

    def finished() -> str | None:
        with amqp_app.app_context():
            status = db.session.get(Job, job_id).status
            return status if status not in ("queued", "running") else None

    assert wait_for(finished, timeout=60, message="the job to finish") == "succeeded"
    with amqp_app.app_context():
        job = db.session.get(Job, job_id)
        states = set(db.session.execute(db.select(JobRecord.state).where(JobRecord.job_id == job_id)).scalars())
        assert (job.resent_records, states) == (2, {"succeeded"})


def test_the_orphan_restore_does_nothing_on_rabbitmq(amqp_app: Flask) -> None:
    """A step started on a worker now dead: RabbitMQ has requeued its message already, so nothing is restored (and nothing fails)."""
    from tests.test_sweeper import beat_as, make_running_job

    beat_as(amqp_app, "dead@amqp-test", 120)
    with amqp_app.app_context():
        job_id = make_running_job(0.5)
        record_id = db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job_id, JobRecord.seq == 2)).scalar_one()
        db.session.add(
            TaskRun(task_id="t-dead", task_name="tasks.workflows.make_po", job_id=job_id, record_id=record_id, state="STARTED",
                    worker="dead@amqp-test", started_at=utcnow())
        )  # fmt: skip
        db.session.commit()
        assert job_id in orphans.orphaned_runs()
        assert orphans.restore_orphaned_messages() == 0
    client = redis.Redis.from_url(amqp_app.config["REDIS_URL"])
    client.hdel(SEEN_KEY, "dead@amqp-test")
    client.delete(KEY_PREFIX + "dead@amqp-test")


@pytest.fixture
def management_api(amqp_app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A stand-in for RabbitMQ's management API: the module's vhost with a busy fetch queue; yields the paths asked."""
    asked: list[str] = []
    now = time.time()
    rows = [{"name": "fetch", "messages_ready": 3, "messages_unacknowledged": 1, "consumers": 2, "head_message_timestamp": int(now) - 90}]

    @Request.application
    def answer(request: Request) -> Response:
        asked.append(request.full_path)
        if request.authorization is None or request.authorization.username != "guest":
            return Response("", 401)
        if request.path != f"/api/queues/{VHOST}":
            return Response("[]", 404, content_type="application/json")
        return Response(json.dumps(rows), content_type="application/json")

    port = free_port()
    server = make_server("127.0.0.1", port, answer, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setitem(amqp_app.config, "RABBITMQ_MANAGEMENT_URL", f"http://guest:guest@127.0.0.1:{port}")
    yield asked
    server.shutdown()


def test_the_management_api_gives_unacked_counts_and_ages(amqp_app: Flask, amqp_client: FlaskClient, management_api: list[str]) -> None:
    with amqp_app.app_context():
        state = live_state()
    fetch, db_queue = (next(q for q in state.queues if q.name == name) for name in ("fetch", "db"))
    assert (fetch.depth, fetch.unacked, fetch.consumers, state.unacked) == (3, 1, 2, 1)
    assert 85 <= fetch.oldest_age_seconds <= 120
    assert (db_queue.depth, db_queue.unacked, db_queue.oldest_age_seconds) == (0, 0, None)
    assert management_api and management_api[0].startswith(f"/api/queues/{VHOST}?columns=")
    panel = unescape(amqp_client.get("/ops/workers/panel").get_data(as_text=True))
    assert 'data-unacked="1"' in panel and "1 message delivered to workers and not yet acknowledged" in panel
    assert "Read from RabbitMQ's management API." in panel


def test_a_broker_that_does_not_answer_is_said_so(amqp_app: Flask, amqp_client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """RabbitMQ down: the page renders and says so, /metrics reports it down, and the sweeper resends nothing."""
    monkeypatch.setattr(amqp_app.extensions["celery"].conf, "broker_url", f"amqp://guest:guest@127.0.0.1:{free_port()}/{VHOST}")
    started = time.monotonic()
    response = amqp_client.get("/ops/workers/panel")
    assert time.monotonic() - started < 5, "a short timeout: the page does not hang on the broker"
    assert response.status_code == 200 and "RabbitMQ did not answer" in response.get_data(as_text=True)
    monkeypatch.setitem(amqp_app.config, "METRICS_TOKEN", "scrape")
    metrics = amqp_app.test_client().get("/metrics", headers=auth("scrape")).get_data(as_text=True)
    assert 'celeriac_broker_up{broker="rabbitmq"} 0.0' in metrics and "celeriac_queue_messages" not in metrics
    with amqp_app.app_context():
        assert sweeper.lost_records({1: [1, 2]}) == {}


def test_a_management_api_that_does_not_answer_falls_back_to_a_passive_declare(amqp_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(amqp_app.config, "RABBITMQ_MANAGEMENT_URL", f"http://guest:guest@127.0.0.1:{free_port()}")
    started = time.monotonic()
    with amqp_app.app_context():
        state = live_state()
    assert time.monotonic() - started < 5
    assert state.broker_error is None and state.unacked is None
    assert state.source.startswith("RabbitMQ's management API did not answer") and "a passive declare" in state.source
    assert {stat.name for stat in state.queues} >= {"default", "db", "fetch"} and not any(stat.age_known for stat in state.queues)
