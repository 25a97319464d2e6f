"""A missing job or record is a 404 that names it, on pages and in the API (webapp/web/lookups.py)."""

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import auth
from tests.jobs import make_job
from webapp.extensions import db
from webapp.models import JobRecord

PAGES = ["/jobs/99999", "/jobs/99999/summary", "/jobs/99999/rows", "/jobs/99999/live", "/jobs/99999/records.csv", "/jobs/99999/records/1"]
API = ["/api/jobs/99999", "/api/jobs/99999/records", "/api/jobs/99999/records.csv"]


@pytest.mark.parametrize("url", PAGES)
def test_a_missing_jobs_page_says_so(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Job #99999 does not exist." in page and "Traceback" not in page


@pytest.mark.parametrize("url", API)
def test_the_api_names_a_missing_job(app: Flask, api_token: str, url: str) -> None:
    response = app.test_client().get(url, headers=auth(api_token))
    assert response.status_code == 404
    assert response.get_json() == {"error": "Not Found", "message": "Job #99999 does not exist."}


@pytest.mark.parametrize("action", ["cancel", "retry-failed", "rerun"])
def test_an_api_action_on_a_missing_job_names_it(app: Flask, api_token: str, action: str) -> None:
    response = app.test_client().post(f"/api/jobs/99999/{action}", headers=auth(api_token))
    assert response.status_code == 404
    assert response.get_json()["message"] == "Job #99999 does not exist."


def test_a_record_of_another_job_is_a_404_naming_it(app: Flask, client: FlaskClient) -> None:
    first, second = make_job(app, "succeeded", records=1), make_job(app, "succeeded", records=1)
    with app.app_context():
        record = db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == first)).scalar_one()
    assert client.get(f"/jobs/{first}/records/{record}").status_code == 200
    response = client.get(f"/jobs/{second}/records/{record}")
    assert response.status_code == 404
    assert f"Job #{second} has no record #{record}." in response.get_data(as_text=True)
