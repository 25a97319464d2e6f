"""A job's history stays visible: its rounds after "retry failed", past errors of records that later
succeeded, one attempt counter in the rows, the record page, the CSV and the API, and re-runs."""

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import auth, post
from tests.jobs import make_job
from webapp.extensions import db
from webapp.models import Job, JobRecord, JobRound, TaskRun

pytestmark = pytest.mark.usefixtures("no_relay")


def finish(app: Flask, job_id: int, status: str, failed: int) -> None:
    """End the job with its first ``failed`` records failed and the rest succeeded, as finalize would."""
    with app.app_context():
        records = db.session.execute(db.select(JobRecord).where(JobRecord.job_id == job_id).order_by(JobRecord.seq)).scalars().all()
        for record in records:
            record.state = "failed" if record.seq <= failed else "succeeded"
            record.error = f"{record.key} was not found" if record.seq <= failed else None
        job = db.session.get(Job, job_id)
        job.status = status
        job.finished_at = job.started_at = db.func.now()
        db.session.commit()


def test_retry_failed_keeps_the_first_round(app: Flask, client: FlaskClient, api_token: str) -> None:
    """After a retry the job page, the jobs list and the API still say the first run had 3 failures."""
    job_id = make_job(app, "running", records=5)
    finish(app, job_id, "completed_with_failures", failed=3)
    add_runs(app, job_id, [("fetch_po", "f1", 1, "FAILURE", "PO-100001 was not found")])
    assert post(client, f"/jobs/{job_id}/retry-failed") == 302
    with app.app_context():
        ended = db.session.execute(db.select(JobRound).where(JobRound.job_id == job_id)).scalar_one()
        assert (ended.number, ended.status, ended.succeeded, ended.failed, ended.retried_by) == (1, "completed_with_failures", 2, 3, "olga")
    assert "retry 1: queued (first run: 3 failed)" in client.get(f"/jobs/{job_id}").get_data(as_text=True)

    record_id = add_runs(app, job_id, [("fetch_po", "f2", 1, "RETRY", "HTTP 503 (attempt 1 of 9)"), ("fetch_po", "f2", 2, "SUCCESS", None)])
    finish(app, job_id, "succeeded", failed=0)
    words = "succeeded on retry 1 (first run: 3 failed)"
    record_page = client.get(f"/jobs/{job_id}/records/{record_id}").get_data(as_text=True)
    assert "first run · fetch_po, attempt 1: PO-100001 was not found" in record_page
    assert "retry 1 · fetch_po, attempt 1: HTTP 503 (attempt 1 of 9)" in record_page
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert words in page
    assert '<li data-round="1" data-round-status="completed_with_failures">first run: completed with failures' in page
    assert words in client.get(f"/jobs/{job_id}/summary").get_data(as_text=True)
    assert words in client.get("/").get_data(as_text=True)
    one = client.get(f"/api/jobs/{job_id}", headers=auth(api_token)).get_json()
    listed = client.get("/api/jobs", headers=auth(api_token)).get_json()["jobs"][0]
    for job in (one, listed):
        assert (job["status"], job["history"]) == ("succeeded", words)
        assert [(r["name"], r["status"]) for r in job["rounds"]] == [("first run", "completed_with_failures"), ("retry 1", "succeeded")]
        assert job["rounds"][0]["counts"] == {"succeeded": 2, "failed": 3, "cancelled": 0}
        assert job["rounds"][0]["retried_at"].endswith("Z")


def test_a_second_retry_adds_a_round(app: Flask, client: FlaskClient) -> None:
    """Each retry keeps the round it ends, numbered."""
    job_id = make_job(app, "running", records=4)
    finish(app, job_id, "completed_with_failures", failed=3)
    assert post(client, f"/jobs/{job_id}/retry-failed") == 302
    finish(app, job_id, "completed_with_failures", failed=1)
    assert post(client, f"/jobs/{job_id}/retry-failed") == 302
    finish(app, job_id, "succeeded", failed=0)
    assert "succeeded on retry 2 (first run: 3 failed; retry 1: 1 failed)" in client.get("/").get_data(as_text=True)


def test_a_job_never_retried_says_nothing_more(app: Flask, client: FlaskClient, api_token: str) -> None:
    """No history line for a job with one round; the API lists its one round."""
    job_id = make_job(app, "succeeded", records=2)
    assert 'class="history"' not in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    job = client.get(f"/api/jobs/{job_id}", headers=auth(api_token)).get_json()
    assert (job["history"], [r["name"] for r in job["rounds"]]) == (None, ["first run"])


def add_runs(app: Flask, job_id: int, runs: list[tuple[str, str, int, str, str | None]]) -> int:
    """Task runs (task name, task id, attempt, state, error) of the job's first record; its id."""
    with app.app_context():
        record = db.session.execute(db.select(JobRecord).where(JobRecord.job_id == job_id, JobRecord.seq == 1)).scalar_one()
        for name, task_id, attempt, state, error in runs:
            db.session.add(
                TaskRun(
                    task_id=task_id,
                    task_name=f"tasks.workflows.{name}",
                    job_id=job_id,
                    record_id=record.id,
                    state=state,
                    attempt=attempt,
                    error=error,
                )
            )
        db.session.commit()
        return record.id


