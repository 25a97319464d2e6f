"""The task view in a real browser, on a job run by real workers and Redis: from the record page to
a step's task view, AsyncResult's state beside the SQL log's, and along the chain both ways."""

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from devtools.workers import WorkerSet
from tests.browser import log_in
from tests.jobs import finished_job, start
from webapp.extensions import db
from webapp.models import JobRecord, TaskRun

PO_NUMBERS = ["PO-100710", "PO-100711", "PO-100712"]


def chain_of(app: Flask, job_id: int) -> tuple[int, str, str]:
    """The first record of the job, and the task ids of its fetch_po and make_po."""
    with app.app_context():
        record_id = db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job_id).order_by(JobRecord.seq)).scalars().first()
        runs = dict(db.session.execute(db.select(TaskRun.task_name, TaskRun.task_id).where(TaskRun.record_id == record_id)).all())
    return record_id, runs["tasks.workflows.fetch_po"], runs["tasks.workflows.make_po"]


def test_the_task_view_walks_a_chain_with_celery_state(
    app: Flask, workers: WorkerSet, operator: tuple[str, str], page: Page, tmp_path: Path
) -> None:
    """Record page → fetch_po (nothing stored: ignore_result, said plainly) → next step make_po
    (AsyncResult SUCCESS, its group counted alike by Redis and SQL) → previous step back to fetch_po;
    the task id copies to the clipboard."""
    job_id = start(app, PO_NUMBERS)
    assert finished_job(app, job_id).status == "succeeded"
    record_id, fetch_id, make_id = chain_of(app, job_id)
    log_in(page, *operator)

    page.goto(f"/jobs/{job_id}/records/{record_id}")
    page.locator(f'table.runs a.task-link[href="/tasks/{fetch_id}"]').click()
    expect(page).to_have_url(re.compile(f"/tasks/{fetch_id}$"))
    expect(page.locator("h1")).to_have_text("Task fetch_po")
    expect(page.locator("#task-id")).to_have_text(fetch_id)
    expect(page.locator("td.sql-state")).to_have_text("SUCCESS")
    expect(page.locator("td.backend-state")).to_have_text("PENDING")
    expect(page.locator(".backend-note")).to_contain_text("does not store its result (ignore_result)")
    expect(page.locator(".task-facts")).to_contain_text(f"job_id={job_id}, record_id={record_id}")
    page.screenshot(path=tmp_path / "task-fetch.png", full_page=True)

    page.locator("dd.next a.task-link").click()
    expect(page.locator("h1")).to_have_text("Task make_po")
    expect(page.locator("#task-id")).to_have_text(make_id)
    expect(page.locator("td.sql-state")).to_have_text("SUCCESS")
    expect(page.locator("td.backend-state")).to_have_text("SUCCESS")
    expect(page.locator(".backend-note")).to_have_count(0)
    group = page.locator(".group-facts")
    expect(group).to_have_attribute("data-disagrees", "no")
    expect(page.locator(".group-disagrees")).to_have_count(0)
    expect(group.locator("dd a.task-link")).to_have_text("next_window")  # the chord body
    expect(group.locator(".group-celery")).to_have_text(f"{len(PO_NUMBERS)} completed, 0 failed of {len(PO_NUMBERS)}")
    expect(group.locator(".group-sql")).to_contain_text(f"{len(PO_NUMBERS)} ended of {len(PO_NUMBERS)}")
    group_id = group.locator("code").first.inner_text()
    expect(page.locator(".job-batch")).to_contain_text(f"group {group_id}")  # one batch: the job's latest group is this one
    page.screenshot(path=tmp_path / "task-make.png", full_page=True)

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = page.locator("button.copy")
    expect(copy).to_be_visible()
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == make_id

    page.locator("dd.previous a.task-link").click()
    expect(page.locator("h1")).to_have_text("Task fetch_po")
    expect(page.locator("#task-id")).to_have_text(fetch_id)
