"""The pages in a real browser: login, CSV upload, and the job page updating live over htmx."""

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Frame, Page, expect

from devtools.workers import WorkerSet
from tests.browser import TIMEOUT_MS, log_in, start_job_in_browser
from tests.chaos import set_chaos

PO_NUMBERS = [f"PO-{n}" for n in range(100300, 100348)]  # one page of rows; 3 rounds of the 16 fetch threads
NOT_SUCCEEDED_YET = """() => {
  const rows = document.querySelectorAll("tr.record");
  const done = document.querySelectorAll('tr.record[data-state="succeeded"]');
  return done.length >= 1 && done.length < rows.length;
}"""
POLLING_STOPPED = "() => !document.querySelector('.job-summary[hx-trigger], .job-rows[hx-trigger]')"


def test_upload_then_watch_the_job_live(app: Flask, workers: WorkerSet, operator: tuple[str, str], page: Page, tmp_path: Path) -> None:
    """Upload a CSV in the browser; rows and summary update in place until the job ends, then polling stops."""
    log_in(page, *operator)
    expect(page.locator(".who")).to_have_text(operator[0])
    csv = tmp_path / "pos.csv"
    csv.write_text("po_number\n" + "\n".join(PO_NUMBERS) + "\n")
    set_chaos(app, latency_ms=600, error_rate=0.1)  # slow (under the tests' 1 s ERP timeout) and flaky: the job spans several polls
    try:
        page.locator('form[action$="/jobs/purchase-orders"] input[name="file"]').set_input_files(csv)
        page.get_by_role("button", name="Upload and start").click()
        expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
        expect(page.locator(".flash-success")).to_contain_text(f"{len(PO_NUMBERS)} purchase orders")
        navigations: list[str] = []

        def count_navigation(frame: Frame) -> None:
            """Note every navigation of the page itself (htmx swaps are not navigations)."""
            if frame == page.main_frame:
                navigations.append(frame.url)

        page.on("framenavigated", count_navigation)
        page.evaluate("window.__marker = 1")

        page.wait_for_function(NOT_SUCCEEDED_YET, timeout=TIMEOUT_MS, polling=100)
        page.screenshot(path=tmp_path / "job-running.png", full_page=True)
        expect(page.locator("[data-status]")).to_have_attribute("data-status", "succeeded", timeout=TIMEOUT_MS)
        page.wait_for_function(POLLING_STOPPED, timeout=TIMEOUT_MS, polling=100)
    finally:
        set_chaos(app)

    assert page.evaluate("window.__marker") == 1, "the job page was reloaded instead of updated in place"
    assert navigations == [], "the job page navigated while the job ran"
    expect(page.locator('tr.record[data-state="succeeded"]')).to_have_count(len(PO_NUMBERS))
    for fragment in (page.locator(".job-summary"), page.locator(".job-rows")):
        expect(fragment).to_have_count(1)
        assert fragment.get_attribute("hx-trigger") is None
        assert fragment.get_attribute("hx-get") is None
    page.screenshot(path=tmp_path / "job-done.png", full_page=True)

    page.locator("tr.record a").first.click()
    expect(page.locator("table.runs tbody tr.run").first).to_be_visible()
    page.screenshot(path=tmp_path / "record.png", full_page=True)
    page.get_by_role("link", name="Jobs", exact=True).first.click()
    expect(page.locator("table.jobs .badge.status-succeeded")).to_have_count(1)
    page.screenshot(path=tmp_path / "dashboard.png", full_page=True)
    page.set_viewport_size({"width": 800, "height": 900})
    page.screenshot(path=tmp_path / "dashboard-800.png", full_page=True)


def test_login_required_and_wrong_password(operator: tuple[str, str], page: Page, tmp_path: Path) -> None:
    """A logged-out browser is sent to the login page; a wrong password is refused with an error flash."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login(\?|$)"))
    expect(page.locator(".flash")).to_have_text("Please log in to use the console.")
    expect(page.locator(".topbar .logout")).to_have_count(0)
    log_in(page, operator[0], "not the password")
    expect(page).to_have_url(re.compile(r"/login(\?|$)"))
    expect(page.locator(".flash-error")).to_have_text("Wrong username or password.")
    expect(page.locator(".who")).to_have_count(0)
    page.screenshot(path=tmp_path / "login-refused.png", full_page=True)


def test_cancel_then_retry_failed_in_the_browser(
    app: Flask, workers: WorkerSet, operator: tuple[str, str], page: Page, tmp_path: Path
) -> None:
    """Cancel a slow job from its page; then a job with missing POs is fixed and its failures retried
    from the buttons its page got when the job ended."""
    log_in(page, *operator)
    page.on("dialog", lambda dialog: dialog.accept())  # both buttons ask first (tests/test_browser_buttons.py)
    set_chaos(app, latency_ms=400)
    try:
        start_job_in_browser(page, tmp_path, [f"PO-{n}" for n in range(100500, 100540)])
        page.get_by_role("button", name="Cancel job").click()
        expect(page.locator(".flash-success")).to_contain_text("cancelled")
        expect(page.locator(".job-summary [data-status]")).to_have_attribute("data-status", "cancelled")
        expect(page.locator('tr.record[data-state="cancelled"]').first).to_be_visible()
    finally:
        set_chaos(app)

    missing = ["PO-100600", "PO-100601"]
    set_chaos(app, missing_keys=",".join(missing))
    try:
        start_job_in_browser(page, tmp_path, [*missing, "PO-100602", "PO-100603"])
        expect(page.locator(".job-summary [data-status]")).to_have_attribute("data-status", "completed_with_failures")
    finally:
        set_chaos(app)
    # No reload: the last poll swapped the ended job's buttons in, with this operator's CSRF token.
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    page.get_by_role("button", name="Retry failed records").click()
    expect(page.locator(".flash-success")).to_contain_text("2 failed records sent again")
    expect(page.locator(".job-summary [data-status]")).to_have_attribute("data-status", "succeeded")
    expect(page.locator('tr.record[data-state="succeeded"]')).to_have_count(4)
    page.screenshot(path=str(tmp_path / "retried.png"), full_page=True)
