"""The layout in a real browser: no sideways page scroll on a phone, launch cards that hold their
text on a laptop, PO numbers on one line, and the favicon served."""

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser import log_in
from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun, utcnow

# No worker runs in this module: the jobs are written as rows, and nothing is published.
pytestmark = pytest.mark.usefixtures("no_relay")

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}
PAGE_OVERFLOW = "() => document.scrollingElement.scrollWidth - window.innerWidth"
CARD_OVERFLOW = """() => [...document.querySelectorAll('.launch-forms .card')]
  .map(card => ({title: card.querySelector('h3').textContent, over: card.scrollWidth - card.clientWidth}))
  .filter(card => card.over > 0)"""
CUT_OFF_TEXT = """() => [...document.querySelectorAll('.launch-forms .card *')]
  .filter(el => el.getBoundingClientRect().right > el.closest('.card').getBoundingClientRect().right + 0.5)
  .map(el => el.tagName + ': ' + el.textContent.trim().slice(0, 40))"""
KEY_LINES = """() => [...document.querySelectorAll('tr.record td:nth-child(2) a')]
  .filter(a => a.getClientRects().length > 1).map(a => a.textContent)"""
LONG_ERROR = "gave up after 9 attempts: HTTP 503 from the ERP (Service Unavailable: the upstream timed out) " * 2


def busy_job(app: Flask) -> int:
    """A running PO job whose rows carry long errors and retries, as a flaky ERP leaves them."""
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status="running", total=12, input_name="purchase-orders-week-49.csv")
        db.session.add(job)
        db.session.flush()
        for seq in range(1, 13):
            state = ("succeeded", "failed", "retrying", "pending")[seq % 4]
            record = JobRecord(job_id=job.id, seq=seq, key=f"PO-{100000 + seq}", state=state)
            record.error = LONG_ERROR if state in ("failed", "retrying") else None
            record.erp_ref = str(seq) if state == "succeeded" else None
            db.session.add(record)
            db.session.flush()
            started = utcnow() - timedelta(seconds=30)
            for attempt in (1, 2):
                db.session.add(
                    TaskRun(
                        task_id=f"task-{seq}-{attempt}", task_name="tasks.workflows.fetch_po", job_id=job.id, record_id=record.id,
                        state="RETRY" if attempt == 1 else "SUCCESS", attempt=attempt, started_at=started, finished_at=started,
                    )
                )  # fmt: skip
        db.session.commit()
        return job.id


def test_no_sideways_page_scroll_on_a_phone(app: Flask, operator: tuple[str, str], page: Page, tmp_path: Path) -> None:
    """At 390×844 the dashboard and the job page fit the screen: wide tables scroll inside themselves."""
    job_id = busy_job(app)
    page.set_viewport_size(PHONE)
    log_in(page, *operator)
    expect(page.locator("table.jobs")).to_be_visible()
    assert page.evaluate(PAGE_OVERFLOW) <= 0, "the dashboard scrolls sideways on a phone"
    page.screenshot(path=tmp_path / "dashboard-390.png", full_page=True)  # after the measure: a full-page shot resizes the view
    page.goto(f"/jobs/{job_id}")
    expect(page.locator("tr.record")).to_have_count(12)
    assert page.evaluate(PAGE_OVERFLOW) <= 0, "the job page scrolls sideways on a phone"
    table = page.locator("table.records")
    assert table.evaluate("t => t.scrollWidth > t.clientWidth"), "the records table should be wider than the phone, and scroll"
    assert page.evaluate(KEY_LINES) == [], "a PO number broke over two lines"
    page.screenshot(path=tmp_path / "job-390.png", full_page=True)


def test_launch_cards_hold_their_text_on_a_laptop(operator: tuple[str, str], page: Page, tmp_path: Path) -> None:
    """At 1366×900 no launch card's content runs past its edge ("(a po_number colum" cut off)."""
    page.set_viewport_size(LAPTOP)
    log_in(page, *operator)
    expect(page.locator(".launch-forms .card")).to_have_count(4)
    page.locator(".launch").screenshot(path=tmp_path / "launch-cards-1366.png")
    assert page.evaluate(CARD_OVERFLOW) == []
    assert page.evaluate(CUT_OFF_TEXT) == []
    buttons = page.locator(".launch-forms .card button[type=submit]")
    tops = {round(box["y"] + box["height"]) for box in (buttons.nth(i).bounding_box() for i in range(buttons.count()))}
    assert len(tops) == 1, f"the cards' buttons are not aligned: their bottoms are at {sorted(tops)}"


def test_the_favicon_is_linked_and_served(operator: tuple[str, str], page: Page) -> None:
    """Every page links the icon, and it is served (no 404 in each page's log)."""
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    log_in(page, *operator)
    expect(page.locator(".who")).to_be_visible()
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href and href.endswith(".svg")
    response = page.request.get(href)
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")
    assert page.request.get("/favicon.ico").status == 200
    assert missing == []
