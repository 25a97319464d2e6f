"""A job's own trouble before it has records: the dispatch step's retries on the job page, the jobs
list and the API; and what the ERP lists is checked before anything is fetched with it.

Real workers against real Redis and the sandbox ERP served by its own server in this process. A
tap in front of the sandbox records the API paths it is asked for and, while told to, answers the
pending list with HTTP 502.
"""

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.chaos import set_chaos
from tests.jobs import finished_job
from webapp.extensions import db
from webapp.jobs.launch import launch_job
from webapp.models import JobRecord, TaskRun
from webapp.sandbox import data

LISTED = ["PO-100007", "PO-100014", "PO-100021"]
BAD_KEY = "../../metrics?x="


class SandboxTap:
    """WSGI middleware before the sandbox app: records the raw API URLs asked for; fails the pending list on demand."""

    def __init__(self, inner: Callable[..., Iterable[bytes]]) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.requested: list[str] = []
        self.fail_listing = False
        self.failed = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/sandbox/api/"):
            with self.lock:
                self.requested.append(environ.get("RAW_URI") or environ.get("REQUEST_URI") or path)
                if self.fail_listing and path == "/sandbox/api/purchase-orders":
                    self.failed += 1
                    start_response("502 Bad Gateway", [("Content-Type", "application/json")])
                    return [b'{"error": "bad gateway"}']
        return self.inner(environ, start_response)


@pytest.fixture
def tap(sandbox_app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxTap]:
    """The tap in front of the sandbox ERP's server, for one test."""
    tap = SandboxTap(sandbox_app.wsgi_app)
    monkeypatch.setattr(sandbox_app, "wsgi_app", tap)
    yield tap


def pending_job(app: Flask) -> int:
    """Launch a job of the ERP's pending POs as the dashboard's button does; return its id."""
    with app.app_context():
        return launch_job("purchase_orders", "pending", [], None).id


def dispatch_line(html: str) -> tuple[str, int, str] | None:
    """(state, attempt, words) of the dispatch line in a page, or None."""
    match = re.search(r'data-dispatch-state="(\w+)" data-attempt="(\d+)">([^<]*)<', html)
    return (match.group(1), int(match.group(2)), match.group(3)) if match else None


def retrying(html: str) -> tuple[str, int, str] | None:
    """The dispatch line if it shows a retry after at least two failed attempts."""
    line = dispatch_line(html)
    return line if line and line[0] == "RETRY" and line[1] >= 2 else None


