"""Honest rows in a real browser: step cells after retries, after a retry of failed records, after a cancel."""

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from devtools.workers import WorkerSet
from tests.browser import TIMEOUT_MS, log_in, start_job_in_browser
from tests.chaos import set_chaos

FAILED_ROUND = re.compile(r"^10 retries, then failed$")  # the workers' FETCH_MAX_RETRIES is 10 (tests/conftest.py)
SUCCEEDED_AFTER = re.compile(r"^success after 12 tries$")  # 11 tries in the first round, 1 in the retry
# 11 in the task log as a rule: the 10 retries and the failure of the first round.
TRACE = re.compile(r"^succeeded after (\d+) errors; last: gave up after 11 attempts: the ERP failed with HTTP 5\d\d$")


def step_cells(page: Page, column: int) -> list[str]:
    """The text of every record row's cell in step column ``column`` (0 is the first step)."""
    return [text.strip() for text in page.locator(f"tr.record td.step:nth-of-type({4 + column})").all_inner_texts()]


def test_step_labels_after_retries_and_a_retry_of_the_failures(
    app: Flask, workers: WorkerSet, operator: tuple[str, str], page: Page, tmp_path: Path
) -> None:
    """An ERP failing every call: each fetch says "10 retries, then failed"; once the ERP is back and
    the failures are retried, "success after 12 tries", the row keeps its errors' trace and the
    summary says the first run failed."""
    log_in(page, *operator)
    numbers = ["PO-100700", "PO-100701", "PO-100702"]
    set_chaos(app, error_rate=1.0)
    try:
        start_job_in_browser(page, tmp_path, numbers)
        expect(page.locator(".job-summary [data-status]")).to_have_attribute("data-status", "failed", timeout=TIMEOUT_MS)
    finally:
        set_chaos(app)
    for column in (0, 1):
        expect(page.locator(f"tr.record td.step:nth-of-type({4 + column})")).to_have_count(3)
    fetch = page.locator("tr.record td.step:nth-of-type(4)")
    for index in range(3):
        expect(fetch.nth(index)).to_have_text(FAILED_ROUND)
    assert step_cells(page, 1) == ["not run"] * 3, "make PO never ran: its record failed at the fetch"
    expect(page.locator("tr.record td.attempts")).to_have_text(["11"] * 3)
    assert "×" not in page.locator(".job-rows").inner_text()

    page.on("dialog", lambda dialog: dialog.accept())  # Retry asks first (tests/test_browser_buttons.py)
    page.get_by_role("button", name="Retry failed records").click()
    expect(page.locator(".job-summary [data-status]")).to_have_attribute("data-status", "succeeded", timeout=TIMEOUT_MS)
    expect(page.locator(".job-summary .history")).to_have_text("succeeded on retry 1 (first run: 3 failed)")
    for index in range(3):
        expect(fetch.nth(index)).to_have_text(SUCCEEDED_AFTER)
        expect(page.locator("tr.record td.error").nth(index)).to_have_text(TRACE)
    assert step_cells(page, 1) == ["success"] * 3
    expect(page.locator("tr.record td.attempts")).to_have_text(["1"] * 3)
    page.screenshot(path=str(tmp_path / "retried-rows.png"), full_page=True)

    traced = TRACE.match(page.locator("tr.record td.error").first.inner_text())
    assert traced and int(traced.group(1)) >= 10, "the trace counts the first round's errors"
    page.locator("tr.record a").first.click()
    expect(page.locator("ol.past-errors li")).to_have_count(int(traced.group(1)))
    page.get_by_role("link", name="Jobs", exact=True).first.click()
    expect(page.locator("table.jobs .history")).to_have_text("succeeded on retry 1 (first run: 3 failed)")


def test_step_labels_after_a_cancel(app: Flask, workers: WorkerSet, operator: tuple[str, str], page: Page, tmp_path: Path) -> None:
    """Records a cancel caught before they ran say "skipped (job cancelled)" in every step, never "skipped ×N"."""
    log_in(page, *operator)
    set_chaos(app, latency_ms=400)
    try:
        start_job_in_browser(page, tmp_path, [f"PO-{n}" for n in range(100800, 100840)])
        page.on("dialog", lambda dialog: dialog.accept())  # Cancel asks first (tests/test_browser_buttons.py)
        page.get_by_role("button", name="Cancel job").click()
        expect(page.locator(".job-summary [data-status]")).to_have_attribute("data-status", "cancelled", timeout=TIMEOUT_MS)
    finally:
        set_chaos(app)
    expect(page.locator('tr.record[data-state="cancelled"]').first).to_be_visible()
    cancelled = [row.locator("td.step").all_inner_texts() for row in page.locator('tr.record[data-state="cancelled"]').all()]
    assert cancelled.count(["skipped (job cancelled)"] * 2) >= 1, cancelled
    # A record whose fetch had finished when the cancel came: the fetch did succeed, nothing was written.
    skipped = "skipped (job cancelled)"
    assert all(cells[1] == skipped and cells[0] in (skipped, "success") for cells in cancelled), cancelled
    done = page.locator('tr.record[data-state="succeeded"] td.step')
    for cell in range(done.count()):
        expect(done.nth(cell)).to_have_text(re.compile(r"^success( after \d+ tries)?$"))
    expect(page.locator(".job-rows")).to_have_count(1)  # a late poll's answer never lands inside the rows
    assert "×" not in page.locator(".job-rows").inner_text()
    page.screenshot(path=str(tmp_path / "cancelled-rows.png"), full_page=True)
