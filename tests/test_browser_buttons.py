"""Safe buttons and live rows in a real browser: every button that starts, stops or deletes asks
first (dismissed, nothing happens; accepted, it is done), a form error keeps what was typed, and the
job page's rows keep focus, selection and column widths across live swaps."""

import re
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from playwright.sync_api import Dialog, Page, Request, expect

from tests.browser import TIMEOUT_MS, log_in
from tests.jobs import job_count
from tests.schedules import add_schedule, count
from webapp.extensions import db
from webapp.models import Job, JobRecord, Schedule, utcnow

CODES = [f"P-{10100 + n}" for n in range(12)]


class Dialogs:
    """Answers the page's confirm() dialogs, dismissing or accepting as told, and keeps their messages."""

    def __init__(self, page: Page) -> None:
        self.accept, self.messages = False, []
        page.on("dialog", self.answer)

    def answer(self, dialog: Dialog) -> None:
        """Note the question, then answer it."""
        self.messages.append(dialog.message)
        if self.accept:
            dialog.accept()
        else:
            dialog.dismiss()


def posts_to(page: Page, path: str) -> list[str]:
    """The POSTs the page sends to URLs ending in ``path``, as they are sent."""
    sent: list[str] = []

    def note(request: Request) -> None:
        if request.method == "POST" and request.url.split("?")[0].endswith(path):
            sent.append(request.url)

    page.on("request", note)
    return sent


def settled(page: Page) -> None:
    """A round trip to the page: once it answers, any dialog was answered and its request sent."""
    page.evaluate("1")


def job_with(app: Flask, status: str, states: list[str]) -> int:
    """A PO job row with one record in each of ``states`` (no workers run here)."""
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status=status, total=len(states))
        db.session.add(job)
        db.session.flush()
        for seq, state in enumerate(states, 1):
            db.session.add(JobRecord(job_id=job.id, seq=seq, key=f"PO-{100700 + seq}", state=state, started_at=utcnow()))
        db.session.commit()
        return job.id


def job_field(app: Flask, job_id: int, read: Callable[[Job], object]) -> object:
    """One value of the job, read fresh."""
    with app.app_context():
        return read(db.session.get(Job, job_id))


def test_cancel_asks_then_shows_cancelling_at_once(app: Flask, operator: tuple[str, str], page: Page, tmp_path: Path) -> None:
    """Dismissed, the job runs on; accepted, the answer itself shows "cancelling" without its Cancel
    button: the page's polls are refused here, so no poll can have brought it."""
    job_id = job_with(app, "running", ["running", "pending", "pending"])
    log_in(page, *operator)
    page.route(re.compile(r".*/live(\?.*)?$"), lambda route: route.abort())
    page.goto(f"/jobs/{job_id}")
    cancels = posts_to(page, f"/jobs/{job_id}/cancel")
    dialogs = Dialogs(page)
    page.get_by_role("button", name="Cancel job").click()
    settled(page)
    assert len(dialogs.messages) == 1 and dialogs.messages[0].startswith(f"Cancel job #{job_id}?")
    assert cancels == [] and job_field(app, job_id, lambda job: job.cancel_requested_at) is None
    expect(page.locator(".job-summary .badge")).to_have_text("running")

    dialogs.accept = True
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator(".job-summary [data-cancelling]")).to_have_text("cancelling")
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancelling…")).to_be_disabled()
    expect(page.locator(".job-summary .progress-line")).not_to_contain_text("left")
    expect(page.locator("#flashes .flash-success")).to_contain_text(f"Job #{job_id} cancelled")
    expect(page.locator('tr.record[data-state="cancelled"]')).to_have_count(2)
    assert len(dialogs.messages) == 2 and len(cancels) == 1
    assert job_field(app, job_id, lambda job: (job.status, job.cancel_requested_at is not None)) == ("running", True)
    page.screenshot(path=tmp_path / "cancelling.png", full_page=True)


def test_a_refused_cancel_says_why_in_place(app: Flask, operator: tuple[str, str], page: Page) -> None:
    """An expired form token: the answer is a 400, shown as the page's error message; the job runs on
    and its buttons stay (before, nothing at all was shown)."""
    job_id = job_with(app, "running", ["running", "pending", "pending"])
    log_in(page, *operator)
    page.route(re.compile(r".*/live(\?.*)?$"), lambda route: route.abort())
    page.goto(f"/jobs/{job_id}")
    page.evaluate("""() => {
      document.body.setAttribute("hx-headers", JSON.stringify({"X-CSRFToken": "expired"}));
      document.querySelectorAll('input[name="csrf_token"]').forEach(field => { field.value = "expired"; });
    }""")
    dialogs = Dialogs(page)
    dialogs.accept = True
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#flashes .flash-error")).to_contain_text("Form expired or forged: The security token of this form")
    expect(page.get_by_role("button", name="Cancel job")).to_be_visible()
    assert job_field(app, job_id, lambda job: job.cancel_requested_at) is None


def test_retry_failed_asks_first(app: Flask, operator: tuple[str, str], page: Page, no_relay: None) -> None:
    """Dismissed, the failures stay; accepted, they are sent again and the page shows the job queued."""
    job_id = job_with(app, "completed_with_failures", ["succeeded", "failed"])
    log_in(page, *operator)
    page.goto(f"/jobs/{job_id}")
    dialogs = Dialogs(page)
    page.get_by_role("button", name="Retry failed records").click()
    settled(page)
    assert dialogs.messages and dialogs.messages[0].startswith(f"Send the failed records of job #{job_id} again?")
    assert job_field(app, job_id, lambda job: job.status) == "completed_with_failures"

    dialogs.accept = True
    page.get_by_role("button", name="Retry failed records").click()
    expect(page.locator("#flashes .flash-success")).to_have_text("1 failed record sent again.")
    expect(page.locator(".job-summary [data-status]")).to_have_attribute("data-status", "queued")
    assert job_field(app, job_id, lambda job: job.status) == "queued"


