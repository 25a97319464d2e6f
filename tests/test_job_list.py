"""The jobs list (dashboard and API): filters by status, kind and operator kept in every URL it
makes, jobs per status, progress and rate of running jobs, durations, the throughput sparkline,
and a live table whose cost does not grow with its running jobs."""

import re
from datetime import timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import auth
from tests.test_api_queries import counted_statements, running_jobs
from webapp.extensions import db
from webapp.models import Job, JobRecord, Operator, TaskRun, utcnow


def make_jobs(app: Flask, *specs: tuple[str, str, str | None]) -> list[int]:
    """Jobs of (status, kind, operator username or None), in order; returns their ids."""
    with app.app_context():
        operators = {op.username: op for op in db.session.execute(db.select(Operator)).scalars()}
        if "vic" not in operators:
            operators["vic"] = Operator(username="vic", password_hash="x")
            db.session.add(operators["vic"])
        jobs = [Job(kind=kind, source="upload", status=status, total=3, created_by=operators.get(name)) for status, kind, name in specs]
        db.session.add_all(jobs)
        db.session.commit()
        return [job.id for job in jobs]


def listed(html: str) -> list[int]:
    """The job ids of the table's rows, in order."""
    return [int(n) for n in re.findall(r'data-job="(\d+)"', html)]


MIXED = [
    ("succeeded", "purchase_orders", "olga"),
    ("failed", "purchase_orders", "vic"),
    ("failed", "bills_of_materials", "olga"),
    ("succeeded", "bills_of_materials", None),
    ("cancelled", "purchase_orders", "olga"),
]


def test_the_table_filters_by_status_kind_and_operator(app: Flask, client: FlaskClient) -> None:
    ids = make_jobs(app, *MIXED)
    assert listed(client.get("/").get_data(as_text=True)) == ids[::-1]
    assert listed(client.get("/?status=failed").get_data(as_text=True)) == [ids[2], ids[1]]
    assert listed(client.get("/jobs-table?kind=bills_of_materials").get_data(as_text=True)) == [ids[3], ids[2]]
    assert listed(client.get("/?operator=olga&kind=purchase_orders").get_data(as_text=True)) == [ids[4], ids[0]]
    empty = client.get("/?status=running").get_data(as_text=True)
    assert listed(empty) == [] and "No job matches these filters" in empty


def test_counts_by_status_follow_the_kind_and_operator_filters(app: Flask, client: FlaskClient) -> None:
    make_jobs(app, *MIXED)
    html = client.get("/jobs-table?operator=olga&status=failed").get_data(as_text=True)
    counts = dict(re.findall(r'data-count="(\w+)"[^>]*>[^<]*<span class="count">(\d+)', html))
    assert counts == {"queued": "0", "running": "0", "awaiting_confirmation": "0", "succeeded": "1"} | {
        "completed_with_failures": "0",
        "failed": "1",
        "cancelled": "1",
    }
    # Each count links to its status with the other filters kept.
    assert 'href="/?status=cancelled&amp;operator=olga"' in html
    api = client.get("/api/jobs?kind=purchase_orders", headers=auth(api_token_of(app))).get_json()
    assert api["status_counts"]["failed"] == 1 and api["status_counts"]["succeeded"] == 1 and api["status_counts"]["cancelled"] == 1


def api_token_of(app: Flask) -> str:
    """A fresh API token for olga."""
    from webapp.models import ApiToken

    with app.app_context():
        row, token = ApiToken.issue(db.session.execute(db.select(Operator).filter_by(username="olga")).scalar_one())
        db.session.add(row)
        db.session.commit()
    return token


def test_paging_and_polling_keep_the_filters(app: Flask, client: FlaskClient) -> None:
    ids = make_jobs(app, *[("failed", "purchase_orders", "olga")] * 27, ("running", "purchase_orders", "olga"))
    first = client.get("/?kind=purchase_orders&operator=olga").get_data(as_text=True)
    assert len(listed(first)) == 25
    assert 'href="/?page=2&amp;kind=purchase_orders&amp;operator=olga"' in first
    assert 'hx-get="/jobs-table?page=1&amp;kind=purchase_orders&amp;operator=olga"' in first  # a running job: the table polls
    second = client.get("/?page=2&kind=purchase_orders&operator=olga").get_data(as_text=True)
    assert listed(second) == ids[:3][::-1]
    assert 'href="/?page=1&amp;kind=purchase_orders&amp;operator=olga"' in second
    failed_only = client.get("/jobs-table?status=failed").get_data(as_text=True)
    assert "hx-get" not in failed_only  # no active job among the failed: no polling


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("status=bogus", "status: 'bogus' is not a job status"),
        ("kind=payroll", "kind: 'payroll' is not a kind of job"),
        ("operator=nobody", "operator: 'nobody' is not the username of an operator"),
        ("operator=" + "x" * 300, "is not the username of an operator"),
    ],
)
def test_a_bad_filter_is_a_400_in_words(app: Flask, client: FlaskClient, api_token: str, query: str, words: str) -> None:
    for path in ("/", "/jobs-table", "/api/jobs"):
        response = client.get(f"{path}?{query}", headers=auth(api_token))
        assert response.status_code == 400, path
        assert words in unescape(response.get_data(as_text=True)), path
    assert words in client.get(f"/api/jobs?{query}", headers=auth(api_token)).get_json()["message"]


