"""The sample files of samples/ do what samples/README.md says: each launches its job, and the
settlement sample with its orders report reads into a preview that can be confirmed."""

import io
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tasks.workflows import read_report
from tests.forms import csrf_token
from tests.recon_jobs import job_id_of, upload
from webapp.extensions import db
from webapp.models import Job

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def launch(client: FlaskClient, action: str, name: str) -> str:
    """Upload a sample from the dashboard's form; return the page it lands on."""
    data = {"csrf_token": csrf_token(client.get("/").data), "file": (io.BytesIO((SAMPLES / name).read_bytes()), name)}
    response = client.post(action, data=data, content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_po_and_bom_samples_launch_their_jobs(client: FlaskClient, no_relay: None) -> None:
    assert "started with 24 purchase orders." in launch(client, "/jobs/purchase-orders", "purchase-orders.csv")
    assert "started with 8 products." in launch(client, "/jobs/bills-of-materials", "product-codes.csv")


def test_the_settlement_sample_with_its_orders_report_reaches_confirm(app: Flask, client: FlaskClient, no_relay: None) -> None:
    report, orders = (SAMPLES / "settlement-sample.txt").read_bytes(), (SAMPLES / "settlement-sample-orders.txt").read_bytes()
    status, location = upload(client, report, "settlement-sample.txt", orders=orders)
    assert status == 302
    job_id = job_id_of(location)
    with app.app_context():  # what the worker does with the read_report message
        read_report.run(job_id=job_id)
        assert db.session.get(Job, job_id).status == "awaiting_confirmation"
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Confirm: write" in page and "this file cannot be confirmed" not in page
