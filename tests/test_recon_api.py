"""Reconciliation through the JSON API: upload, preview with per-state figures, confirm, and every refusal."""

import hashlib
import io
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.forms import auth
from tests.recon_corpus.builders import dr_file, dr_row
from webapp.api.reconciliation import problem_from_text
from webapp.extensions import db
from webapp.jobs import outbox
from webapp.models import Job, JobRecord, ReconImport, SalesOrder, utcnow

CORPUS = Path(__file__).resolve().parent / "recon_corpus"
MiB = 1024 * 1024

# Settlement 6503097031: WA has two orders and a refund, CA one order with a selling fee.
DATE_RANGE = dr_file([
    dr_row(order_id="113-0000001-0000001", state="WA", sku="SKU-A", quantity="2", product_sales="20.00", product_sales_tax="2.00"),
    dr_row(order_id="113-0000002-0000002", state="Washington", sku="SKU-B", product_sales="5.50", product_sales_tax="0.55"),
    dr_row("Refund", order_id="113-0000002-0000002", state="WA", sku="SKU-B", product_sales="-5.50", product_sales_tax="-0.55"),
    dr_row(order_id="113-0000003-0000003", state="ca", sku="SKU-A", product_sales="10.00", product_sales_tax="0.75",
           selling_fees="-1.50"),
]).encode()


def post_report(app: Flask, token: str, report: tuple[bytes, str] | None, orders: tuple[bytes, str] | None = None,
                kind: str = "reconciliation") -> Any:
    """POST /api/jobs as multipart with ``kind``, the report as ``file`` and the orders report as ``orders``."""
    data: dict[str, Any] = {"kind": kind}
    if report is not None:
        data["file"] = (io.BytesIO(report[0]), report[1])
    if orders is not None:
        data["orders"] = (io.BytesIO(orders[0]), orders[1])
    return app.test_client().post("/api/jobs", data=data, headers=auth(token), content_type="multipart/form-data")


def row_counts(app: Flask) -> dict[str, int]:
    """The number of rows in every table, to prove a refused request wrote nothing."""
    with app.app_context():
        return {table.name: db.session.execute(db.select(db.func.count()).select_from(table)).scalar_one()
                for table in db.metadata.sorted_tables}


def api_job(client: FlaskClient, token: str, job_id: int) -> dict[str, Any]:
    """GET /api/jobs/<id> as JSON."""
    response = client.get(f"/api/jobs/{job_id}", headers=auth(token))
    assert response.status_code == 200
    return response.get_json()


def api_job_in(client: FlaskClient, token: str, job_id: int, *statuses: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the API until the job reaches one of ``statuses``; return it."""

    def reached() -> dict[str, Any] | None:
        job = api_job(client, token, job_id)
        return job if job["status"] in statuses else None

    return wait_for(reached, timeout=timeout, message=f"job {job_id} to be {statuses}")


def by_state(orders: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, ...]]:
    """(settlement, state) → (rows, orders, refunds, product_sales, tax, total) from the API's orders."""
    return {(o["settlement_id"], o["state"]): (o["rows"], o["orders"], o["refunds"], o["product_sales"], o["tax"], o["total"])
            for o in orders}


@pytest.fixture
def unread(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app: Flask) -> None:
    """Uploads go to a temporary folder and their read task stays in the outbox (no worker reads them)."""
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path))
    monkeypatch.setattr(outbox, "relay_quietly", lambda ids: None)


