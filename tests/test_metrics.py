"""The Prometheus /metrics endpoint: families and values read at scrape time, and who may scrape."""

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from devtools.ports import free_port
from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun, utcnow
from webapp.monitoring.heartbeats import KEY_PREFIX, SEEN_KEY
from webapp.monitoring.run_stats import DURATION_BUCKETS, Histogram, RunStats

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


@pytest.fixture(autouse=True)
def local_scrape_opened(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests scrape from 127.0.0.1 as a local run does (METRICS_LOCAL_SCRAPE=1); the closed default is
    tested in test_production_defaults."""
    monkeypatch.setitem(app.config, "METRICS_LOCAL_SCRAPE", True)


def scrape(app: Flask, **kwargs: object) -> tuple[Samples, dict[str, str]]:
    """GET /metrics, parsed: sample name → labels → value; and family name → type."""
    response = app.test_client().get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    samples: Samples = {}
    types = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        types[family.name] = family.type
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples, types


def seed_log(app: Flask) -> None:
    """Two jobs with records in several states, and recent and old task runs."""
    now = utcnow()
    with app.app_context():
        running = Job(kind="purchase_orders", source="upload", status="running", total=3)
        done = Job(kind="purchase_orders", source="upload", status="succeeded", total=1)
        db.session.add_all([running, done])
        db.session.flush()
        states = [(running, "succeeded"), (running, "failed"), (running, "retrying"), (done, "succeeded")]
        db.session.add_all(JobRecord(job_id=job.id, seq=i, key=f"PO-10000{i}", state=state)
                           for i, (job, state) in enumerate(states, start=1))
        runs = [("fetch_po", "SUCCESS", 0.2, 1), ("fetch_po", "SUCCESS", 0.3, 1), ("fetch_po", "RETRY", 4.0, 1),
                ("make_po", "SUCCESS", 0.07, 1), ("make_po", "LOST", 600.0, 2), ("make_po", "SUCCESS", 0.07, 30)]
        for name, state, seconds, minutes_ago in runs:
            finished = now - timedelta(minutes=minutes_ago)
            db.session.add(TaskRun(task_id=str(uuid.uuid4()), task_name=f"tasks.workflows.{name}", state=state,
                                   started_at=finished - timedelta(seconds=seconds), finished_at=finished))
        db.session.commit()


@pytest.fixture
def queued_message(app: Flask, redis_url: str) -> Iterator[str]:
    """A message waiting in the default queue (no worker runs in this module); removed afterwards."""
    client = redis.Redis.from_url(redis_url)
    result = app.extensions["celery"].send_task("tasks.workflows.sweep", queue="default")
    yield result.id
    for raw in client.lrange("default", 0, -1):
        if json.loads(raw)["headers"].get("id") == result.id:
            client.lrem("default", 1, raw)


@pytest.fixture
def fake_heartbeat(redis_url: str) -> Iterator[str]:
    """A worker's heartbeat written as a worker would, fresh; removed afterwards."""
    client = redis.Redis.from_url(redis_url)
    host = f"metrics-probe-{uuid.uuid4().hex[:6]}@localhost"
    beat = {"hostname": host, "pid": 4242, "pool": "threads", "concurrency": 8, "queues": ["fetch"], "active": 3,
            "reserved": 3, "scheduled": 0, "processed": 17, "started_at": time.time() - 60, "sent_at": time.time(),
            "interval": 10}
    client.set(KEY_PREFIX + host, json.dumps(beat), ex=50)
    client.hset(SEEN_KEY, host, json.dumps(beat))
    yield host
    client.delete(KEY_PREFIX + host)
    client.hdel(SEEN_KEY, host)


def test_metrics_families_and_values(app: Flask, queued_message: str, fake_heartbeat: str) -> None:
    """Jobs by status, records by state, recent runs and durations by task, queues, unacked and workers."""
    seed_log(app)
    samples, types = scrape(app)

    assert samples["celeriac_jobs"][(("status", "running"),)] == 1
    assert samples["celeriac_jobs"][(("status", "succeeded"),)] == 1
    assert samples["celeriac_jobs"][(("status", "failed"),)] == 0
    assert samples["celeriac_records"][(("state", "succeeded"),)] == 2
    assert samples["celeriac_records"][(("state", "retrying"),)] == 1
    assert samples["celeriac_records"][(("state", "pending"),)] == 0

    runs = samples["celeriac_task_runs_recent"]
    assert runs[(("state", "SUCCESS"), ("task", "tasks.workflows.fetch_po"))] == 2
    assert runs[(("state", "LOST"), ("task", "tasks.workflows.make_po"))] == 1
    assert runs[(("state", "SUCCESS"), ("task", "tasks.workflows.make_po"))] == 1, "the run 30 minutes ago is out"

    assert types["celeriac_task_duration_seconds"] == "histogram"
    buckets = samples["celeriac_task_duration_seconds_bucket"]
    fetch = {dict(labels)["le"]: value for labels, value in buckets.items() if ("task", "tasks.workflows.fetch_po") in labels}
    assert (fetch["0.1"], fetch["0.25"], fetch["0.5"], fetch["2.5"], fetch["5"], fetch["+Inf"]) == (0, 1, 2, 2, 3, 3)
    make = {dict(labels)["le"]: value for labels, value in buckets.items() if ("task", "tasks.workflows.make_po") in labels}
    assert make["+Inf"] == 1, "a lost run's time is not a duration"
    assert samples["celeriac_task_duration_seconds_gsum"][(("task", "tasks.workflows.fetch_po"),)] == pytest.approx(4.5, abs=0.01)

    assert samples["celeriac_redis_up"][()] == 1
    assert samples["celeriac_queue_messages"][(("queue", "default"),)] >= 1
    assert samples["celeriac_queue_oldest_message_age_seconds"][(("queue", "default"),)] >= 0
    assert {("queue", "db"), ("queue", "fetch")} <= {labels[0] for labels in samples["celeriac_queue_messages"]}
    assert samples["celeriac_unacked_messages"][()] >= 0
    assert samples["celeriac_workers"][(("status", "online"),)] >= 1
    assert samples["celeriac_worker_active_tasks"][(("worker", fake_heartbeat),)] == 3


def test_queue_depth_counts_each_new_message(app: Flask, queued_message: str) -> None:
    """One more message in the default queue is one more in the gauge; its age is known from the stamp."""
    before = scrape(app)[0]["celeriac_queue_messages"][(("queue", "default"),)]
    extra = app.extensions["celery"].send_task("tasks.workflows.sweep", queue="default")
    try:
        after = scrape(app)[0]["celeriac_queue_messages"][(("queue", "default"),)]
    finally:
        client = redis.Redis.from_url(app.config["REDIS_URL"])
        for raw in client.lrange("default", 0, -1):
            if json.loads(raw)["headers"].get("id") == extra.id:
                client.lrem("default", 1, raw)
    assert after == before + 1


def test_without_redis_sql_metrics_still_answer(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis down: redis_up is 0, the SQL families are still there."""
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    samples, _ = scrape(app)
    assert samples["celeriac_redis_up"][()] == 0
    assert "celeriac_jobs" in samples and "celeriac_queue_messages" not in samples


@pytest.mark.parametrize(
    ("token", "remote", "header", "status"),
    [
        (None, "127.0.0.1", None, 200),
        (None, "10.1.2.3", None, 403),
        ("s3cret-token", "127.0.0.1", None, 401),
        ("s3cret-token", "10.1.2.3", "Bearer wrong", 401),
        ("s3cret-token", "10.1.2.3", "Bearer s3cret-token", 200),
    ],
)
def test_who_may_scrape(app: Flask, monkeypatch: pytest.MonkeyPatch, token: str | None, remote: str,
                        header: str | None, status: int) -> None:
    """No METRICS_TOKEN: local scrapers only. With one: its bearer token, from anywhere."""
    monkeypatch.setitem(app.config, "METRICS_TOKEN", token or "")
    response = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": remote},
                                     headers={"Authorization": header} if header else {})
    assert response.status_code == status
    if status != 200:
        assert b"celeriac_" not in response.data and b"METRICS_TOKEN" in response.data


@pytest.mark.parametrize(("q", "expected"), [(0.5, 0.1 + 0.15 * 5 / 9), (0.9, 0.25), (1.0, 0.3)])
def test_quantiles_interpolate_inside_buckets(q: float, expected: float) -> None:
    """Nine runs of 0.2 s and one of 0.3 s: linear inside the (0.1, 0.25] bucket, never above the maximum."""
    buckets = [sum(1 for seconds in [0.2] * 9 + [0.3] if seconds <= bound) for bound in DURATION_BUCKETS]
    histogram = Histogram()
    histogram.add(RunStats("t", "SUCCESS", 10, 2.1, 0.3, buckets))
    assert histogram.quantile(q) == pytest.approx(expected, abs=1e-6)
