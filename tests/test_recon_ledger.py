"""The sales ledger end to end: reports that share a settlement write each transaction once, in any order."""

import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tasks.ledger import invariant_problems
from tests.conftest import csrf_token
from tests.helpers import WorkerSet
from tests.recon_corpus.builders import dr_file, dr_row
from tests.test_recon_job import job_id_of, job_in, upload
from webapp.extensions import db
from webapp.models import Job, ReconImport, SalesOrder

SETTLEMENT = "24702193891"
ENDED = ("succeeded", "completed_with_failures", "failed", "cancelled")


def row(n: int, state: str = "CA", copy: int = 0) -> list[str]:
    """Transaction ``n`` of the settlement: its own order, second and amounts (``copy`` changes nothing)."""
    return dr_row(order_id=f"113-{n:07d}-{n:07d}", when=f"Jun {1 + n % 28}, 2026 1:{n % 60:02d}:07 AM PDT",
                  sku=f"SKU-{n % 3}", state=state, settlement=SETTLEMENT, product_sales=f"{10 + n}.25",
                  product_sales_tax=f"{n % 5}.10")


def cents(n: int) -> int:
    """What transaction ``n`` adds to its sales order: product sales and their tax."""
    return (10 + n) * 100 + 25 + (n % 5) * 100 + 10


def report(*numbers: int, newline: str = "\n", states: dict[int, str] | None = None) -> bytes:
    """A Date Range report of the given transactions (CA unless ``states`` says otherwise)."""
    return dr_file([row(n, (states or {}).get(n, "CA")) for n in numbers], newline=newline).encode()


def read(app: Flask, client: FlaskClient, content: bytes, name: str) -> tuple[int, str]:
    """Upload a report and wait for its preview: (job id, status: awaiting_confirmation or succeeded)."""
    status, location = upload(client, content, name=name)
    assert status == 302, location
    job_id = job_id_of(location)
    return job_id, job_in(app, job_id, "awaiting_confirmation", "succeeded", "failed").status


def confirm(app: Flask, client: FlaskClient, job_id: int) -> str:
    """Confirm through the form with its CSRF token; the job's final status."""
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert client.post(f"/jobs/{job_id}/confirm", data={"csrf_token": csrf_token(page)}).status_code == 302
    return job_in(app, job_id, *ENDED).status


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
def test_overlapping_reports_write_each_transaction_once(app: Flask, client: FlaskClient, workers: WorkerSet,
                                                         first_is_a: bool) -> None:
    """Two ranges sharing a settlement: the second writes only its new transactions, in its own sales order."""
    a, b = report(1, 2, 3, 4, 5, states={5: "TX"}), report(3, 4, 7, 8, 9, states={9: "TX"})
    first, second = (a, b) if first_is_a else (b, a)
    first_job, status = read(app, client, first, "first.csv")
    assert status == "awaiting_confirmation" and confirm(app, client, first_job) == "succeeded"
    second_job, status = read(app, client, second, "second.csv")
    assert status == "awaiting_confirmation"
    ca = next(o for o in preview_of(app, second_job)["orders"] if o["state"] == "CA")
    assert (ca["new"]["rows"], ca["imported"]["rows"], ca["imported"]["jobs"]) == (2, 2, [first_job])
    new_numbers = (7, 8) if first_is_a else (1, 2)
    assert ca["new"]["order_total"] == sum(cents(n) for n in new_numbers)
    page = client.get(f"/jobs/{second_job}").get_data(as_text=True)
    assert "Confirm: write 2 sales orders" in page and f'<a href="/jobs/{first_job}">#{first_job}</a>' in page
    assert confirm(app, client, second_job) == "succeeded"
    assert erp_cents(app, "CA") == (sum(cents(n) for n in (1, 2, 3, 4, 7, 8)), 2)
    assert erp_cents(app, "TX") == (cents(5) + cents(9), 2)
    assert ledger_holds(app) == []


def test_disjoint_reports_of_one_settlement_add_up(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """January and February of one settlement: two sales orders for CA whose sum is every transaction."""
    for name, numbers in (("january.csv", (1, 2, 3)), ("february.csv", (4, 5, 6))):
        job_id, status = read(app, client, report(*numbers), name)
        assert status == "awaiting_confirmation" and confirm(app, client, job_id) == "succeeded"
    assert erp_cents(app) == (sum(cents(n) for n in range(1, 7)), 2)
    assert ledger_holds(app) == []


def test_report_saved_again_with_other_line_endings_writes_nothing(app: Flask, client: FlaskClient,
                                                                   workers: WorkerSet) -> None:
    """A new file hash, the same transactions: nothing to write, no Confirm button, the earlier job named."""
    job_id, _ = read(app, client, report(1, 2, 3), "report.csv")
    assert confirm(app, client, job_id) == "succeeded"
    again, status = read(app, client, report(1, 2, 3, newline="\r\n"), "report-windows.csv")
    assert status == "succeeded"
    with app.app_context():
        hashes = db.session.execute(db.select(ReconImport.sha256).where(ReconImport.job_id.in_([job_id, again]))).scalars().all()
        assert len(set(hashes)) == 2, "the bytes differ"
        assert db.session.get(Job, again).total == 0
    page = client.get(f"/jobs/{again}").get_data(as_text=True)
    assert f'Nothing to write: every transaction is already in the ERP (job <a href="/jobs/{job_id}">#{job_id}</a>)' in page
    assert "Confirm: write" not in page
    assert erp_cents(app) == (sum(cents(n) for n in (1, 2, 3)), 1)


def test_identical_rows_count_by_occurrence(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """Two identical rows, then a file with three of them: the third is new, the other two are not."""
    twice = dr_file([row(1), row(1)]).encode()
    thrice = dr_file([row(1), row(2), row(1), row(1)]).encode()
    job_id, _ = read(app, client, twice, "twice.csv")
    assert confirm(app, client, job_id) == "succeeded"
    assert erp_cents(app) == (2 * cents(1), 1)
    again, status = read(app, client, thrice, "thrice.csv")
    assert status == "awaiting_confirmation"
    ca = preview_of(app, again)["orders"][0]
    assert (ca["new"]["rows"], ca["imported"]["rows"]) == (2, 2)
    assert confirm(app, client, again) == "succeeded"
    assert erp_cents(app) == (3 * cents(1) + cents(2), 2)
    assert ledger_holds(app) == []


def test_overlapping_confirms_at_the_same_moment_write_each_transaction_once(app: Flask, client: FlaskClient,
                                                                             workers: WorkerSet) -> None:
    """Both previews say their rows are new; confirmed together, the database's key gives each transaction to one."""
    a, b = report(*range(1, 40)), report(*range(20, 60))
    jobs = [read(app, client, content, name)[0] for content, name in ((a, "a.csv"), (b, "b.csv"))]
    pages = {job_id: client.get(f"/jobs/{job_id}").get_data(as_text=True) for job_id in jobs}
    statuses: dict[int, int] = {}

    def post(job_id: int) -> None:
        statuses[job_id] = client.post(f"/jobs/{job_id}/confirm", data={"csrf_token": csrf_token(pages[job_id])}).status_code

    threads = [threading.Thread(target=post, args=(job_id,)) for job_id in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == {jobs[0]: 302, jobs[1]: 302}
    assert [job_in(app, job_id, *ENDED).status for job_id in jobs] == ["succeeded", "succeeded"]
    total, orders = erp_cents(app)
    assert (total, orders) == (sum(cents(n) for n in range(1, 60)), 2), "each file has transactions of its own"
    assert ledger_holds(app) == []
