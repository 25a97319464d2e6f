"""The sales ledger end to end, over HTTP to gunicorn as an operator's browser sends it: reports that
share a settlement write each transaction once, in any order, and two confirms at once too."""

import io
import threading
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from devtools.uploads import confirm as press_confirm
from devtools.uploads import post_upload
from devtools.web import logged_in
from devtools.workers import WorkerSet
from tests.recon_corpus.builders import V2_HEADER, dr_file, dr_row, orders_file, tsv, v2_row, v2_summary
from tests.recon_jobs import SETTLEMENT, job_id_of, job_in, report, row, upload
from webapp.extensions import db
from webapp.models import Job, ReconImport, SalesOrder
from webapp.reconciliation.ledger.checks import invariant_problems

ENDED = ("succeeded", "completed_with_failures", "failed", "cancelled")


def cents(n: int) -> int:
    """What transaction ``n`` adds to its sales order: product sales and their tax."""
    return (10 + n) * 100 + 25 + (n % 5) * 100 + 10


class Browser:
    """An operator logged in to the web process, with the application at hand to wait on jobs."""

    def __init__(self, app: Flask, base: str, operator: tuple[str, str], folder: Path) -> None:
        self.app, self.base, self.folder = app, base, folder
        self.session = logged_in(base, *operator)

    def page(self, job_id: int) -> str:
        """The job page's HTML."""
        return self.session.get(f"{self.base}/jobs/{job_id}", timeout=30).text

    def read(self, content: bytes, name: str) -> tuple[int, str]:
        """Upload a report and wait for its preview: (job id, status: awaiting_confirmation or succeeded)."""
        path = self.folder / name
        path.write_bytes(content)
        response = post_upload(self.session, self.base, path)
        assert response.status_code == 302, response.text[:500]
        job_id = job_id_of(response.headers["Location"])
        return job_id, job_in(self.app, job_id, "awaiting_confirmation", "succeeded", "failed").status

    def confirm(self, job_id: int) -> str:
        """Press Confirm on the job page; the job's final status."""
        assert press_confirm(self.session, self.base, job_id).status_code == 302
        return job_in(self.app, job_id, *ENDED).status


@pytest.fixture
def browser(app: Flask, gunicorn: str, operator: tuple[str, str], tmp_path: Path) -> Browser:
    """An operator's browser on the gunicorn web process."""
    return Browser(app, gunicorn, operator, tmp_path)


def erp_cents(app: Flask, state: str = "CA") -> tuple[int, int]:
    """(sum of the ERP's sales order totals, number of sales orders) of the settlement and state."""
    with app.app_context():
        totals = db.session.execute(db.select(SalesOrder.total_cents).filter_by(settlement_id=SETTLEMENT, state=state)).scalars().all()
        return sum(totals), len(totals)


def ledger_holds(app: Flask) -> list[str]:
    """The ledger's invariants as the soak checks them."""
    with app.app_context():
        return invariant_problems()


def preview_of(app: Flask, job_id: int) -> dict:
    """The stored preview of a job's upload."""
    with app.app_context():
        return db.session.execute(db.select(ReconImport.preview).filter_by(job_id=job_id)).scalar_one()


