"""The dashboard's launch forms after a launch they did not start: what was typed kept, the errors
under the card that caused them, keys given twice a warning that can remove them and start, a body
over the limit shown in place; and the pending-POs card's confirmation with the ERP's count."""

import html
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import csrf_token
from tests.jobs import job_count
from webapp.extensions import db
from webapp.models import Job, JobKeyList
from webapp.views import dashboard

CODES = [f"P-{10100 + n}" for n in range(12)]
TYPED_WITH_A_REPEAT = "\n".join([*CODES[:6], CODES[2], *CODES[6:]])  # 13 codes typed, one of them twice


def card(page: str, action: str) -> str:
    """The launch form posting to ``action``, from its opening tag to its end."""
    start = page.index(f'action="{action}"')
    return page[start : page.index("</form>", start)]


def post_form(client: FlaskClient, path: str, **fields: object) -> tuple[int, str]:
    """POST a launch form with the dashboard's CSRF token; return (status, body)."""
    data = {"csrf_token": csrf_token(client.get("/").data), **fields}
    response = client.post(path, data=data, content_type="multipart/form-data")
    return response.status_code, response.get_data(as_text=True)


def textarea(page: str) -> str:
    """The BOM form's text box content, unescaped."""
    match = re.search(r'<textarea name="keys"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "no BOM text box"
    return html.unescape(match.group(1))


def test_an_error_keeps_the_typed_codes_under_their_card(app: Flask, client: FlaskClient) -> None:
    """One bad code among 13 typed: 400, the text box keeps all 13, the error is in the BOM card only."""
    typed = "\n".join([*CODES, "P-1"])
    status, page = post_form(client, "/jobs/bills-of-materials", keys=typed)
    assert status == 400
    assert textarea(page) == typed
    bom = card(page, "/jobs/bills-of-materials")
    assert "The product codes were not accepted" in bom and "line 13: &#39;P-1&#39; is not a product code" in bom
    assert 'class="errors"' not in card(page, "/jobs/purchase-orders")
    assert "Remove duplicates and start" not in page
    assert job_count(app) == 0


def test_a_repeated_code_is_a_warning_that_removes_it_and_starts(app: Flask, client: FlaskClient) -> None:
    """13 typed codes with one repeated: a warning (200) with the text kept and "remove duplicates and
    start", no job; pressing it starts the job with the 12 distinct codes."""
    status, page = post_form(client, "/jobs/bills-of-materials", keys=TYPED_WITH_A_REPEAT)
    assert status == 200
    bom = card(page, "/jobs/bills-of-materials")
    assert "line 7: P-10102 is repeated (first on line 3)" in bom
    assert 'name="duplicates" value="remove"' in bom and "Remove duplicates and start" in bom
    assert textarea(page) == TYPED_WITH_A_REPEAT
    assert job_count(app) == 0

    status, _ = post_form(client, "/jobs/bills-of-materials", keys=textarea(page), duplicates="remove")
    assert status == 302
    with app.app_context():
        job = db.session.execute(db.select(Job)).scalar_one()
        assert (job.kind, job.total) == ("bills_of_materials", 12)
        assert db.session.get(JobKeyList, job.id).keys == CODES


def test_remove_duplicates_does_not_pass_other_errors(app: Flask, client: FlaskClient) -> None:
    """A repeat and a bad code: refused (400) even when "remove duplicates" is sent."""
    status, page = post_form(client, "/jobs/bills-of-materials", keys=TYPED_WITH_A_REPEAT + "\nP-1", duplicates="remove")
    assert status == 400
    assert "is repeated" in page and "is not a product code" in page and "Remove duplicates and start" not in page
    assert job_count(app) == 0


def test_a_file_with_repeats_comes_back_and_starts_without_a_second_upload(app: Flask, client: FlaskClient) -> None:
    """A CSV with a repeated PO number: the warning carries the file back hidden; "remove duplicates
    and start" sends it again with no file chosen, and the job keeps the file's name."""
    content = "po_number\nPO-100001\nPO-100002\nPO-100001\nPO-100003\n"
    status, page = post_form(client, "/jobs/purchase-orders", file=(io.BytesIO(content.encode()), "orders.csv"))
    assert status == 200
    po = card(page, "/jobs/purchase-orders")
    assert "line 4: PO-100001 is repeated (first on line 2)" in po and "Remove duplicates and start" in po
    kept = re.search(r'name="file_text" value="([^"]*)"', po)
    assert kept and html.unescape(kept.group(1)) == content
    assert job_count(app) == 0

    carried = html.unescape(kept.group(1))
    status, _ = post_form(client, "/jobs/purchase-orders", file_name="orders.csv", file_text=carried, duplicates="remove")
    assert status == 302
    with app.app_context():
        job = db.session.execute(db.select(Job)).scalar_one()
        assert (job.total, job.input_name) == (3, "orders.csv")
        assert db.session.get(JobKeyList, job.id).keys == ["PO-100001", "PO-100002", "PO-100003"]


def test_a_large_file_with_a_repeat_comes_back_whole(app: Flask, client: FlaskClient) -> None:
    """60,000 PO numbers (600 kB, past Werkzeug's 500 kB for a text field) with one repeated: the
    file carried back in the warning's hidden field is accepted as the upload was."""
    numbers = [f"PO-{n}" for n in range(100000, 160000)]
    content = "po_number\n" + "\n".join([*numbers, numbers[0]]) + "\n"
    status, page = post_form(client, "/jobs/purchase-orders", file=(io.BytesIO(content.encode()), "large.csv"))
    assert status == 200 and "line 60002: PO-100000 is repeated (first on line 2)" in page
    kept = re.search(r'name="file_text" value="([^"]*)"', page)
    assert kept and len(kept.group(1)) > 500_000
    status, _ = post_form(
        client, "/jobs/purchase-orders", file_name="large.csv", file_text=html.unescape(kept.group(1)), duplicates="remove"
    )
    assert status == 302
    with app.app_context():
        assert db.session.execute(db.select(Job.total)).scalar_one() == 60_000


def test_a_body_over_the_limit_is_shown_under_its_card(app: Flask, client: FlaskClient) -> None:
    """A PO upload over MAX_CONTENT_LENGTH: 413 with the dashboard, the limit under the PO card, no
    error page of its own; no job."""
    junk = b"po_number\n" + b"PO-100001\n" * (11 * 1024 * 1024 // 10)
    status, page = post_form(client, "/jobs/purchase-orders", file=(io.BytesIO(junk), "big.csv"))
    assert status == 413
    assert "error-page" not in page and "Start a job" in page
    po = card(page, "/jobs/purchase-orders")
    assert '<li class="error-message">The upload is larger than the limit of 10 MB.</li>' in po
    assert "larger than the limit" not in card(page, "/jobs/bills-of-materials")
    assert job_count(app) == 0


def test_a_body_over_the_limit_without_a_session_gets_the_plain_page(app: Flask) -> None:
    """Nobody logged in: the 413 is the error page, never the dashboard."""
    anonymous = app.test_client()
    token = csrf_token(anonymous.get("/login").data)
    junk = io.BytesIO(b"x" * (11 * 1024 * 1024))
    response = anonymous.post("/jobs/purchase-orders", data={"csrf_token": token, "file": (junk, "big.csv")})
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "error-page" in page and "Recent jobs" not in page


def test_the_pending_card_asks_with_the_count_the_erp_lists(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's card asks before it starts and fetches the count after the page loads; the
    count goes into the question; an ERP that does not answer leaves the count unknown, in words."""
    page = client.get("/").get_data(as_text=True)
    pending = card(page, "/jobs/purchase-orders/pending")
    assert 'hx-boost="true"' in pending and 'hx-confirm="Start a job for every purchase order' in pending
    assert 'hx-get="/pending-card"' in pending

    real_count = dashboard.listed_count
    monkeypatch.setattr(dashboard, "listed_count", lambda *args: 37)
    counted = client.get("/pending-card", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-confirm="Start a job for the 37 purchase orders the ERP lists as pending?"' in counted
    assert 'data-count="37"' in counted and "hx-get" not in counted and csrf_token(counted)

    app.extensions["fragment_cache"].clear()  # the count is shared for a second
    monkeypatch.setattr(dashboard, "listed_count", real_count)
    monkeypatch.setitem(app.config, "ERP_API_URL", "http://127.0.0.1:9")  # nothing listens there
    unknown = client.get("/pending-card", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "How many is not known: could not connect to the ERP" in unknown
    assert "How many is not known yet" in unknown
