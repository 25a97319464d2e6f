"""The operators page over real HTTP, under gunicorn as the Procfile runs it: the first admin from
`flask operators ensure-admin` changes the printed password, creates a viewer who can read but not
launch, then deactivates them and their session ends."""

import re
import subprocess
import sys

import requests
from flask import Flask

from devtools import ROOT
from devtools.waiting import wait_for
from devtools.web import csrf_token, logged_in


def first_admin_password(worker_env: dict[str, str]) -> str:
    """Run `flask operators ensure-admin` as `make run` does; return the password it printed."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "operators", "ensure-admin"],
        cwd=ROOT,
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    match = re.search(r"password: (\S+)", result.stdout)
    assert match, result.stdout + result.stderr
    return match.group(1)


def post(session: requests.Session, base: str, path: str, **data: str) -> requests.Response:
    """POST a form with the CSRF token of the session's password page (every role may see it)."""
    token = csrf_token(session.get(f"{base}/account/password", timeout=30).text)
    return session.post(f"{base}{path}", data={"csrf_token": token} | data, allow_redirects=False, timeout=30)


def change_password(session: requests.Session, base: str, current: str, new: str) -> None:
    """Change the session's operator's password through the form."""
    response = post(session, base, "/account/password", current_password=current, new_password=new, confirm_password=new)
    assert response.status_code == 302, response.text[:500]


def test_the_operators_page_over_gunicorn(app: Flask, worker_env: dict[str, str], gunicorn: str) -> None:
    password = first_admin_password(worker_env)
    admin = logged_in(gunicorn, "admin", password)
    first = admin.get(f"{gunicorn}/", allow_redirects=False, timeout=30)
    assert first.status_code == 302 and first.headers["Location"].endswith("/account/password")
    change_password(admin, gunicorn, password, "the admin's own passphrase")
    page = admin.get(f"{gunicorn}/admin/operators", timeout=30)
    assert page.status_code == 200 and ">admin<" in page.text
    created = post(admin, gunicorn, "/admin/operators", username="vic", role="viewer")
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    vics_password = re.search(r'<code class="secret">([^<]+)</code>', created.text).group(1)
    vic = logged_in(gunicorn, "vic", vics_password)
    change_password(vic, gunicorn, vics_password, "vic's own passphrase")
    dashboard = vic.get(f"{gunicorn}/", timeout=30)
    assert dashboard.status_code == 200 and "Recent jobs" in dashboard.text and "Upload and start" not in dashboard.text
    refused = post(vic, gunicorn, "/jobs/purchase-orders/pending")
    assert refused.status_code == 403 and "it needs the operator role" in refused.text
    assert vic.get(f"{gunicorn}/admin/operators", timeout=30).status_code == 403
    vic_id = re.search(r'/admin/operators/(\d+)">vic<', admin.get(f"{gunicorn}/admin/operators", timeout=30).text).group(1)
    assert post(admin, gunicorn, f"/admin/operators/{vic_id}/deactivate").status_code == 302

    def vic_sent_to_login() -> bool:
        response = vic.get(f"{gunicorn}/", allow_redirects=False, timeout=30)
        return response.status_code == 302 and "/login" in response.headers["Location"]

    wait_for(vic_sent_to_login, timeout=10, message="vic's session ended by the deactivation")
    audit = admin.get(f"{gunicorn}/audit", timeout=30).text
    assert all(action in audit for action in ("operator create", "password change", "operator deactivate")), audit[:3000]
