"""An htmx request that fails says why in place: the error as the page's flash messages, or, logged
out, a whole-page move to the login form (never a page swapped into the part that asked)."""

from flask import Flask
from flask.testing import FlaskClient

from tests.forms import csrf_token
from tests.jobs import make_job

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/jobs/1?page=2"}


def test_a_refused_htmx_action_answers_with_its_reason_in_the_flashes(app: Flask, client: FlaskClient) -> None:
    job_id = make_job(app, status="running")
    response = client.post(f"/jobs/{job_id}/cancel", headers=HTMX | {"X-CSRFToken": "forged"})
    assert response.status_code == 400
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"], response.headers["HX-Reselect"]) == (
        "#flashes",
        "outerHTML",
        "#flashes",
    )
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="flashes"') and 'class="flash flash-error"' in body
    assert "Form expired or forged: The security token of this form is missing or invalid" in body


def test_a_missing_job_over_htmx_says_so_in_the_flashes(client: FlaskClient) -> None:
    response = client.get("/jobs/99999/live", headers=HTMX)
    assert response.status_code == 404
    assert "Job #99999 does not exist." in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#flashes"


def test_the_same_error_without_htmx_is_a_page(app: Flask, client: FlaskClient) -> None:
    job_id = make_job(app, status="running")
    response = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": "forged"})
    assert response.status_code == 400 and "HX-Retarget" not in response.headers
    assert "<h1>" in response.get_data(as_text=True)


def test_logged_out_htmx_requests_move_the_whole_page_to_the_login_form(app: Flask) -> None:
    anonymous = app.test_client()
    response = anonymous.get("/jobs/1/live", headers=HTMX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/jobs/1?page%3D2"
    plain = anonymous.get("/jobs/1/live")
    assert plain.status_code == 302 and "/login" in plain.headers["Location"]
    assert csrf_token(anonymous.get("/login").data)
