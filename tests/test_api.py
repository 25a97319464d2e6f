"""The JSON API: bearer tokens, job creation from files and key lists, job and record reads."""

import io

import pytest
from flask import Flask

from devtools.workers import WorkerSet
from tests.forms import auth
from tests.jobs import finished_job
from webapp.extensions import db
from webapp.models import Job


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/jobs"),
        ("post", "/api/jobs"),
        ("get", "/api/jobs/1"),
        ("get", "/api/jobs/1/records"),
        ("get", "/api/sandbox/settings"),
        ("put", "/api/sandbox/settings"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-real-token", "Basic b2xnYTp4"])
def test_api_refuses_without_a_valid_token(app: Flask, method: str, path: str, header: str | None) -> None:
    """No token, an empty one, an unknown one or another scheme: 401 in JSON."""
    headers = {"Authorization": header} if header else {}
    response = getattr(app.test_client(), method)(path, headers=headers)
    assert response.status_code == 401
    assert "token" in response.get_json()["message"]


def test_create_job_from_keys_and_read_it(app: Flask, api_token: str, workers: WorkerSet) -> None:
    """POST keys → 202 with the job; GET shows counts by state; records list steps and ERP ids."""
    client = app.test_client()
    response = client.post("/api/jobs", json={"kind": "purchase_orders", "keys": ["PO-100010", "po-100011"]}, headers=auth(api_token))
    assert response.status_code == 202
    job_id = response.get_json()["id"]
    assert finished_job(app, job_id).status == "succeeded"
    job = client.get(f"/api/jobs/{job_id}", headers=auth(api_token)).get_json()
    assert job["status"] == "succeeded"
    assert job["counts"]["succeeded"] == 2
    assert job["created_by"] == "olga"
    assert job["finished_at"].endswith("Z")
    records = client.get(f"/api/jobs/{job_id}/records", headers=auth(api_token)).get_json()
    assert [r["key"] for r in records["records"]] == ["PO-100010", "PO-100011"]
    first = records["records"][0]
    assert first["erp_ref"] is not None
    steps = [(s["step"], s["state"], s["label"]) for s in first["steps"]]
    assert steps == [("fetch", "SUCCESS", "success"), ("make PO", "SUCCESS", "success")]
    assert first["attempts"] == 1, "a record that never retried took one attempt of its step"
    assert (first["error_text"], first["past_errors"]) == ("", 0)
    assert (job["history"], [r["name"] for r in job["rounds"]]) == (None, ["first run"])
    listing = client.get("/api/jobs?status=succeeded", headers=auth(api_token)).get_json()
    assert [j["id"] for j in listing["jobs"]] == [job_id]


def test_create_job_from_file(app: Flask, api_token: str) -> None:
    """A multipart upload with kind and file creates a job of its PO numbers."""
    data = {"kind": "purchase_orders", "file": (io.BytesIO(b"po_number\nPO-100020\nPO-100021\n"), "pos.csv")}
    response = app.test_client().post("/api/jobs", data=data, headers=auth(api_token), content_type="multipart/form-data")
    assert response.status_code == 202
    assert response.get_json()["total"] == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "nonsense", "keys": ["PO-100001"]}, "unknown kind"),
        ({"kind": "purchase_orders"}, "send 'keys' as a non-empty list"),
        ({"kind": "purchase_orders", "keys": []}, "send 'keys' as a non-empty list"),
        ({"kind": "purchase_orders", "keys": ["PO-100001", "bad"]}, "item 2: 'BAD' is not a PO number"),
        ({"kind": "purchase_orders", "keys": ["PO-100001", "PO-100001"]}, "item 2: PO-100001 is repeated"),
        ({"kind": "purchase_orders", "keys": [123]}, "item 1: '123' is not a PO number"),
    ],
)
def test_bad_job_requests_are_refused(app: Flask, api_token: str, body: dict, message: str) -> None:
    """Bad requests get 400 with the problem named, and create no job."""
    response = app.test_client().post("/api/jobs", json=body, headers=auth(api_token))
    assert response.status_code == 400
    payload = response.get_json()
    assert message in " ".join([payload["error"], *payload.get("details", [])])
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(Job)).scalar_one() == 0


def test_bad_file_is_refused_with_the_line(app: Flask, api_token: str) -> None:
    """A malformed file through the API gets 400 naming the line."""
    data = {"kind": "purchase_orders", "file": (io.BytesIO(b"po_number\nPO-100001\nnope\n"), "pos.csv")}
    response = app.test_client().post("/api/jobs", data=data, headers=auth(api_token), content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["details"] == ["line 3: 'NOPE' is not a PO number (expected e.g. PO-100042)"]


def test_unknown_job_is_json_404(app: Flask, api_token: str) -> None:
    """A missing job is a JSON 404."""
    response = app.test_client().get("/api/jobs/424242", headers=auth(api_token))
    assert response.status_code == 404
    assert response.get_json()["error"] == "Not Found"


def test_sandbox_settings_round_trip(app: Flask, api_token: str) -> None:
    """PUT changes only the fields sent; invalid values are refused naming the field."""
    client = app.test_client()
    response = client.put("/api/sandbox/settings", json={"error_rate": 0.25, "missing_keys": ["po-100005"]}, headers=auth(api_token))
    assert response.status_code == 200
    settings = client.get("/api/sandbox/settings", headers=auth(api_token)).get_json()
    assert settings["error_rate"] == 0.25
    assert settings["missing_keys"] == ["PO-100005"]
    assert settings["updated_by"] == "olga"
    refused = client.put("/api/sandbox/settings", json={"latency_ms": -5}, headers=auth(api_token))
    assert refused.status_code == 400
    assert "latency_ms" in refused.get_json()["details"]
    assert client.get("/api/sandbox/settings", headers=auth(api_token)).get_json()["latency_ms"] == settings["latency_ms"]
    client.put("/api/sandbox/settings", json={"error_rate": 0, "missing_keys": []}, headers=auth(api_token))