def test_keys_for_a_reconciliation_are_refused(app: Flask, api_token: str) -> None:
    """JSON keys cannot start a reconciliation (it reads a file): 400 saying to upload one, nothing written."""
    before = row_counts(app)
    response = app.test_client().post("/api/jobs", json={"kind": "reconciliation", "keys": ["6503097031/WA"]},
                                      headers=auth(api_token))
    assert response.status_code == 400
    assert "upload it as multipart 'file'" in response.get_json()["error"]
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("report", "orders", "message"),
    [
        (None, None, "choose the settlement or Date Range report to upload"),
        ((b"", ""), None, "choose the settlement or Date Range report to upload"),
        ((b"PK\x03\x04", "report.xlsx"), None, "'report.xlsx' is not a report file: upload the settlement or Date Range report as .csv, .txt or .tsv"),
        ((DATE_RANGE, "report.csv"), (b"PK\x03\x04", "orders.xlsx"), "'orders.xlsx' is not a report file"),
        ((b"", "report.csv"), None, "the report file is empty"),
    ],
    ids=["no-file", "no-filename", "spreadsheet", "orders-spreadsheet", "empty"],
)
def test_bad_uploads_are_refused_in_words_and_write_nothing(
    app: Flask, api_token: str, unread: None, report: tuple[bytes, str] | None, orders: tuple[bytes, str] | None, message: str,
) -> None:
    """No file, a wrong type or an empty file: 400 with the problem in words; the database is as it was."""
    before = row_counts(app)
    response = post_report(app, api_token, report, orders)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert row_counts(app) == before


