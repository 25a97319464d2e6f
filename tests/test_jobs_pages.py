"""Job pages and uploads: bad files refused with the line named, fragments, login and CSRF."""

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import csrf_token
from tests.jobs import job_count, make_job
from webapp.extensions import db
from webapp.models import Job, JobKeyList, JobRecord, OutboxMessage, TaskRun


def upload(client: FlaskClient, content: bytes, filename: str = "pos.csv") -> tuple[int, str]:
    """POST a file to the upload form with a valid CSRF token; return (status, body)."""
    token = csrf_token(client.get("/").data)
    response = client.post(
        "/jobs/purchase-orders", data={"csrf_token": token, "file": (io.BytesIO(content), filename)}, content_type="multipart/form-data"
    )
    return response.status_code, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b"   \n\n", "the file is empty"),
        (b"order,qty\nPO-100001,3\n", "line 1: the header has no po_number column"),
        (b"po_number\n", "line 2: no PO numbers after the header"),
        (b"po_number\nPO-100001\nPO-1\n", "line 3: &#39;PO-1&#39; is not a PO number"),
        (b"po_number\nPO-100001\n\nPO-100001\nPO-1\n", "line 4: PO-100001 is repeated (first on line 2)"),  # and an error
        (b"po_number\nPO-100001\n\x00\x01\x02binary", "line 3: the file contains NUL bytes"),
        (b"po_number\nPO-100001\nPO-10\xff002\n", "line 3: byte 0xff is not valid UTF-8"),
        (b'po_number,note\nPO-100001,"unterminated\n', "a quoted field is not closed"),
        (b'po_number,note\nPO-100001,"a"b"\n', "line 2: the CSV is malformed"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL bytes"),
    ],
)
def test_malformed_csv_is_refused_with_the_line(app: Flask, client: FlaskClient, content: bytes, expected: str) -> None:
    """Each bad file gets a 400 naming the line and problem; no job, record or outbox row appears."""
    status, body = upload(client, content)
    assert status == 400
    assert expected in body
    assert "Traceback" not in body
    assert job_count(app) == 0
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(JobRecord)).scalar_one() == 0
        assert db.session.execute(db.select(db.func.count()).select_from(OutboxMessage)).scalar_one() == 0


def test_wrong_file_type_is_refused(app: Flask, client: FlaskClient) -> None:
    """Only .csv/.txt uploads are read."""
    status, body = upload(client, b"po_number\nPO-100001\n", filename="orders.xlsx")
    assert status == 400
    assert "is not a .csv file" in body
    assert job_count(app) == 0


