"""Items 4 and 5: what the job page's fragments cost, and how long launching a job keeps the request.

Measured in-process with Flask's test client (no network between client and app), logged in as an
operator, against the benchmark's database and Redis. SQL statements are counted on the engine;
Redis round trips as commands sent outside a pipeline plus pipelines executed.
"""

import io
import re
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from scripts.bench_env import BenchEnv, bench_env
from scripts.bench_table import Row, verdict

FRAGMENT_REQUESTS = 200
SMALL, LARGE = 100, 10_000
LAUNCH_RECORDS = 10_000
PASSWORD = "bench password 1"


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of the sorted values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def logged_in_client(app: Flask) -> FlaskClient:
    """A test client with an operator's session (created here), as the browser would have."""
    from webapp.extensions import db
    from webapp.models import Operator

    with app.app_context():
        if db.session.execute(db.select(Operator).filter_by(username="bench")).scalar_one_or_none() is None:
            operator = Operator(username="bench", role="operator")  # it launches jobs
            operator.set_password(PASSWORD)
            db.session.add(operator)
            db.session.commit()
    client = app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"the benchmark operator could not log in ({response.status_code})")
    return client


def csrf_token(html: str) -> str:
    """The CSRF token a page carries."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    if match is None:
        raise RuntimeError("no CSRF token in the page")
    return match.group(1)


def seed_running_job(app: Flask, records: int) -> int:
    """A running PO job of ``records`` records in every state a live page shows, with task runs."""
    from webapp.extensions import db
    from webapp.models import Job, JobRecord, TaskRun, utcnow

    now = utcnow()
    states = ["succeeded"] * 5 + ["running", "retrying", "failed", "pending", "pending"]
    with app.app_context():
        job = Job(kind="purchase_orders", source="bench", status="running", total=records, started_at=now)
        db.session.add(job)
        db.session.flush()
        rows = [
            {
                "job_id": job.id,
                "seq": seq,
                "key": f"PO-{100_000 + seq}",
                "state": states[seq % 10],
                "error": "ERP answered 503" if states[seq % 10] in ("retrying", "failed") else None,
                "retry_at": now + timedelta(seconds=30) if states[seq % 10] == "retrying" else None,
            }
            for seq in range(1, records + 1)
        ]
        db.session.execute(db.insert(JobRecord), rows)
        ids = db.session.execute(db.select(JobRecord.id, JobRecord.state).where(JobRecord.job_id == job.id)).all()
        runs = [
            {
                "task_id": f"bench-{job.id}-{rid}",
                "task_name": "tasks.workflows.fetch_po",
                "job_id": job.id,
                "record_id": rid,
                "state": "STARTED" if state == "running" else "SUCCESS",
                "attempt": 1,
                "queue": "fetch",
                "worker": "io@bench",
                "started_at": now,
            }
            for rid, state in ids
            if state != "pending"
        ]
        db.session.execute(db.insert(TaskRun), runs)
        db.session.commit()
        return job.id


def analyze_tables(app: Flask) -> None:
    """Give the planner statistics of the seeded tables. A database that has run jobs has them
    (autovacuum analyzes a table once a tenth of it changed); one seeded a moment ago has none,
    and its plans (a 10,000-record job's records sorted in full for a page of 50) would measure
    a state production passes through only in its first minute."""
    from sqlalchemy import text

    from webapp.extensions import db

    with app.app_context():
        db.session.execute(text("ANALYZE"))
        db.session.commit()


@contextmanager
def counted(app: Flask) -> Iterator[dict[str, int]]:
    """Count SQL statements and Redis round trips made while the block runs."""
    from webapp.extensions import db

    counts = {"sql": 0, "redis": 0}
    with app.app_context():
        engine = db.engine

    def on_sql(*_: Any) -> None:
        counts["sql"] += 1

    send, execute = redis.Redis.execute_command, redis.client.Pipeline.execute

    def on_command(self: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        counts["redis"] += 1
        return send(self, *args, **kwargs)

    def on_pipeline(self: redis.client.Pipeline, *args: Any, **kwargs: Any) -> Any:
        counts["redis"] += 1
        return execute(self, *args, **kwargs)

    event.listen(engine, "before_cursor_execute", on_sql)
    redis.Redis.execute_command, redis.client.Pipeline.execute = on_command, on_pipeline
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_sql)
        redis.Redis.execute_command, redis.client.Pipeline.execute = send, execute


def fragment_figures(bench: BenchEnv, client: FlaskClient, job_id: int, fragment: str) -> tuple[float, float, int, int]:
    """(p50 ms, p95 ms, SQL statements, Redis round trips) of one fragment of one job."""
    url, headers = f"/jobs/{job_id}/{fragment}", {"HX-Request": "true"}
    with counted(bench.app) as counts:
        if client.get(url, headers=headers).status_code != 200:
            raise RuntimeError(f"{url} did not answer 200")
    times = []
    for _ in range(FRAGMENT_REQUESTS):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return statistics.median(times), percentile(times, 0.95), counts["sql"], counts["redis"]


def page_cost(repeat: int) -> list[Row]:
    """Item 4: what the job page polls (live: the rows with the summary), and each fragment alone,
    for a 100-record and a 10,000-record running job."""
    rows: list[Row] = []
    with bench_env(FRAGMENT_CACHE_SECONDS="0") as bench:  # the cost of a render, not of a cache hit
        client = logged_in_client(bench.app)
        jobs = {size: seed_running_job(bench.app, size) for size in (SMALL, LARGE)}
        analyze_tables(bench.app)
        for fragment in ("live", "rows", "summary"):
            figures = {size: fragment_figures(bench, client, jobs[size], fragment) for size in (SMALL, LARGE)}
            (p50s, p95s, sqls, rediss), (p50l, p95l, sqll, redisl) = figures[SMALL], figures[LARGE]
            ratio = p95l / p95s
            rows.append(
                (
                    f"{fragment} fragment, {SMALL}-record job (baseline)",
                    f"p95 {p95s:.1f} ms",
                    "1.00×",
                    f"p50 {p50s:.1f} ms; {sqls} SQL, {rediss} Redis",
                )
            )
            rows.append(
                (
                    f"{fragment} fragment, {LARGE:,}-record job",
                    f"p95 {p95l:.1f} ms",
                    f"{ratio:.2f}×",
                    f"p50 {p50l:.1f} ms; {sqll} SQL, {redisl} Redis; goals p95 ratio ≤ 1.5 ({verdict(ratio <= 1.5)}), "
                    f"p95 ≤ 30 ms ({verdict(p95l <= 30)})",
                )
            )
    return rows


def launch_latency(repeat: int) -> list[Row]:
    """Item 5: POST of a 10,000-record PO job, against doing the same and applying its canvas in the request."""
    from tasks.workflows import apply_canvas
    from webapp.extensions import db
    from webapp.jobs.launch import add_listed_records
    from webapp.models import Job, JobRecord

    upload = ("po_number\n" + "\n".join(f"PO-{100_000 + i}" for i in range(LAUNCH_RECORDS)) + "\n").encode()
    posts, in_request = [], []
    with bench_env() as bench:
        client = logged_in_client(bench.app)
        for _ in range(repeat):
            token = csrf_token(client.get("/").get_data(as_text=True))
            start = time.perf_counter()
            response = client.post("/jobs/purchase-orders", data={"csrf_token": token, "file": (io.BytesIO(upload), "pos.csv")})
            posted = time.perf_counter() - start
            if response.status_code != 302:
                raise RuntimeError(f"the launch answered {response.status_code}")
            with bench.app.app_context():  # what the baseline's request does on top: the records, the canvas
                job = db.session.get(Job, db.session.execute(db.select(db.func.max(Job.id))).scalar_one())
                start = time.perf_counter()
                add_listed_records(job)
                db.session.commit()
                ids = list(db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job.id).order_by(JobRecord.seq)).scalars())
                apply_canvas("purchase_orders", job.id, ids)
                applied = time.perf_counter() - start
            posts.append(posted)
            in_request.append(posted + applied)
            bench.purge_queues()
    post, baseline = statistics.median(posts), statistics.median(in_request)
    return [
        (
            f"POST + records + canvas applied in the request, {LAUNCH_RECORDS:,} records (baseline)",
            f"{baseline * 1000:,.0f} ms",
            "1.00×",
            "",
        ),
        (
            "Celeriac POST (job, key list, outbox in one commit; dispatch relayed)",
            f"{post * 1000:,.0f} ms",
            f"{post / baseline:.2f}×",
            f"goal ≤ 200 ms ({verdict(post <= 0.2)})",
        ),
    ]
