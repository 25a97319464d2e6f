"""The jobs list's filters in a real browser: chosen from the selects (htmx, the URL pushed), kept by
the pager, a reload and the live poll, which drops a job from a "running" list when it ends."""

import re

from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser import log_in
from tests.test_job_list import make_jobs
from webapp.extensions import db
from webapp.models import Job, utcnow


def test_filters_paging_and_live_polling_in_the_browser(app: Flask, operator: tuple[str, str], page: Page) -> None:
    make_jobs(app, *[("failed", "purchase_orders", "olga")] * 27, *[("succeeded", "bills_of_materials", "vic")] * 2)
    running = make_jobs(app, ("running", "purchase_orders", "olga"))[0]
    log_in(page, *operator)
    page.goto("/")
    rows = page.locator("table.jobs tbody tr.job-row")
    expect(rows).to_have_count(25)

    page.locator("form.job-filters select[name=status]").select_option("failed")
    expect(page).to_have_url(re.compile(r"/\?status=failed"))
    expect(page.locator("table.jobs tbody tr.job-row.status-failed")).to_have_count(25)
    expect(rows).to_have_count(25)
    page.get_by_role("link", name="older →").click()
    expect(page).to_have_url(re.compile(r"page=2.*status=failed|status=failed.*page=2"))
    expect(rows).to_have_count(2)
    expect(page.locator("table.jobs tbody tr.job-row.status-failed")).to_have_count(2)
    expect(page.locator("form.job-filters select[name=status]")).to_have_value("failed")

    page.goto("/")
    page.locator("form.job-filters select[name=kind]").select_option("bills_of_materials")
    expect(rows).to_have_count(2)
    page.locator("form.job-filters select[name=operator]").select_option("vic")
    expect(page).to_have_url(re.compile(r"kind=bills_of_materials.*operator=vic"))
    expect(rows).to_have_count(2)
    page.locator("form.job-filters select[name=status]").select_option("failed")
    expect(page.locator(".empty")).to_contain_text("No job matches these filters")
    page.reload()
    expect(page.locator("form.job-filters select[name=operator]")).to_have_value("vic")
    expect(page.locator("form.job-filters select[name=kind]")).to_have_value("bills_of_materials")

    page.goto("/")
    page.locator('.status-counts a[data-count="running"]').click()
    expect(page).to_have_url(re.compile(r"/\?status=running$"))
    expect(rows).to_have_count(1)
    expect(page.locator("#jobs-table")).to_have_attribute("hx-get", re.compile(r"/jobs-table\?page=1&status=running"))
    with app.app_context():
        job = db.session.get(Job, running)
        job.status, job.finished_at = "succeeded", utcnow()
        db.session.commit()
    expect(page.locator(".empty")).to_contain_text("No job matches these filters")  # the next poll, no reload
    expect(page.locator("#jobs-table")).not_to_have_attribute("hx-get", re.compile(".*"))
    expect(page.locator('.status-counts a[data-count="succeeded"] .count')).to_have_text("3")