def test_fifty_megabytes_of_junk_is_refused(app: Flask, client: FlaskClient) -> None:
    """An upload over the size limit gets 413 with the limit in words, and no job."""
    status, body = upload(client, b"\xde\xad\xbe\xef junk " * (50 * 1024 * 1024 // 13))
    assert status == 413
    assert "larger than the limit of 10 MB" in body
    assert job_count(app) == 0


def test_too_many_records_refused(app: Flask, client: FlaskClient) -> None:
    """More PO numbers than MAX_JOB_RECORDS are refused before anything is written."""
    app.config["MAX_JOB_RECORDS"] = 5
    try:
        content = ("po_number\n" + "\n".join(f"PO-{n}" for n in range(100000, 100006)) + "\n").encode()
        status, body = upload(client, content)
    finally:
        app.config["MAX_JOB_RECORDS"] = 100_000
    assert status == 400
    assert "the limit is 5 per job" in body
    assert job_count(app) == 0


def test_valid_upload_creates_job_and_outbox_row(app: Flask, client: FlaskClient) -> None:
    """A good file (BOM, CRLF, header spelled 'PO Number') commits a job, its key list and one
    outbox row; the records are the dispatch task's to make (no worker runs here)."""
    status, body = upload(client, "\ufeffPO Number,Note\r\npo-100001,x\r\nPO-100002,y\r\n".encode())
    assert status == 302
    with app.app_context():
        job = db.session.execute(db.select(Job)).scalar_one()
        listed = db.session.get(JobKeyList, job.id)
        outbox = db.session.execute(db.select(OutboxMessage)).scalar_one()
        assert (job.kind, job.total, job.input_name) == ("purchase_orders", 2, "pos.csv")
        assert listed.keys == ["PO-100001", "PO-100002"]
        assert db.session.execute(db.select(db.func.count()).select_from(JobRecord)).scalar_one() == 0
        assert outbox.kwargs == {"job_id": job.id}
        assert outbox.status == "dispatched"


def test_a_job_cancelled_before_its_dispatch_keeps_its_keys(app: Flask, client: FlaskClient) -> None:
    """Cancelled while its key list still waits for the dispatch task (no worker runs here): the
    records are made, cancelled, the list is gone, and a re-run launches the same keys."""
    status, _ = upload(client, b"po_number\nPO-100011\nPO-100012\nPO-100013\n")
    assert status == 302
    with app.app_context():
        job_id = db.session.execute(db.select(Job.id)).scalar_one()
    token = csrf_token(client.get("/").data)
    assert client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        job = db.session.get(Job, job_id)
        records = db.session.execute(db.select(JobRecord.key, JobRecord.state).order_by(JobRecord.seq)).all()
        assert job.status == "cancelled"
        assert [tuple(r) for r in records] == [("PO-100011", "cancelled"), ("PO-100012", "cancelled"), ("PO-100013", "cancelled")]
        assert db.session.get(JobKeyList, job_id) is None
    assert client.post(f"/jobs/{job_id}/rerun", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        rerun = db.session.execute(db.select(Job).where(Job.rerun_of_id == job_id)).scalar_one()
        assert (rerun.total, db.session.get(JobKeyList, rerun.id).keys) == (3, ["PO-100011", "PO-100012", "PO-100013"])


def test_a_cancel_while_the_dispatch_prepares_is_not_undone(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dispatch reads the job, makes its records, lists them; a cancel commits meanwhile (from
    another session, as the web process's): the dispatch must not bring the job back to running
    nor publish its canvas."""
    from tasks import jobs, workflows
    from webapp.jobs.control import cancel_job
    from webapp.jobs.launch import launch_job

    with app.app_context():
        job_id = launch_job("purchase_orders", "upload", ["PO-100021", "PO-100022"], None).id
    listed, published = jobs.has_unfinished, []

    def cancel_meanwhile(of_job: int) -> bool:
        unfinished = listed(of_job)
        with app.app_context():
            cancel_job(of_job, None)
        return unfinished

    monkeypatch.setattr(jobs, "has_unfinished", cancel_meanwhile)
    monkeypatch.setattr(workflows, "send_batch", lambda *args, **kwargs: published.append(args))
    with app.app_context():
        assert workflows.dispatch_job.run(job_id=job_id) == {"job": job_id, "dispatched": False}
    with app.app_context():
        job = db.session.get(Job, job_id)
        states = db.session.execute(db.select(JobRecord.state).where(JobRecord.job_id == job_id)).scalars().all()
        assert (job.status, job.group_id, states, published) == ("cancelled", None, ["cancelled", "cancelled"], [])


def test_post_without_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    """A logged-in POST without the CSRF token gets 400 and changes nothing."""
    response = client.post("/jobs/purchase-orders/pending")
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert job_count(app) == 0


def test_htmx_post_with_header_token_is_accepted(app: Flask, client: FlaskClient) -> None:
    """htmx requests carry the token in the X-CSRFToken header (set on <body>)."""
    token = csrf_token(client.get("/").data)
    response = client.post("/jobs/purchase-orders/pending", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 302
    assert job_count(app) == 1


@pytest.mark.parametrize(
    "path", ["/", "/jobs/1", "/jobs/1/rows", "/jobs/1/summary", "/jobs/1/live", "/jobs/1/records/1", "/sandbox/settings", "/jobs-table"]
)
def test_pages_refuse_anonymous(app: Flask, path: str) -> None:
    """Every page and fragment redirects an anonymous visitor to the login page."""
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_login_rejects_wrong_password(app: Flask, operator: tuple[str, str]) -> None:
    """A wrong password does not log in."""
    client = app.test_client()
    token = csrf_token(client.get("/login").data)
    response = client.post("/login", data={"username": operator[0], "password": "nope", "csrf_token": token})
    assert response.status_code == 200
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_ignores_offsite_next(app: Flask, operator: tuple[str, str]) -> None:
    """?next= pointing to another site is not followed (no open redirect)."""
    client = app.test_client()
    token = csrf_token(client.get("/login").data)
    response = client.post("/login?next=//evil.example/", data={"username": operator[0], "password": operator[1], "csrf_token": token})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("fragment", ["rows", "live"])
def test_fragments_poll_only_while_active(app: Flask, client: FlaskClient, fragment: str) -> None:
    """The rows fragment (alone, or polled with the summary) carries its polling trigger while
    running and none once terminal."""
    running = client.get(f"/jobs/{make_job(app, 'running')}/{fragment}", headers={"HX-Request": "true"})
    done = client.get(f"/jobs/{make_job(app, 'succeeded')}/{fragment}", headers={"HX-Request": "true"})
    assert running.status_code == done.status_code == 200
    assert b'hx-trigger="load delay:1s, htmx:afterSettle delay:1s"' in running.data and b'hx-swap="morph"' in running.data
    assert b"hx-trigger" not in done.data
    assert b"<html" not in running.data


def test_the_job_page_polls_once_for_rows_and_summary(app: Flask, client: FlaskClient, operator: tuple[str, str]) -> None:
    """One poll a second per page: the rows poll /live, whose answer carries the summary out of band.
    While the job runs the answer is the same for every viewer (no CSRF token in it: the buttons
    are the page's); the last answer, once the job has ended, brings each viewer's own buttons."""
    job_id = make_job(app, "running", records=2)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert page.count("hx-get=") == 1 and f'hx-get="/jobs/{job_id}/live' in page
    live = client.get(f"/jobs/{job_id}/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert live.index(f'id="job-{job_id}-rows"') < live.index(f'<section id="job-{job_id}-summary" class="job-summary" hx-swap-oob="true">')
    assert 'data-state="pending">2<' in live
    other = app.test_client()
    token = csrf_token(other.get("/login").data)
    other.post("/login", data={"username": operator[0], "password": operator[1], "csrf_token": token})
    other_page = other.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert other.get(f"/jobs/{job_id}/live", headers={"HX-Request": "true"}).get_data(as_text=True) == live
    assert "csrf_token" not in live
    mine, theirs = csrf_token(page), csrf_token(other_page)
    assert mine != theirs
    assert client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": mine}).status_code == 302
    with app.app_context():
        db.session.execute(db.update(Job).where(Job.id == job_id).values(status="cancelled"))
        db.session.commit()
    app.extensions["fragment_cache"].clear()  # as a TTL later
    ended = [c.get(f"/jobs/{job_id}/live", headers={"HX-Request": "true"}).get_data(as_text=True) for c in (client, other)]
    assert all(f'<div id="job-{job_id}-actions" class="job-actions" hx-swap-oob="true">' in e and "Re-run as a new job" in e for e in ended)
    tokens = [csrf_token(e) for e in ended]
    assert tokens[0] != tokens[1]
    assert [c.post(f"/jobs/{job_id}/rerun", data={"csrf_token": t}).status_code for c, t in zip((client, other), tokens)] == [302, 302]
    assert other.post(f"/jobs/{job_id}/rerun", data={"csrf_token": tokens[0]}).status_code == 400  # not the other viewer's


def test_rows_show_steps_attempts_and_retry_time(app: Flask, client: FlaskClient) -> None:
    """A retrying record counts its attempts one way in its status, its Attempts cell and its fetch
    cell, shows its next retry's time and its last error, escaped."""
    job_id = make_job(app, "running", records=1)
    with app.app_context():
        record = db.session.execute(db.select(JobRecord)).scalar_one()
        record.state, record.error = "retrying", "<b>HTTP 503</b> (attempt 2 of 9)"
        from datetime import datetime

        record.retry_at = datetime(2026, 1, 1, 12, 34, 56)
        for attempt in (1, 2):
            db.session.add(
                TaskRun(
                    task_id="t1", task_name="tasks.workflows.fetch_po", job_id=job_id, record_id=record.id, state="RETRY", attempt=attempt
                )
            )
        db.session.commit()
    body = client.get(f"/jobs/{job_id}/rows", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "retrying: attempt 2 of 9 failed, next at 12:34:56" in body
    assert "&lt;b&gt;HTTP 503&lt;/b&gt; (attempt 2 of 9)" in body
    assert '<td class="attempts">2</td>' in body
    assert "retrying after 2 failed tries</td>" in body
    assert "×" not in body


def test_record_page_shows_runs_and_traceback(app: Flask, client: FlaskClient) -> None:
    """The record detail lists every run, with the traceback escaped inside <pre>."""
    job_id = make_job(app, "running", records=1)
    with app.app_context():
        record = db.session.execute(db.select(JobRecord)).scalar_one()
        db.session.add(
            TaskRun(
                task_id="t9",
                task_name="tasks.workflows.make_po",
                job_id=job_id,
                record_id=record.id,
                state="FAILURE",
                attempt=1,
                error="boom",
                traceback="Traceback <script>x</script>",
            )
        )
        db.session.commit()
        record_id = record.id
    body = client.get(f"/jobs/{job_id}/records/{record_id}").get_data(as_text=True)
    assert "Task runs (1)" in body
    assert "<pre>Traceback &lt;script&gt;x&lt;/script&gt;</pre>" in body


def test_unknown_job_is_404_page(client: FlaskClient) -> None:
    """A missing job gives a 404 page, not a traceback."""
    response = client.get("/jobs/999999")
    assert response.status_code == 404
    assert "Not Found" in response.get_data(as_text=True)


@pytest.mark.parametrize("fragment", ["live", "rows", "summary"])
def test_fragments_of_an_unknown_job_are_404(client: FlaskClient, fragment: str) -> None:
    """A deleted job's open pages get 404 from their polls, every time (a failed shared render is
    not kept)."""
    for _ in range(2):
        assert client.get(f"/jobs/999999/{fragment}", headers={"HX-Request": "true"}).status_code == 404
