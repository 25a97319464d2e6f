"""The job page's buttons over htmx: each asks first, and its answer brings the buttons, the summary
and the rows at once ("cancelling" at once, polling again after a retry); and the renders viewers
share never carry one operator's CSRF token to another."""

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.forms import csrf_token
from webapp.extensions import db
from webapp.models import Job, JobRecord, ReconImport, utcnow

HTMX = {"HX-Request": "true"}
PREVIEW = {
    "kind": "date_range",
    "rows": 3,
    "bytes": 420,
    "errors": [],
    "settlements": [],
    "states": [],
    "orders": [
        {"settlement_id": "24702193891", "state": "CA", "rows": 3, "new": {"rows": 3, "order_total": 3575}, "imported": {"rows": 0}}
    ],
    "nothing_new": False,
    "other": [],
    "warnings": [],
}


def job_with(app: Flask, status: str, states: list[str], kind: str = "purchase_orders") -> int:
    """A job row with one record in each of ``states`` (no workers involved)."""
    with app.app_context():
        job = Job(kind=kind, source="upload", status=status, total=len(states))
        db.session.add(job)
        db.session.flush()
        for seq, state in enumerate(states, 1):
            db.session.add(JobRecord(job_id=job.id, seq=seq, key=f"PO-{100000 + seq}", state=state, started_at=utcnow()))
        db.session.commit()
        return job.id


def log_in(app: Flask, username: str, password_hash: str) -> FlaskClient:
    """A second operator's account and a client logged in as them."""
    from webapp.models import Operator

    with app.app_context():
        db.session.add(Operator(username=username, role="operator", password_hash=password_hash))
        db.session.commit()
    client = app.test_client()
    token = csrf_token(client.get("/login").data)
    assert client.post("/login", data={"username": username, "password": "correct horse battery", "csrf_token": token}).status_code == 302
    return client


def buttons(html: str, job_id: int) -> str:
    """The job's actions fragment in ``html``."""
    start = html.index(f'<div id="job-{job_id}-actions"')
    return html[start : html.index("</div>", start)]


def test_the_page_buttons_ask_first(app: Flask, client: FlaskClient) -> None:
    """Cancel asks (hx-confirm) and posts over htmx into the actions; so does retry on a failed job."""
    running = job_with(app, "running", ["pending"])
    actions = buttons(client.get(f"/jobs/{running}").get_data(as_text=True), running)
    assert f'hx-confirm="Cancel job #{running}? Records not started will not run' in actions
    assert f'hx-post="/jobs/{running}/cancel"' in actions and f'hx-target="#job-{running}-actions"' in actions
    failed = job_with(app, "completed_with_failures", ["succeeded", "failed"])
    actions = buttons(client.get(f"/jobs/{failed}").get_data(as_text=True), failed)
    assert f'hx-confirm="Send the failed records of job #{failed} again?' in actions and f'hx-post="/jobs/{failed}/retry-failed"' in actions


def test_cancel_answers_cancelling_at_once(app: Flask, client: FlaskClient) -> None:
    """A cancel while a step runs: the answer itself says "cancelling" (no time left, no Cancel
    button), with the rows of the page the operator looks at, still polling, and the message."""
    job_id = job_with(app, "running", ["running", "pending", "pending"])
    token = csrf_token(client.get(f"/jobs/{job_id}").data)
    current = {**HTMX, "HX-Current-URL": f"http://localhost/jobs/{job_id}?state=cancelled"}
    response = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token}, headers=current)
    assert response.status_code == 200
    answer = response.get_data(as_text=True)
    assert "<html" not in answer
    actions = buttons(answer, job_id)
    assert "Cancel job" not in actions and "Cancelling…" in actions and "hx-swap-oob" not in actions
    summary = answer[answer.index(f'<section id="job-{job_id}-summary"') :]
    assert summary.startswith(f'<section id="job-{job_id}-summary" class="job-summary" hx-swap-oob="true">')
    assert "data-cancelling>cancelling</span>" in summary and " left" not in summary.split("</section>")[0]
    rows = re.search(rf'<section id="job-{job_id}-rows"[^>]*>', answer)
    assert rows and 'hx-swap-oob="true"' in rows.group(0) and f'hx-get="/jobs/{job_id}/live?page=1&amp;state=cancelled"' in rows.group(0)
    assert re.findall(r'<tr id="record-\d+" [^>]*data-state="(\w+)"', answer) == ["cancelled", "cancelled"]  # the filtered page's rows
    assert '<div id="flashes" hx-swap-oob="true">' in answer and f"Job #{job_id} cancelled" in answer
    live = client.get(f"/jobs/{job_id}/live", headers=HTMX).get_data(as_text=True)
    assert "data-cancelling>cancelling</span>" in live  # the shared render was dropped with the cancel