@pytest.mark.parametrize("first_is_a", [True, False], ids=["a-then-b", "b-then-a"])
def test_overlapping_reports_write_each_transaction_once(app: Flask, browser: Browser, workers: WorkerSet,
                                                         first_is_a: bool) -> None:
    """Two ranges sharing a settlement: the second writes only its new transactions, in its own sales order."""
    a, b = report(1, 2, 3, 4, 5, states={5: "TX"}), report(3, 4, 7, 8, 9, states={9: "TX"})
    first, second = (a, b) if first_is_a else (b, a)
    first_job, status = browser.read(first, "first.csv")
    assert status == "awaiting_confirmation" and browser.confirm(first_job) == "succeeded"
    second_job, status = browser.read(second, "second.csv")
    assert status == "awaiting_confirmation"
    ca = next(o for o in preview_of(app, second_job)["orders"] if o["state"] == "CA")
    assert (ca["new"]["rows"], ca["imported"]["rows"], ca["imported"]["jobs"]) == (2, 2, [first_job])
    new_numbers = (7, 8) if first_is_a else (1, 2)
    assert ca["new"]["order_total"] == sum(cents(n) for n in new_numbers)
    page = browser.page(second_job)
    assert "Confirm: write 2 sales orders" in page and f'<a href="/jobs/{first_job}">#{first_job}</a>' in page
    assert browser.confirm(second_job) == "succeeded"
    assert erp_cents(app, "CA") == (sum(cents(n) for n in (1, 2, 3, 4, 7, 8)), 2)
    assert erp_cents(app, "TX") == (cents(5) + cents(9), 2)
    assert ledger_holds(app) == []


def test_disjoint_reports_of_one_settlement_add_up(app: Flask, browser: Browser, workers: WorkerSet) -> None:
    """January and February of one settlement: two sales orders for CA whose sum is every transaction."""
    for name, numbers in (("january.csv", (1, 2, 3)), ("february.csv", (4, 5, 6))):
        job_id, status = browser.read(report(*numbers), name)
        assert status == "awaiting_confirmation" and browser.confirm(job_id) == "succeeded"
    assert erp_cents(app) == (sum(cents(n) for n in range(1, 7)), 2)
    assert ledger_holds(app) == []


def test_report_saved_again_with_other_line_endings_writes_nothing(app: Flask, browser: Browser,
                                                                   workers: WorkerSet) -> None:
    """A new file hash, the same transactions: nothing to write, no Confirm button, the earlier job named."""
    job_id, _ = browser.read(report(1, 2, 3), "report.csv")
    assert browser.confirm(job_id) == "succeeded"
    again, status = browser.read(report(1, 2, 3, newline="\r\n"), "report-windows.csv")
    assert status == "succeeded"
    with app.app_context():
        hashes = db.session.execute(db.select(ReconImport.sha256).where(ReconImport.job_id.in_([job_id, again]))).scalars().all()
        assert len(set(hashes)) == 2, "the bytes differ"
        assert db.session.get(Job, again).total == 0
    page = browser.page(again)
    assert f'Nothing to write: every transaction is already in the ERP (job <a href="/jobs/{job_id}">#{job_id}</a>)' in page
    assert "Confirm: write" not in page
    assert erp_cents(app) == (sum(cents(n) for n in (1, 2, 3)), 1)


def test_identical_rows_count_by_occurrence(app: Flask, browser: Browser, workers: WorkerSet) -> None:
    """Two identical rows, then a file with three of them: the third is new, the other two are not."""
    twice = dr_file([row(1), row(1)]).encode()
    thrice = dr_file([row(1), row(2), row(1), row(1)]).encode()
    job_id, _ = browser.read(twice, "twice.csv")
    assert browser.confirm(job_id) == "succeeded"
    assert erp_cents(app) == (2 * cents(1), 1)
    again, status = browser.read(thrice, "thrice.csv")
    assert status == "awaiting_confirmation"
    ca = preview_of(app, again)["orders"][0]
    assert (ca["new"]["rows"], ca["imported"]["rows"]) == (2, 2)
    assert browser.confirm(again) == "succeeded"
    assert erp_cents(app) == (3 * cents(1) + cents(2), 2)
    assert ledger_holds(app) == []