def test_listing_retries_show_then_the_job_runs(app: Flask, workers: WorkerSet, tap: SandboxTap, client: FlaskClient,
                                                api_token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the pending list answers 502, the page, the list and the API show the dispatch's retry; then it runs."""
    set_chaos(app)
    monkeypatch.setattr(data, "pending_po_numbers", lambda limit=None: list(LISTED))
    tap.fail_listing = True
    job_id = pending_job(app)
    wait_for(lambda: tap.failed >= 3, timeout=30, message="three failed listings")

    state, attempt, words = wait_for(lambda: retrying(client.get(f"/jobs/{job_id}").get_data(as_text=True)),
                                     timeout=20, message="the job page to show the dispatch's retry")
    assert re.fullmatch(rf"listing pending purchase orders from the ERP: retry {attempt} at \d\d:\d\d:\d\d "
                        r"\(the ERP failed with HTTP 502\)", words), words
    assert "<strong>0</strong> of 0 records done" in client.get(f"/jobs/{job_id}/summary").get_data(as_text=True)
    listed = wait_for(lambda: retrying(client.get("/jobs-table").get_data(as_text=True)),
                      timeout=20, message="the jobs list to show the dispatch's retry")
    assert "HTTP 502" in listed[2]

    def api_retry() -> dict[str, Any] | None:
        dispatch = client.get(f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {api_token}"}).get_json()["dispatch"]
        return dispatch if dispatch and dispatch["state"] == "RETRY" and dispatch["attempt"] >= 2 else None

    dispatch = wait_for(api_retry, timeout=20, message="the API to show the dispatch's retry")
    assert dispatch["error"] == "the ERP failed with HTTP 502"
    assert dispatch["retry_at"].endswith("Z") and dispatch["text"].startswith("listing pending purchase orders")

    tap.fail_listing = False
    job = finished_job(app, job_id, timeout=60)
    assert (job.status, job.total) == ("succeeded", len(LISTED))
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "data-dispatch-state" not in page, "the dispatch line is for queued jobs only"
    final = client.get(f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {api_token}"}).get_json()["dispatch"]
    assert final["state"] == "SUCCESS" and final["attempt"] > attempt


def test_a_listed_key_that_is_not_a_key_fails_its_record(app: Flask, workers: WorkerSet, tap: SandboxTap,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`../../metrics?x=` in the pending list fails its record with the reason; no other URL is requested."""
    set_chaos(app)
    monkeypatch.setattr(data, "pending_po_numbers", lambda limit=None: [LISTED[0], BAD_KEY, LISTED[1]])
    job = finished_job(app, pending_job(app), timeout=60)
    assert job.status == "completed_with_failures"
    with app.app_context():
        records = {r.key: r for r in db.session.execute(db.select(JobRecord).where(JobRecord.job_id == job.id)).scalars()}
        bad_runs = db.session.execute(
            db.select(db.func.count()).select_from(TaskRun).where(TaskRun.record_id == records[BAD_KEY].id)
        ).scalar_one()
    assert {key: r.state for key, r in records.items()} == {LISTED[0]: "succeeded", BAD_KEY: "failed", LISTED[1]: "succeeded"}
    assert records[BAD_KEY].error == "not fetched: the ERP listed '../../metrics?x=' is not a PO number (expected e.g. PO-100042)"
    assert bad_runs == 0, "no step ran for the bad key"
    assert sorted(tap.requested) == sorted(["/sandbox/api/purchase-orders?status=pending",
                                            f"/sandbox/api/purchase-orders/{LISTED[0]}",
                                            f"/sandbox/api/purchase-orders/{LISTED[1]}"])


def test_latest_dispatch_run_of_each_job_in_words(app: Flask, client: FlaskClient) -> None:
    """Each queued job shows its own latest dispatch run, record steps' runs ignored; no run: waiting."""
    from datetime import datetime

    from webapp.jobs.dispatch_status import dispatch_views
    from webapp.jobs.kinds import DISPATCH_TASK
    from webapp.models import Job

    due = datetime(2026, 12, 7, 9, 2, 34)
    with app.app_context():
        listing, lost, fresh = (Job(kind="purchase_orders", source=source, total=total)
                                for source, total in (("pending", 0), ("upload", 2), ("upload", 1)))
        db.session.add_all([listing, lost, fresh])
        db.session.flush()
        db.session.add_all([
            TaskRun(task_id="d1", task_name=DISPATCH_TASK, job_id=listing.id, state="RETRY", attempt=4, retry_at=due, error="old"),
            TaskRun(task_id="d1", task_name=DISPATCH_TASK, job_id=listing.id, state="RETRY", attempt=5, retry_at=due,
                    error="the ERP failed with HTTP 502"),
            TaskRun(task_id="d2", task_name=DISPATCH_TASK, job_id=lost.id, state="LOST", attempt=1),
            TaskRun(task_id="f1", task_name="tasks.workflows.fetch_po", job_id=lost.id, state="RETRY", attempt=3),
        ])
        db.session.commit()
        views = dispatch_views([listing, lost, fresh])
        ids = listing.id, lost.id, fresh.id
    assert views[ids[0]].text == "listing pending purchase orders from the ERP: retry 5 at 09:02:34 (the ERP failed with HTTP 502)"
    assert (views[ids[1]].state, views[ids[1]].text) == (
        "LOST", "making its records and sending them to the workers: its worker died during attempt 1; it will be sent again")
    assert ids[2] not in views
    table = client.get("/jobs-table").get_data(as_text=True)
    assert "retry 5 at 09:02:34 (the ERP failed with HTTP 502)" in table and "its worker died during attempt 1" in table
    assert 'data-dispatch-state="waiting">waiting for a worker to start it' in table