def test_the_api_filters_like_the_table(app: Flask, api_token: str) -> None:
    ids = make_jobs(app, *MIXED)
    client = app.test_client()
    body = client.get("/api/jobs?status=failed&kind=purchase_orders&operator=vic", headers=auth(api_token)).get_json()
    assert [job["id"] for job in body["jobs"]] == [ids[1]]
    assert body["filters"] == {"status": "failed", "kind": "purchase_orders", "operator": "vic"}
    assert body["has_more"] is False
    paged = client.get("/api/jobs?per_page=2&page=1", headers=auth(api_token)).get_json()
    assert [job["id"] for job in paged["jobs"]] == ids[:2:-1] and paged["has_more"] is True


def test_a_running_job_shows_progress_rate_and_duration(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status="running", total=50, started_at=utcnow() - timedelta(seconds=100))
        done = Job(kind="purchase_orders", source="upload", status="succeeded", total=1)
        done.started_at, done.finished_at = utcnow() - timedelta(minutes=5), utcnow() - timedelta(minutes=2)
        db.session.add_all([job, done])
        db.session.flush()
        states = ["succeeded"] * 20 + ["pending"] * 30
        db.session.add_all(JobRecord(job_id=job.id, seq=n, key=f"PO-{100000 + n}", state=state) for n, state in enumerate(states, 1))
        db.session.commit()
        running_id, done_id = job.id, done.id
    html = client.get("/jobs-table").get_data(as_text=True)
    row = re.search(rf'data-job="{running_id}".*?</tr>', html, re.S).group(0)
    assert "20 / 50" in row and '<progress max="50" value="20"' in row
    assert re.search(r'class="rate">0\.[12]/s<', row)  # 20 records in about 100 s
    assert re.search(r"1 min 4\d s so far", row)
    finished = re.search(rf'data-job="{done_id}".*?</tr>', html, re.S).group(0)
    assert '<td class="duration">3 min 0 s</td>' in finished


def test_the_sparkline_draws_task_runs_per_minute(app: Flask, client: FlaskClient) -> None:
    now = utcnow()
    with app.app_context():
        for minutes_ago, state in [(1, "SUCCESS"), (1, "SUCCESS"), (3, "FAILURE"), (30, "SUCCESS")]:
            at = now - timedelta(minutes=minutes_ago)
            run = TaskRun(task_id=f"t{minutes_ago}{state}", task_name="tasks.workflows.fetch_po", state=state, started_at=at)
            db.session.add(run)
            run.finished_at = at
        db.session.commit()
    html = client.get("/jobs-table").get_data(as_text=True)
    assert 'data-finished="3" data-failed="1"' in html  # the run 30 minutes ago is outside the 15 minutes
    points = re.search(r'class="spark-finished" points="([^"]+)"', html).group(1).split()
    assert len(points) == 15
    heights = [float(point.split(",")[1]) for point in points]
    assert min(heights) == heights[-2] and max(heights) == heights[0]  # the busiest minute is the top (smallest y)
    assert 'class="spark-failed"' in html and "1 failed" in html


def test_the_live_table_costs_the_same_with_more_running_jobs(app: Flask, client: FlaskClient) -> None:
    running_jobs(app, 2)
    client.get("/jobs-table")  # warm: the operator's cached row
    cached = client.get("/jobs-table")
    with counted_statements(app) as shared:
        client.get("/jobs-table")  # within the second: the counts by status and the sparkline are shared
    assert "10 / 50" in cached.get_data(as_text=True)
    forget_shared(app)
    with counted_statements(app) as few:
        client.get("/jobs-table?kind=purchase_orders&operator=olga&status=running")
    running_jobs(app, 12)
    forget_shared(app)
    with counted_statements(app) as many:
        html = client.get("/jobs-table?kind=purchase_orders&operator=olga&status=running").get_data(as_text=True)
    assert html.count("10 / 50") == 0  # the jobs were made by no one: olga's filter shows none of them
    forget_shared(app)
    with counted_statements(app) as unfiltered:
        html = client.get("/jobs-table").get_data(as_text=True)
    assert html.count("10 / 50") == 14
    assert len(many) == len(few), "\n".join(many)
    assert len(unfiltered) <= 7, "\n".join(unfiltered)
    # the page of jobs, its running jobs' counts and its jobs' ended rounds (the history line); the rest is shared
    assert len(shared) == 3, "\n".join(shared)


def forget_shared(app: Flask) -> None:
    """Drop what the live table shares between viewers for a second, so the next request reads it."""
    app.extensions["fragment_cache"].clear()