RETRIED_RUNS = [
    ("fetch_po", "f1", 1, "RETRY", "HTTP 502 (attempt 1 of 9)"),
    ("fetch_po", "f1", 2, "RETRY", "HTTP 503 (attempt 2 of 9)"),
    ("fetch_po", "f1", 3, "RETRY", "HTTP 503 (attempt 3 of 9)"),
    ("fetch_po", "f1", 4, "SUCCESS", None),
    ("make_po", "m1", 1, "SUCCESS", None),
]


def test_a_record_that_succeeded_after_errors_shows_them(app: Flask, client: FlaskClient, api_token: str) -> None:
    """The row keeps a trace of its errors, the record page lists them all; one attempt counter everywhere."""
    job_id = make_job(app, "succeeded", records=2)
    record_id = add_runs(app, job_id, RETRIED_RUNS)
    rows = client.get(f"/jobs/{job_id}/rows").get_data(as_text=True)
    assert '<td class="error">succeeded after 3 errors; last: HTTP 503 (attempt 3 of 9)</td>' in rows
    assert 'data-tries="4">success after 4 tries</td>' in rows
    assert 'data-tries="1">success</td>' in rows
    assert '<td class="attempts">1</td>' in rows, "the first record is on its last step's first attempt"
    assert '<td class="attempts">0</td>' in rows, "the second record has no task run: no attempt"
    page = client.get(f"/jobs/{job_id}/records/{record_id}").get_data(as_text=True)
    assert "Errors on the way (3)" in page and "Succeeded after 3 errors" in page
    assert page.index("HTTP 502 (attempt 1 of 9)") < page.index("HTTP 503 (attempt 2 of 9)") < page.index("HTTP 503 (attempt 3 of 9)")
    record = client.get(f"/api/jobs/{job_id}/records", headers=auth(api_token)).get_json()["records"][0]
    assert (record["attempts"], record["past_errors"]) == (1, 3)
    assert record["error_text"] == "succeeded after 3 errors; last: HTTP 503 (attempt 3 of 9)"
    assert [(s["label"], s["tries"], s["runs"]) for s in record["steps"]] == [("success after 4 tries", 4, 4), ("success", 1, 1)]
    exported = list(csv.DictReader(io.StringIO(client.get(f"/jobs/{job_id}/records.csv").get_data(as_text=True))))
    assert [(r["attempts"], r["error"]) for r in exported] == [("1", record["error_text"]), ("0", "")]


def test_a_retrying_record_counts_one_way(app: Flask, client: FlaskClient, api_token: str) -> None:
    """Status words, the Attempts cell, the step cell, the API and the CSV give the same attempt."""
    job_id = make_job(app, "running", records=1)
    add_runs(app, job_id, RETRIED_RUNS[:2])
    with app.app_context():
        record = db.session.execute(db.select(JobRecord)).scalar_one()
        record.state, record.error, record.retry_at = "retrying", "HTTP 503 (attempt 2 of 9)", db.func.now()
        db.session.commit()
    rows = client.get(f"/jobs/{job_id}/rows").get_data(as_text=True)
    assert "retrying: attempt 2 of 9 failed, next at" in rows
    assert '<td class="attempts">2</td>' in rows and "retrying after 2 failed tries" in rows
    assert client.get(f"/api/jobs/{job_id}/records", headers=auth(api_token)).get_json()["records"][0]["attempts"] == 2
    exported = list(csv.DictReader(io.StringIO(client.get(f"/jobs/{job_id}/records.csv").get_data(as_text=True))))
    assert exported[0]["attempts"] == "2"


def test_a_rerun_links_to_what_it_reruns(app: Flask, client: FlaskClient) -> None:
    """The re-run's page names the job it re-runs, with a link."""
    first = make_job(app, "succeeded", records=2)
    assert post(client, f"/jobs/{first}/rerun") == 302
    with app.app_context():
        second = db.session.execute(db.select(Job.id).where(Job.rerun_of_id == first)).scalar_one()
    page = client.get(f"/jobs/{second}").get_data(as_text=True)
    assert f'<dt>Re-runs</dt><dd class="rerun-of"><a href="/jobs/{first}">job #{first}</a>' in page
    assert "rerun-of" not in client.get(f"/jobs/{first}").get_data(as_text=True)


def test_a_reconciliation_offers_no_rerun(app: Flask, client: FlaskClient, api_token: str) -> None:
    """A failed reconciliation has no Re-run button, and a re-run asked for anyway is refused in words."""
    with app.app_context():
        job = Job(kind="reconciliation", source="upload", status="failed", total=0, error="line 3: the date is not a date")
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Re-run as a new job" not in page and "Download CSV" in page
    response = client.post(f"/api/jobs/{job_id}/rerun", headers=auth(api_token))
    assert response.status_code == 409
    assert "upload its report again" in response.get_json()["error"]
    assert post(client, f"/jobs/{job_id}/rerun") == 302
    assert "upload its report again" in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(Job)).scalar_one() == 1