def test_other_uploads_keep_the_small_limit(app: Flask, api_token: str) -> None:
    """A PO file or a JSON body over MAX_UPLOAD_BYTES (10 MiB) is still 413 through the API, naming that limit."""
    before = row_counts(app)
    big = b"po_number\n" + b"PO-100001\n" * (MiB + 1)
    response = post_report(app, api_token, (big, "pos.csv"), kind="purchase_orders")
    assert response.status_code == 413
    assert response.get_json() == {"error": "File too large", "message": "The upload is larger than the limit of 10 MB."}
    keys = {"kind": "bills_of_materials", "keys": ["P-10001"] * (11 * MiB // 10)}
    assert app.test_client().post("/api/jobs", json=keys, headers=auth(api_token)).status_code == 413
    assert row_counts(app) == before


def test_a_report_may_exceed_the_small_limit_up_to_its_own(app: Flask, api_token: str, unread: None,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A reconciliation report is allowed RECON_MAX_UPLOAD_BYTES: 11 MiB starts a job, over its limit is 413."""
    monkeypatch.setitem(app.config, "RECON_MAX_UPLOAD_BYTES", 12 * MiB)
    report = DATE_RANGE + b"\n" * (11 * MiB)
    response = post_report(app, api_token, (report, "big.csv"))
    assert response.status_code == 202
    assert response.get_json()["reconciliation"]["size_bytes"] == len(report)
    before = row_counts(app)
    response = post_report(app, api_token, (report + b"\n" * (2 * MiB), "bigger.csv"))
    assert response.status_code == 413
    assert "12 MB" in response.get_json()["message"]
    assert row_counts(app) == before


def test_a_report_being_read_shows_its_progress_and_cannot_be_confirmed(app: Flask, api_token: str, unread: None) -> None:
    """While the worker reads: rows, bytes, percent, rate and ETA; confirming then is 409 and writes nothing."""
    response = post_report(app, api_token, (DATE_RANGE, "reading.csv"))
    assert response.status_code == 202
    started = response.get_json()
    assert (started["kind"], started["status"]) == ("reconciliation", "queued")
    assert started["reconciliation"]["filename"] == "reading.csv"
    assert started["reconciliation"]["orders"] == [] and started["reconciliation"]["reading"] is False
    job_id = started["id"]
    with app.app_context():  # what read_upload() saves part-way through the file
        db.session.execute(db.update(Job).where(Job.id == job_id).values(status="running"))
        db.session.execute(db.update(ReconImport).where(ReconImport.job_id == job_id).values(
            read_started_at=utcnow() - timedelta(seconds=2), rows_read=2, bytes_read=len(DATE_RANGE) // 4))
        db.session.commit()
    client = app.test_client()
    reading = api_job(client, api_token, job_id)["reconciliation"]
    assert reading["reading"] is True
    assert (reading["rows_read"], reading["bytes_read"], reading["size_bytes"]) == (2, len(DATE_RANGE) // 4, len(DATE_RANGE))
    assert reading["read_percent"] in (24, 25)  # a quarter, rounded down
    assert reading["rows_per_second"] > 0 and reading["eta_seconds"] >= 0
    before = row_counts(app)
    refused = client.post(f"/api/jobs/{job_id}/confirm", headers=auth(api_token))
    assert refused.status_code == 409
    assert refused.get_json()["error"] == f"job #{job_id} is still reading its file"
    assert row_counts(app) == before


def test_confirm_refuses_other_jobs_and_unknown_ones(app: Flask, api_token: str) -> None:
    """Confirming a PO job is 409 saying why; an unknown job is 404."""
    client = app.test_client()
    po_job = client.post("/api/jobs", json={"kind": "purchase_orders", "keys": ["PO-100001"]}, headers=auth(api_token)).get_json()
    refused = client.post(f"/api/jobs/{po_job['id']}/confirm", headers=auth(api_token))
    assert refused.status_code == 409
    assert refused.get_json()["error"] == f"job #{po_job['id']} is not a reconciliation job"
    assert "reconciliation" not in api_job(client, api_token, po_job["id"])
    assert client.post("/api/jobs/424242/confirm", headers=auth(api_token)).status_code == 404


def test_a_stored_preview_is_shown_as_data(app: Flask, api_token: str, unread: None) -> None:
    """An older preview (problems only as text) gives {line, source, message}; new/imported are passed on when present."""
    job_id = post_report(app, api_token, (DATE_RANGE, "older.csv")).get_json()["id"]
    order = {"settlement_id": "6503097031", "state": "WA", "orders": 2, "refunds": 0,
             "amounts": {"product_sales": 2550, "product_tax": 255, "selling_fees": -150},
             "new": {"rows": 1, "orders": 1, "refunds": 0, "product_sales": 550, "tax": 55, "total": 605},
             "imported": {"rows": 1, "total": 2200, "jobs": [7]}}
    preview = {"kind": "date_range", "rows": 2, "settlements": [], "orders": [order], "nothing_new": False,
               "errors": ["line 9: '12.345' is not an amount"], "warnings": ["orders report line 3: no ship-state"]}
    with app.app_context():
        db.session.execute(db.update(ReconImport).where(ReconImport.job_id == job_id).values(preview=preview))
        db.session.commit()
    shown = api_job(app.test_client(), api_token, job_id)["reconciliation"]
    assert shown["errors"] == [{"line": 9, "source": "", "message": "'12.345' is not an amount"}]
    assert shown["warnings"] == [{"line": 3, "source": "orders report", "message": "no ship-state"}]
    assert shown["nothing_new"] is False
    assert shown["orders"] == [{
        "settlement_id": "6503097031", "state": "WA", "rows": None, "orders": 2, "refunds": 0,
        "product_sales": 2550, "tax": 255, "total": 2655, "amounts": order["amounts"],
        "new": order["new"], "imported": order["imported"], "blocked": None,
    }]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("line 12: bad date", {"line": 12, "source": "", "message": "bad date"}),
        ("orders report line 4: unknown state 'ZZ'", {"line": 4, "source": "orders report", "message": "unknown state 'ZZ'"}),
        ("the file holds no rows", {"line": None, "source": "", "message": "the file holds no rows"}),
    ],
)
def test_problem_text_is_read_back_as_data(text: str, problem: dict[str, Any]) -> None:
    """The text form of an error or warning gives back its line, source and message."""
    assert problem_from_text(text) == problem


def test_date_range_upload_preview_confirm_through_the_api(app: Flask, api_token: str, workers: WorkerSet) -> None:
    """Upload → preview per (settlement, state) as the file says → confirm → one sales order per state; twice is 409."""
    client = app.test_client()
    response = post_report(app, api_token, (DATE_RANGE, "date-range.csv"))
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    preview = api_job_in(client, api_token, job_id, "awaiting_confirmation", "failed")["reconciliation"]
    assert (preview["report_kind"], preview["rows_read"], preview["bytes_read"]) == ("date_range", 4, len(DATE_RANGE))
    assert preview["sha256"] == hashlib.sha256(DATE_RANGE).hexdigest()
    assert (preview["errors"], preview["error_count"], preview["reading"], preview["read_percent"]) == ([], 0, False, 100)
    assert by_state(preview["orders"]) == {
        ("6503097031", "WA"): (3, 2, 1, 2000 + 550 - 550, 200 + 55 - 55, 2200),
        ("6503097031", "CA"): (1, 1, 0, 1000, 75, 1000 + 75 - 150),
    }
    assert [s["id"] for s in preview["settlements"]] == ["6503097031"]
    assert preview["confirmed_at"] is None

    confirmed = client.post(f"/api/jobs/{job_id}/confirm", headers=auth(api_token))
    assert confirmed.status_code == 202
    assert confirmed.get_json()["reconciliation"]["confirmed_by"] == "olga"
    twice = client.post(f"/api/jobs/{job_id}/confirm", headers=auth(api_token))
    assert twice.status_code == 409
    assert twice.get_json()["error"] == f"job #{job_id} was confirmed already"
    assert api_job_in(client, api_token, job_id, "succeeded", "completed_with_failures", "failed")["status"] == "succeeded"
    with app.app_context():
        orders = {o.state: o.total_cents for o in db.session.execute(db.select(SalesOrder)).scalars()}
    assert orders == {"WA": 2000 + 200, "CA": 1000 + 75}  # the ERP order holds the SKU lines and the tax, not fees
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(JobRecord)).scalar_one() == 2, "confirmed once"
    again = client.post(f"/api/jobs/{job_id}/confirm", headers=auth(api_token))
    assert again.status_code == 409
    assert again.get_json()["error"] == f"job #{job_id} was confirmed already"


def test_settlement_v2_with_its_orders_report_through_the_api(app: Flask, api_token: str, workers: WorkerSet) -> None:
    """The V2 sample + its orders report: per-state figures as the sample's lines add up, a warning with its line, confirm."""
    client = app.test_client()
    response = post_report(app, api_token, ((CORPUS / "settlement-sample.txt").read_bytes(), "settlement-sample.txt"),
                           ((CORPUS / "settlement-sample-orders.txt").read_bytes(), "orders.txt"))
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    preview = api_job_in(client, api_token, job_id, "awaiting_confirmation", "failed")["reconciliation"]
    assert (preview["report_kind"], preview["orders_filename"]) == ("settlement_v2", "orders.txt")
    assert preview["settlements"][0]["total_amount"] == 58289
    assert by_state(preview["orders"]) == {
        # Principal 129.99, Tax 10.40, Commission -19.50, FBA fee -4.75, MarketplaceFacilitatorVAT -10.40
        ("28471003921", "WA"): (5, 1, 0, 12999, 1040, 10574),
        # Principal 89.00 + 45.50, Shipping 7.99, Commissions -13.35 and -6.83, ShippingChargeback -7.99
        ("28471003921", "CA"): (6, 1, 0, 13450, 0, 11432),
        # a refund: Principal -129.99, RefundCommission -5.00, Commission 19.50
        ("28471003921", "NY"): (3, 0, 1, -12999, 0, -11549),
        # Principal 210.00, Commission -31.50
        ("28471003921", "TX"): (2, 1, 0, 21000, 0, 17850),
    }
    assert any(w["line"] == 7 and "MarketplaceFacilitatorVAT-Principal" in w["message"] for w in preview["warnings"])
    assert client.post(f"/api/jobs/{job_id}/confirm", headers=auth(api_token)).status_code == 202
    assert api_job_in(client, api_token, job_id, "succeeded", "completed_with_failures", "failed")["status"] == "succeeded"
    with app.app_context():
        written = db.session.execute(db.select(SalesOrder.settlement_id, SalesOrder.state).order_by(SalesOrder.state)).all()
    assert [tuple(row) for row in written] == [("28471003921", s) for s in ("CA", "NY", "TX", "WA")]


def test_a_file_with_errors_lists_them_by_line_and_cannot_be_confirmed(app: Flask, api_token: str, workers: WorkerSet) -> None:
    """A bad amount: the job fails, the API lists the error with its line, and confirming is 409."""
    client = app.test_client()
    bad = dr_file([dr_row(order_id="113-0000004-0000004", product_sales="12.345")]).encode()
    job_id = post_report(app, api_token, (bad, "bad.csv")).get_json()["id"]
    failed = api_job_in(client, api_token, job_id, "failed", "awaiting_confirmation")
    assert failed["status"] == "failed"
    errors = failed["reconciliation"]["errors"]
    assert failed["reconciliation"]["error_count"] == len(errors) == 1
    assert errors[0]["line"] == 9 and "12.345" in errors[0]["message"]
    refused = client.post(f"/api/jobs/{job_id}/confirm", headers=auth(api_token))
    assert refused.status_code == 409
    assert refused.get_json()["error"] == f"job #{job_id} cannot be confirmed: its file has errors"
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(JobRecord)).scalar_one() == 0


def chunked_multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[Iterator[bytes], str]:
    """A multipart body sent in chunks, without Content-Length (as a streaming client sends it); with its content type."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    for name, (filename, content) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: text/csv\r\n\r\n".encode() + content + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return (body[i : i + MiB] for i in range(0, len(body), MiB)), f"multipart/form-data; boundary={boundary}"


def test_upload_preview_confirm_over_http(app: Flask, api_token: str, workers: WorkerSet, gunicorn: str) -> None:
    """Under gunicorn with a token: curl's upload, polling and confirm work; a chunked PO upload over 10 MiB is 413."""
    session = requests.Session()
    session.headers.update(auth(api_token))
    response = session.post(f"{gunicorn}/api/jobs", data={"kind": "reconciliation"},
                            files={"file": ("report.csv", DATE_RANGE, "text/csv")}, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    def preview() -> dict[str, Any] | None:
        job = session.get(f"{gunicorn}/api/jobs/{job_id}", timeout=10).json()
        return job if job["status"] in ("awaiting_confirmation", "failed") else None

    job = wait_for(preview, timeout=60, message=f"job {job_id} to be read")
    assert job["status"] == "awaiting_confirmation"
    assert by_state(job["reconciliation"]["orders"])[("6503097031", "CA")] == (1, 1, 0, 1000, 75, 925)
    assert session.post(f"{gunicorn}/api/jobs/{job_id}/confirm", timeout=30).status_code == 202

    def finished() -> str | None:
        status = session.get(f"{gunicorn}/api/jobs/{job_id}", timeout=10).json()["status"]
        return status if status in ("succeeded", "completed_with_failures", "failed") else None

    assert wait_for(finished, timeout=60, message=f"job {job_id} to finish") == "succeeded"
    with app.app_context():
        assert sorted(db.session.execute(db.select(SalesOrder.state)).scalars()) == ["CA", "WA"]

    before = row_counts(app)
    body, content_type = chunked_multipart({"kind": "purchase_orders"}, {"file": ("pos.csv", b"po_number\n" + b"PO-100001\n" * (MiB + 1))})
    refused = session.post(f"{gunicorn}/api/jobs", data=body, headers={"Content-Type": content_type}, timeout=60)
    assert refused.status_code == 413
    assert "10 MB" in refused.json()["message"]
    assert row_counts(app) == before
