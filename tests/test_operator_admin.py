"""The operators page: create, role, deactivate and reactivate, reset a password, tokens; each change
audited; a password someone else chose is changed before anything else; tracebacks and buttons by role."""

import re

from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from tests.roles import PASSWORD, add_operator, log_in, page_token, token_of
from webapp.extensions import db
from webapp.models import ApiToken, AuditEvent, Job, JobRecord, Operator, TaskRun

NEW_PASSWORD = "a passphrase of my own"


def post(client: FlaskClient, path: str, **data: str):  # type: ignore[no-untyped-def]
    """POST a form with the session's CSRF token."""
    return client.post(path, data={"csrf_token": page_token(client)} | data)


def operator_row(app: Flask, username: str) -> Operator:
    """The operator row as the database has it now (detached)."""
    with app.app_context():
        row = db.session.execute(db.select(Operator).filter_by(username=username)).scalar_one()
        db.session.expunge(row)
        return row


def actions(app: Flask) -> list[tuple[str, str]]:
    """(actor, action) of every audit event, oldest first."""
    with app.app_context():
        return [(e.actor, e.action) for e in db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars()]


def sent_to_login(client: FlaskClient) -> bool:
    """True when the dashboard sends this client to the login page."""
    response = client.get("/")
    return response.status_code == 302 and "/login" in response.headers["Location"]


