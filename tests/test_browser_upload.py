"""The reconciliation upload in a real browser: progress with bytes sent, cancel, and the server's refusals."""

import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from devtools.waiting import wait_for
from tests.browser import TIMEOUT_MS, log_in
from tests.jobs import job_count
from webapp.extensions import db
from webapp.models import Job

# The live server runs in this process: its read task stays in the outbox (no worker runs in this module).
pytestmark = pytest.mark.usefixtures("no_relay")

FORM = 'form[action$="/jobs/reconciliation"]'
PROGRESS_TEXT = re.compile(r"^\d+\.\d MB of 2[01]\.\d MB, \d+ %$")  # the whole body: the file and the form fields
MID_UPLOAD = f"""() => {{
  const bar = document.querySelector('{FORM} .upload-progress progress');
  return bar && bar.value >= 5 && bar.value < 90;
}}"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60,000-row Date Range report (20.9 MB, twice the limit of every other form)."""
    from scripts.make_date_range_report import write_report

    path = tmp_path_factory.mktemp("browser-upload") / "date-range-60k.csv"
    with open(path, "wb") as out:
        write_report(out, 60_000, seed=4)
    return path


def throttle_uploads(page: Page, bytes_per_second: int) -> None:
    """Limit the tab's upload speed (Chromium's network emulation), so progress can be watched."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_second})


def choose(page: Page, path: Path) -> None:
    """Open the dashboard and pick ``path`` in the reconciliation form."""
    page.goto("/")
    page.locator(f'{FORM} input[name="file"]').set_input_files(str(path))


def test_progress_then_the_job_page(app: Flask, operator: tuple[str, str], page: Page, report: Path,  # noqa: F811
                                    tmp_path: Path) -> None:
    """The bar advances with bytes sent in words, then the job page opens with its flash."""
    log_in(page, *operator)
    throttle_uploads(page, 4_000_000)  # ~5 s for 20.9 MB
    choose(page, report)
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_function(MID_UPLOAD, timeout=TIMEOUT_MS, polling=50)
    first = page.locator(f"{FORM} .upload-progress progress").evaluate("bar => bar.value")
    text = page.locator(f"{FORM} .upload-progress-text").text_content() or ""
    assert PROGRESS_TEXT.match(text), text
    page.locator(FORM).screenshot(path=tmp_path / "upload-progress.png")
    page.wait_for_function(f"() => document.querySelector('{FORM} .upload-progress progress')?.value > {first} "
                           "|| !location.pathname.endsWith('/')", timeout=TIMEOUT_MS, polling=50)
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"), timeout=TIMEOUT_MS)
    expect(page.locator(".flash-success")).to_contain_text(f"reading {report.name}")
    assert job_count(app) == 1


def test_cancel_during_the_upload_starts_nothing(app: Flask, operator: tuple[str, str], page: Page, report: Path) -> None:  # noqa: F811
    """Cancel aborts the request mid-way: no job; the form then uploads the next file as usual."""
    log_in(page, *operator)
    throttle_uploads(page, 1_000_000)  # ~21 s: plenty of time to cancel
    choose(page, report)
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_function(MID_UPLOAD, timeout=TIMEOUT_MS, polling=50)
    page.get_by_role("button", name="Cancel upload").click()
    expect(page.locator(f"{FORM} .upload-progress-text")).to_have_text("Upload cancelled: nothing was started.", timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Cancel upload")).to_be_hidden()
    assert page.url.endswith("/")
    throttle_uploads(page, -1)
    small = report.with_name("small.csv")
    small.write_bytes(b"".join(report.open("rb").readlines()[:40]))
    page.locator(f'{FORM} input[name="file"]').set_input_files(str(small))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"), timeout=TIMEOUT_MS)
    # The cancelled request has ended on the server by now or fails later: either way it made no job.
    assert wait_for(lambda: job_count(app) == 1, message="the second upload's job only")
    with app.app_context():
        assert db.session.execute(db.select(Job.input_name)).scalar_one() == "small.csv"


def test_refusals_are_shown_in_place(app: Flask, operator: tuple[str, str], page: Page, report: Path, tmp_path: Path) -> None:  # noqa: F811
    """A wrong file type shows the form's errors, a forged token the error page, a file over the
    limit its message (from the browser's own check, and from the server's 413); no job."""
    log_in(page, *operator)
    sheet = tmp_path / "report.xlsx"
    sheet.write_bytes(b"PK\x03\x04 not a report")
    choose(page, sheet)
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator(".errors")).to_contain_text("is not a report file")

    choose(page, report)
    page.locator(f'{FORM} input[name="csrf_token"]').evaluate("field => field.value = 'forged'")
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator(".error-page")).to_contain_text("Form expired or forged")

    choose(page, report)
    page.locator(FORM).evaluate("form => form.dataset.maxBytes = '5000000'")
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator(f"{FORM} .upload-progress-text")).to_have_text("The upload is larger than the limit of 5.0 MB.")

    choose(page, report)
    app.config["RECON_MAX_UPLOAD_BYTES"] = 5 * 1024 * 1024
    try:
        page.get_by_role("button", name="Upload and preview").click()
        expect(page.locator(f"{FORM} .upload-failed")).to_be_visible(timeout=TIMEOUT_MS)
    finally:
        app.config["RECON_MAX_UPLOAD_BYTES"] = 1024 * 1024 * 1024
    expect(page.locator(f"{FORM} .upload-progress-text")).to_have_text("The upload is larger than the limit of 5 MB.")
    assert page.url.endswith("/")
    assert job_count(app) == 0