def test_pull_pending_asks_with_the_count_the_erp_lists(app: Flask, operator: tuple[str, str], page: Page, no_relay: None) -> None:
    """The card fetches the ERP's count after the page loads and its question names it."""
    log_in(page, *operator)
    count_text = page.locator("#pending-launch .pending-count[data-count]")
    expect(count_text).to_have_count(1)
    listed = int(count_text.get_attribute("data-count") or "0")
    assert listed > 0
    dialogs = Dialogs(page)
    page.get_by_role("button", name="Pull pending POs").click()
    settled(page)
    assert dialogs.messages == [f"Start a job for the {listed} purchase orders the ERP lists as pending?"]
    assert job_count(app) == 0

    dialogs.accept = True
    page.get_by_role("button", name="Pull pending POs").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator(".flash-success")).to_contain_text("pulling the ERP's pending purchase orders")
    assert job_count(app) == 1


def test_schedule_delete_asks_first(app: Flask, operator: tuple[str, str], page: Page) -> None:
    """Dismissed, the schedule stays; accepted, it is deleted."""
    with app.app_context():
        add_schedule(name="nightly POs")
    log_in(page, *operator)
    page.goto("/schedules/")
    dialogs = Dialogs(page)
    page.get_by_role("button", name="Delete").click()
    settled(page)
    assert dialogs.messages and dialogs.messages[0].startswith("Delete the schedule nightly POs")
    with app.app_context():
        assert count(Schedule) == 1

    dialogs.accept = True
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash-success")).to_contain_text("deleted")
    expect(page.locator("tr.schedule-row")).to_have_count(0)
    with app.app_context():
        assert count(Schedule) == 0


def test_a_form_error_keeps_the_typed_codes(app: Flask, operator: tuple[str, str], page: Page, no_relay: None, tmp_path: Path) -> None:
    """13 codes typed with one repeated: the text box keeps all 13 and the warning sits in the BOM
    card; "remove duplicates and start" starts the 12 distinct ones. A bad code keeps them too."""
    typed = "\n".join([*CODES[:6], CODES[2], *CODES[6:]])
    log_in(page, *operator)
    bom = page.locator('form[action$="/jobs/bills-of-materials"]')
    bom.locator("textarea").fill(typed + "\nP-1")
    bom.get_by_role("button", name="Start BOM import").click()
    bom = page.locator('form[action$="/jobs/bills-of-materials"]')
    expect(bom.locator(".errors")).to_contain_text("is not a product code")
    expect(bom.locator("textarea")).to_have_value(typed + "\nP-1")

    bom.locator("textarea").fill(typed)
    bom.get_by_role("button", name="Start BOM import").click()
    bom = page.locator('form[action$="/jobs/bills-of-materials"]')
    expect(bom.locator(".key-warnings")).to_contain_text(f"line 7: {CODES[2]} is repeated (first on line 3)")
    expect(bom.locator("textarea")).to_have_value(typed)
    assert job_count(app) == 0
    page.screenshot(path=tmp_path / "repeat-warning.png", full_page=True)
    bom.get_by_role("button", name="Remove duplicates and start").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator(".flash-success")).to_contain_text("started with 12 products (1 repeated removed)")


SWAPS = """() => {
  window.__swaps = 0;
  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (event.target.classList.contains("job-rows")) window.__swaps += 1;
  });
}"""
WIDTHS = "() => [...document.querySelectorAll('table.records th')].map((th) => Math.round(th.getBoundingClientRect().width))"
SELECT_KEY = """(cell) => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  window.getSelection().removeAllRanges();
  window.getSelection().addRange(range);
}"""


def test_focus_and_selection_survive_three_swaps(app: Flask, operator: tuple[str, str], page: Page, tmp_path: Path) -> None:
    """A running job's rows change under three polls (states, a long error): the focused link stays
    the same focused element, the selected text stays selected, and no column changes width."""
    job_id = job_with(app, "running", ["running", "pending", "pending", "pending"])
    log_in(page, *operator)
    page.goto(f"/jobs/{job_id}")
    page.evaluate(SWAPS)
    link = page.locator("tr.record a").first
    link.focus()
    link.evaluate("(a) => { a.__kept = true; }")
    page.locator("tr.record td:first-child").nth(1).evaluate(SELECT_KEY)
    selected = page.evaluate("() => window.getSelection().toString()")
    assert selected.strip() == "2"
    widths = page.evaluate(WIDTHS)
    for swap, seq in enumerate((4, 3, 1), start=1):
        with app.app_context():
            db.session.execute(
                db.update(JobRecord)
                .where(JobRecord.job_id == job_id, JobRecord.seq == seq)
                .values(state="failed", error="the ERP refused the request for this purchase order (HTTP 422) " * 3)
            )
            db.session.commit()
        expect(page.locator(f"tr.record:nth-child({seq})")).to_have_attribute("data-state", "failed", timeout=TIMEOUT_MS)
        page.wait_for_function(f"() => window.__swaps >= {swap}", timeout=TIMEOUT_MS, polling=100)
    assert page.evaluate("() => window.__swaps") >= 3
    assert page.evaluate("() => document.activeElement && document.activeElement.__kept === true"), "the focused link was replaced"
    assert page.evaluate("() => window.getSelection().toString()") == selected
    assert page.evaluate(WIDTHS) == widths
    page.screenshot(path=tmp_path / "rows-after-swaps.png", full_page=True)