def test_overlapping_confirms_at_the_same_moment_write_each_transaction_once(
        app: Flask, browser: Browser, workers: WorkerSet, operator: tuple[str, str]) -> None:
    """Both previews say their rows are new; confirmed together, the database's key gives each transaction to one."""
    a, b = report(*range(1, 40)), report(*range(20, 60))
    jobs = [browser.read(content, name)[0] for content, name in ((a, "a.csv"), (b, "b.csv"))]
    operators = [logged_in(browser.base, *operator) for _ in jobs]  # two operators' browsers
    ready = threading.Barrier(len(jobs))
    statuses: dict[int, int] = {}

    def press(session: requests.Session, job_id: int) -> None:
        ready.wait(timeout=30)  # both operators press Confirm at once
        statuses[job_id] = press_confirm(session, browser.base, job_id).status_code

    threads = [threading.Thread(target=press, args=pair) for pair in zip(operators, jobs, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == {jobs[0]: 302, jobs[1]: 302}
    assert [job_in(app, job_id, *ENDED).status for job_id in jobs] == ["succeeded", "succeeded"]
    total, orders = erp_cents(app)
    assert (total, orders) == (sum(cents(n) for n in range(1, 60)), 2), "each file has transactions of its own"
    assert ledger_holds(app) == []


def test_a_settlement_written_from_one_report_format_is_not_written_from_the_other(
        app: Flask, browser: Browser, client: FlaskClient, workers: WorkerSet) -> None:
    """A Date Range row is a whole transaction, a V2 row one of its amounts: they cannot be matched, so the
    V2 file's (settlement, state) already written from a Date Range report is shown blocked, and nothing is written."""
    job_id, _ = browser.read(report(1, 2, 3), "june.csv")
    assert browser.confirm(job_id) == "succeeded"
    order = "114-8829371-4410258"
    v2 = tsv(V2_HEADER, [v2_summary(SETTLEMENT, total="10.80"), v2_row(order_id=order, settlement=SETTLEMENT),
                         v2_row(order_id=order, amount_type="ItemPrice", description="Tax", amount="0.80",
                                settlement=SETTLEMENT)]).encode()
    status, location = upload(client, v2, "settlement.txt", orders=orders_file({order: "CA"}))
    assert status == 302, location
    v2_job = job_id_of(location)
    assert job_in(app, v2_job, "succeeded", "awaiting_confirmation", "failed").status == "succeeded"
    ca = preview_of(app, v2_job)["orders"][0]
    assert ca["new"]["rows"] == 0 and ca["imported"]["jobs"] == [job_id]
    assert ca["blocked"].startswith("sales order #") and "from a Date Range report" in ca["blocked"]
    page = client.get(f"/jobs/{v2_job}").get_data(as_text=True)
    assert "Nothing to write: the ERP holds these settlements and states from imports this report cannot be" in page
    assert erp_cents(app) == (sum(cents(n) for n in (1, 2, 3)), 1)


def test_the_readers_sums_equal_the_staged_rows_sums(app: Flask) -> None:
    """A (settlement, state) new to the ERP takes the reader's own figures; they are what the staged rows add up to."""
    from webapp.models import SettlementState
    from webapp.reconciliation.ledger import comparison, store
    from webapp.reconciliation.previews import reader_figures
    from webapp.reconciliation.reader.read import summarize_report

    content = dr_file([row(n, "TX" if n % 4 == 0 else "CA") for n in range(1, 30)]
                      + [dr_row(kind="Refund", order_id="113-0000002-0000002", sku="SKU-2", quantity="1",
                                state="CA", settlement=SETTLEMENT, product_sales="-12.25", product_sales_tax="-2.10")]
                      + [row(5), row(5)]).encode()
    with app.app_context():
        job = Job(kind="reconciliation", source="upload", total=0)
        db.session.add(job)
        db.session.flush()
        upload_row = ReconImport(job_id=job.id, filename="sums.csv", size_bytes=len(content))
        db.session.add(upload_row)
        db.session.flush()
        with store.staging(upload_row.id) as stage:
            summary = summarize_report(io.BytesIO(content), transactions=stage)
        assert summary.ok, summary.errors
        for (settlement_id, state), order in summary.state_orders.items():
            db.session.add(SettlementState(settlement_id=settlement_id, state=state))  # known: looked up in SQL
            db.session.flush()
            assert comparison.compare_group(upload_row.id, settlement_id, state).new == reader_figures(order), state
        db.session.rollback()
