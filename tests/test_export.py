"""The records download (webapp/jobs/export.py): each step's state and runs, times with their zone."""

import csv
import io
from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun

STARTED = datetime(2026, 6, 17, 8, 14, 22)
FINISHED = datetime(2026, 6, 17, 8, 14, 25)
FETCH, MAKE = "tasks.workflows.fetch_po", "tasks.workflows.make_po"


def job_with_runs(app: Flask) -> int:
    """A PO job: one record fetched after two retries then made, one whose fetch failed, one never run."""
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status="completed_with_failures", total=3)
        db.session.add(job)
        db.session.flush()
        done = JobRecord(job_id=job.id, seq=1, key="PO-100001", state="succeeded", erp_ref="7", started_at=STARTED, finished_at=FINISHED)
        failed = JobRecord(job_id=job.id, seq=2, key="PO-100002", state="failed", error="HTTP 404: no such PO", started_at=STARTED)
        waiting = JobRecord(job_id=job.id, seq=3, key="PO-100003", state="cancelled")
        db.session.add_all([done, failed, waiting])
        db.session.flush()
        for record, task, state in [(done, FETCH, "RETRY"), (done, FETCH, "RETRY"), (done, FETCH, "SUCCESS"), (done, MAKE, "SUCCESS"),
                                    (failed, FETCH, "FAILURE")]:  # fmt: skip
            db.session.add(TaskRun(task_id=f"t{record.seq}-{task}", task_name=task, job_id=job.id, record_id=record.id, state=state))
        db.session.commit()
        return job.id


@pytest.mark.parametrize("url", ["/jobs/{job}/records.csv", "/api/jobs/{job}/records.csv"])
def test_the_download_has_each_steps_state_and_runs(app: Flask, client: FlaskClient, api_token: str, url: str) -> None:
    job_id = job_with_runs(app)
    response = client.get(url.format(job=job_id), headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0])[:8] == ["seq", "key", "state", "attempts", "fetch", "fetch runs", "make PO", "make PO runs"]
    steps = [(r["key"], r["attempts"], r["fetch"], r["fetch runs"], r["make PO"], r["make PO runs"]) for r in rows]
    assert steps == [  # attempts: the tries of the step the record ended on, as the job page counts them
        ("PO-100001", "1", "success", "3", "success", "1"),
        ("PO-100002", "1", "failure", "1", "", "0"),
        ("PO-100003", "0", "", "0", "", "0"),
    ]


def test_the_download_gives_times_with_their_zone(app: Flask, client: FlaskClient) -> None:
    job_id = job_with_runs(app)
    rows = list(csv.DictReader(io.StringIO(client.get(f"/jobs/{job_id}/records.csv").get_data(as_text=True))))
    assert (rows[0]["started_at"], rows[0]["finished_at"]) == ("2026-06-17T08:14:22Z", "2026-06-17T08:14:25Z")
    assert datetime.fromisoformat(rows[0]["started_at"]).utcoffset().total_seconds() == 0
    assert (rows[1]["finished_at"], rows[2]["started_at"]) == ("", "")
