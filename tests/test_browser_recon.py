"""A reconciliation in a real browser: preview, confirm, and the same transactions again with nothing to write."""

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from devtools.workers import WorkerSet
from tests.browser import log_in
from tests.recon_jobs import report

RECON_FORM = 'form[action$="/jobs/reconciliation"]'


def upload_report(page: Page, path: Path) -> None:
    """Choose the report in the dashboard's reconciliation form and send it; wait for the job page."""
    page.goto("/")
    page.locator(f'{RECON_FORM} input[name="file"]').set_input_files(path)
    page.locator(RECON_FORM).get_by_role("button", name="Upload and preview").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))


def test_confirm_then_nothing_to_write_for_the_same_transactions(
    app: Flask, workers: WorkerSet, operator: tuple[str, str], page: Page, tmp_path: Path  # noqa: F811
) -> None:
    """The preview offers Confirm; once written, the same rows saved with other line endings offer nothing."""
    log_in(page, *operator)
    first = tmp_path / "june.csv"
    first.write_bytes(report(1, 2, 3))
    upload_report(page, first)
    confirm = page.get_by_role("button", name="Confirm: write 1 sales order")
    expect(confirm).to_be_visible()
    confirm.click()
    expect(page.locator(".job-summary .badge[data-status]")).to_have_attribute("data-status", "succeeded")
    first_job = page.url.rsplit("/", 1)[-1]

    again = tmp_path / "june-saved-again.csv"
    again.write_bytes(report(1, 2, 3, newline="\r\n"))
    upload_report(page, again)
    nothing = page.locator(".nothing-new")
    expect(nothing).to_contain_text("Nothing to write: every transaction is already in the ERP")
    expect(nothing.get_by_role("link", name=f"#{first_job}")).to_have_attribute("href", f"/jobs/{first_job}")
    expect(page.get_by_role("button", name=re.compile("^Confirm"))).to_have_count(0)