def test_retry_answer_starts_the_rows_polling_again(app: Flask, client: FlaskClient, no_relay: None) -> None:
    """Retry on an ended job: the rows come back polling, since the job runs again."""
    job_id = job_with(app, "completed_with_failures", ["succeeded", "failed"])
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "hx-trigger" not in page.split(f'id="job-{job_id}-rows"')[1].split(">")[0]
    answer = client.post(f"/jobs/{job_id}/retry-failed", data={"csrf_token": csrf_token(page)}, headers=HTMX).get_data(as_text=True)
    rows = re.search(rf'<section id="job-{job_id}-rows"[^>]*>', answer)
    assert rows and 'hx-trigger="load delay:1s' in rows.group(0)
    assert "1 failed record sent again." in answer and 'data-status="queued"' in answer and "Cancel job" in buttons(answer, job_id)


def test_a_plain_post_still_redirects(app: Flask, client: FlaskClient) -> None:
    """Without htmx the buttons post as forms do: Post/Redirect/Get with the message flashed."""
    job_id = job_with(app, "running", ["pending"])
    response = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf_token(client.get("/").data)})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/jobs/{job_id}")
    assert f"Job #{job_id} cancelled" in client.get(f"/jobs/{job_id}").get_data(as_text=True)


def test_a_shared_summary_never_carries_another_operators_token(app: Flask, client: FlaskClient, operator_password_hash: str) -> None:
    """A reading reconciliation whose preview becomes ready between the shared rows render (still
    polling) and the shared summary render: the summary shared with every viewer holds no form; each
    operator's Confirm and Discard, with their own token, come only in their own renders."""
    job_id = job_with(app, "running", [], kind="reconciliation")
    with app.app_context():
        db.session.add(ReconImport(job_id=job_id, filename="report.csv", size_bytes=420, read_started_at=utcnow()))
        db.session.commit()
    other = log_in(app, "piotr", operator_password_hash)
    url = f"/jobs/{job_id}/live"
    first, second = client.get(f"/jobs/{job_id}").get_data(as_text=True), other.get(f"/jobs/{job_id}").get_data(as_text=True)
    mine, theirs = csrf_token(first), csrf_token(second)
    assert mine != theirs
    assert client.get(url, headers=HTMX).status_code == 200  # shares the rows (polling) and the summary
    with app.app_context():
        db.session.execute(db.update(Job).where(Job.id == job_id).values(status="awaiting_confirmation"))
        db.session.execute(db.update(ReconImport).where(ReconImport.job_id == job_id).values(preview=PREVIEW, read_finished_at=utcnow()))
        db.session.commit()
    app.extensions["fragment_cache"].forget(("summary", job_id))  # the summary's second ended first: rendered after the rows
    renders = [c.get(url, headers=HTMX).get_data(as_text=True) for c in (client, other)]
    assert all("Preview of report.csv" in r for r in renders) and renders[0] == renders[1]
    assert all("csrf_token" not in r and mine not in r and theirs not in r for r in renders)
    pages = [c.get(f"/jobs/{job_id}").get_data(as_text=True) for c in (client, other)]
    assert "Confirm: write 1 sales order" in buttons(pages[1], job_id) and "Discard" in buttons(pages[1], job_id)
    own = [csrf_token(buttons(p, job_id)) for p in pages]
    assert own[0] != own[1] and own[0] not in pages[1] and own[1] not in pages[0]
    summary = pages[1][pages[1].index(f'<section id="job-{job_id}-summary"') :].split("</section>")[0]
    assert "<form" not in summary and "Preview of report.csv" in summary