def api_status(app: Flask, token: str) -> tuple[int, str]:
    """The status and error words of an API read with ``token``."""
    response = app.test_client().get("/api/jobs", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, (response.get_json() or {}).get("message", "")


def shown_password(html: str) -> str:
    """The password or token shown once on the page."""
    match = re.search(r'<code class="secret">([^<]+)</code>', html)
    assert match, "no secret shown on the page"
    return match.group(1)


def test_a_created_operator_changes_the_password_before_anything_else(app: Flask, operator_password_hash: str) -> None:
    add_operator(app, "ada", "admin", operator_password_hash)
    admin = log_in(app, "ada")
    created = post(admin, "/admin/operators", username="nina", role="operator")
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    password = shown_password(created.get_data(as_text=True))
    assert admin.get("/admin/operators").get_data(as_text=True).count(password) == 0  # shown once
    nina = log_in(app, "nina", password)
    for path in ("/", "/jobs/1", "/admin/operators", "/ops/workers"):
        response = nina.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/account/password"), path
    polled = nina.get("/jobs-table", headers={"HX-Request": "true"})
    assert polled.headers["HX-Redirect"].endswith("/account/password") and polled.data == b""
    token = token_of(app, "nina")
    status, words = api_status(app, token)
    assert status == 403 and "change your password" in words
    wrong = post(nina, "/account/password", current_password="guess", new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD)
    assert wrong.status_code == 400 and "current password is not right" in wrong.get_data(as_text=True)
    short = post(nina, "/account/password", current_password=password, new_password="short", confirm_password="short")
    assert short.status_code == 400 and "at least 12 characters" in short.get_data(as_text=True)
    changed = post(nina, "/account/password", current_password=password, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD)
    assert changed.status_code == 302
    assert nina.get("/").status_code == 200  # this browser stays logged in
    assert api_status(app, token)[0] == 200
    assert not operator_row(app, "nina").must_change_password
    assert actions(app) == [("ada", "operator_create"), ("nina", "password_change")]


def test_a_password_change_ends_the_other_sessions(app: Flask, operator_password_hash: str) -> None:
    add_operator(app, "otto", "operator", operator_password_hash)
    here, elsewhere = log_in(app, "otto"), log_in(app, "otto")
    response = post(here, "/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD, confirm_password=NEW_PASSWORD)
    assert response.status_code == 302
    wait_for(lambda: sent_to_login(elsewhere), timeout=10, message="the other session ended")
    assert here.get("/").status_code == 200


def test_deactivating_ends_sessions_and_tokens_and_reactivating_brings_neither_back(app: Flask, operator_password_hash: str) -> None:
    add_operator(app, "ada", "admin", operator_password_hash)
    tim_id = add_operator(app, "tim", "operator", operator_password_hash)
    admin, tim, token = log_in(app, "ada"), log_in(app, "tim"), token_of(app, "tim")
    assert api_status(app, token)[0] == 200
    assert post(admin, f"/admin/operators/{tim_id}/deactivate").status_code == 302
    wait_for(lambda: sent_to_login(tim), timeout=10, message="tim's session ended")
    assert api_status(app, token)[0] == 401
    page = admin.get(f"/admin/operators/{tim_id}").get_data(as_text=True)
    assert "deactivated" in page and "revoked" in page
    assert post(admin, f"/admin/operators/{tim_id}/reactivate").status_code == 302
    assert api_status(app, token) == (401, "This API token was revoked.")
    assert log_in(app, "tim").get("/").status_code == 200
    assert actions(app) == [("ada", "operator_deactivate"), ("ada", "operator_reactivate")]


def test_a_reset_password_ends_sessions_and_is_changed_at_next_login(app: Flask, operator_password_hash: str) -> None:
    add_operator(app, "ada", "admin", operator_password_hash)
    tim_id = add_operator(app, "tim", "viewer", operator_password_hash)
    admin, tim = log_in(app, "ada"), log_in(app, "tim")
    reset = post(admin, f"/admin/operators/{tim_id}/password")
    assert reset.status_code == 200 and reset.headers["Cache-Control"] == "no-store"
    wait_for(lambda: sent_to_login(tim), timeout=10, message="tim's session ended")
    again = log_in(app, "tim", shown_password(reset.get_data(as_text=True)))
    assert again.get("/").headers["Location"].endswith("/account/password")
    assert actions(app) == [("ada", "password_reset")]


def test_roles_change_and_the_last_admin_stays(app: Flask, operator_password_hash: str) -> None:
    ada_id = add_operator(app, "ada", "admin", operator_password_hash)
    tim_id = add_operator(app, "tim", "viewer", operator_password_hash)
    admin, tim = log_in(app, "ada"), log_in(app, "tim")
    assert post(tim, "/jobs/purchase-orders/pending").status_code == 403
    assert post(admin, f"/admin/operators/{tim_id}/role", role="operator").status_code == 302
    assert operator_row(app, "tim").role == "operator"
    assert post(tim, "/jobs/purchase-orders/pending").status_code == 302  # at their next request
    refused = post(admin, f"/admin/operators/{ada_id}/role", role="viewer")
    assert "last active admin" in admin.get(refused.headers["Location"]).get_data(as_text=True)
    post(admin, f"/admin/operators/{ada_id}/deactivate")
    assert operator_row(app, "ada").role == "admin" and operator_row(app, "ada").active
    assert post(admin, f"/admin/operators/{tim_id}/role", role="wizard").status_code == 302
    assert operator_row(app, "tim").role == "operator"
    assert actions(app) == [("ada", "operator_role"), ("tim", "launch")]


def test_tokens_are_shown_once_named_expired_and_revoked(app: Flask, operator_password_hash: str) -> None:
    add_operator(app, "ada", "admin", operator_password_hash)
    tim_id = add_operator(app, "tim", "operator", operator_password_hash)
    admin = log_in(app, "ada")
    issued = post(admin, f"/admin/operators/{tim_id}/tokens", name="nightly export", expires_days="30")
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"
    token = shown_password(issued.get_data(as_text=True))
    with app.app_context():
        row = db.session.execute(db.select(ApiToken)).scalar_one()
        assert row.name == "nightly export" and row.expires_at is not None and token not in row.token_hash
        token_id = row.id
    assert api_status(app, token)[0] == 200
    page = admin.get(f"/admin/operators/{tim_id}").get_data(as_text=True)
    assert "127.0.0.1" in page and token not in page  # last used from; the token itself never again
    post(admin, f"/admin/tokens/{token_id}/name", name="export")
    post(admin, f"/admin/tokens/{token_id}/expire", expires_days="")
    assert api_status(app, token) == (401, "This API token has expired.")
    post(admin, f"/admin/tokens/{token_id}/revoke")
    assert api_status(app, token) == (401, "This API token was revoked.")
    assert [action for _, action in actions(app)] == ["token_issue", "token_name", "token_expire", "token_revoke"]


TRACEBACK_TASK = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"


def run_with_traceback(app: Flask) -> str:
    """A failed record with a task run that kept its traceback; returns the record page's path."""
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status="completed_with_failures", total=1)
        db.session.add(job)
        db.session.flush()
        record = JobRecord(job_id=job.id, seq=1, key="PO-100001", state="failed", error="ERP answered 500")
        db.session.add(record)
        db.session.flush()
        db.session.add(
            TaskRun(
                task_id=TRACEBACK_TASK,
                task_name="tasks.workflows.fetch_po",
                job_id=job.id,
                record_id=record.id,
                state="FAILURE",
                error="ERP answered 500",
                traceback='Traceback (most recent call last):\n  File "/srv/app/secret_path.py"',
            )
        )
        db.session.commit()
        return f"/jobs/{job.id}/records/{record.id}"


def test_tracebacks_are_shown_to_admins_only(app: Flask, operator_password_hash: str) -> None:
    path = run_with_traceback(app)
    for role, name in (("viewer", "vera"), ("operator", "otto"), ("admin", "ada")):
        add_operator(app, name, role, operator_password_hash)
        client = log_in(app, name)
        for page in (client.get(path).get_data(as_text=True), client.get(f"/tasks/{TRACEBACK_TASK}").get_data(as_text=True)):
            assert "ERP answered 500" in page
            assert ("secret_path.py" in page) == (role == "admin"), role


def test_buttons_a_role_cannot_use_are_hidden(app: Flask, operator_password_hash: str) -> None:
    path = run_with_traceback(app)
    job_page = path.split("/records")[0]
    seen = {}
    for role, name in (("viewer", "vera"), ("operator", "otto"), ("admin", "ada")):
        add_operator(app, name, role, operator_password_hash)
        client = log_in(app, name)
        seen[role] = client.get("/").get_data(as_text=True) + client.get(job_page).get_data(as_text=True)
        seen[role] += client.get("/schedules/").get_data(as_text=True)
    assert "Upload and start" not in seen["viewer"] and "Re-run as a new job" not in seen["viewer"]
    assert "Download CSV" in seen["viewer"]
    assert "Upload and start" in seen["operator"] and "Re-run as a new job" in seen["operator"]
    assert "Create schedule" not in seen["operator"] and "/admin/operators" not in seen["operator"]
    assert "Create schedule" in seen["admin"] and "/admin/operators" in seen["admin"]
