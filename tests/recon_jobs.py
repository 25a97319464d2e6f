"""Reconciliation jobs as tests start them: a report through the dashboard's form, the wait for a
status, and reports of numbered transactions of one settlement."""

import io

from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from tests.forms import csrf_token
from tests.recon_corpus.builders import dr_file, dr_row
from webapp.extensions import db
from webapp.models import Job

SETTLEMENT = "24702193891"

DATE_RANGE = dr_file([
    dr_row(order_id="113-0000001-0000001", state="WA", sku="SKU-A", quantity="2", product_sales="20.00", product_sales_tax="2.00"),
    dr_row(order_id="113-0000002-0000002", state="Washington", sku="SKU-B", product_sales="5.50", product_sales_tax="0.55"),
    dr_row(order_id="113-0000003-0000003", state="ca", sku="SKU-A", product_sales="10.00", product_sales_tax="0.75",
           selling_fees="-1.50"),
]).encode()


def upload(client: FlaskClient, content: bytes, name: str = "report.csv", orders: bytes | None = None) -> tuple[int, str]:
    """POST a report (and an orders report) to the reconciliation form; return (status, body or location)."""
    data = {"csrf_token": csrf_token(client.get("/").data), "file": (io.BytesIO(content), name)}
    if orders is not None:
        data["orders"] = (io.BytesIO(orders), "orders.txt")
    response = client.post("/jobs/reconciliation", data=data, content_type="multipart/form-data")
    return response.status_code, response.headers.get("Location") or response.get_data(as_text=True)


def job_in(app: Flask, job_id: int, *statuses: str, timeout: float = 60) -> Job:
    """Wait until the job reaches one of ``statuses``; return it."""

    def reached() -> Job | None:
        with app.app_context():
            job = db.session.get(Job, job_id)
            if job.status in statuses:
                db.session.expunge(job)
                return job
            return None

    return wait_for(reached, timeout=timeout, message=f"job {job_id} to be {statuses}")


def job_id_of(location: str) -> int:
    """The job id at the end of a redirect location."""
    return int(location.rstrip("/").rsplit("/", 1)[-1])


def row(n: int, state: str = "CA", copy: int = 0) -> list[str]:
    """Transaction ``n`` of the settlement: its own order, second and amounts (``copy`` changes nothing)."""
    return dr_row(order_id=f"113-{n:07d}-{n:07d}", when=f"Jun {1 + n % 28}, 2026 1:{n % 60:02d}:07 AM PDT",
                  sku=f"SKU-{n % 3}", state=state, settlement=SETTLEMENT, product_sales=f"{10 + n}.25",
                  product_sales_tax=f"{n % 5}.10")


def report(*numbers: int, newline: str = "\n", states: dict[int, str] | None = None) -> bytes:
    """A Date Range report of the given transactions (CA unless ``states`` says otherwise)."""
    return dr_file([row(n, (states or {}).get(n, "CA")) for n in numbers], newline=newline).encode()
