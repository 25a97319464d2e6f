"""Odd input gets a 4xx in words and writes nothing: redirects off site, formulas in downloads, huge
page numbers and ids, deeply nested JSON, overlong file names, requests for missing jobs."""

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import csrf_token
from webapp.extensions import db
from webapp.jobs.export import spreadsheet_safe
from webapp.models import AuditEvent, Job, JobRecord, StoredFile
from webapp.web.fragment_cache import FragmentCache

HUGE = "99999999999999999999"


def job_with_records(app: Flask, *records: tuple[str, str | None]) -> int:
    """A finished job whose records have these (key, error) pairs, written directly."""
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status="completed_with_failures", total=len(records))
        db.session.add(job)
        db.session.flush()
        for seq, (key, error) in enumerate(records, start=1):
            db.session.add(JobRecord(job_id=job.id, seq=seq, key=key, state="failed" if error else "succeeded", error=error))
        db.session.commit()
        return job.id


def row_counts(app: Flask) -> tuple[int, int, int]:
    """Jobs, records and stored files: what a refused request must leave as it was."""
    with app.app_context():
        return tuple(db.session.scalar(db.select(db.func.count()).select_from(model)) for model in (Job, JobRecord, StoredFile))


@pytest.mark.parametrize("target", ["/%09/evil.com", "//evil.com", "https://evil.com/", "/\\evil.com",
                                    "/%0d%0aSet-Cookie:%20stolen=1", "javascript:alert(1)", "%2F%2Fevil.com"])
def test_login_never_sends_the_operator_off_site(app: Flask, operator: tuple[str, str], target: str) -> None:
    client = app.test_client()
    page = client.get("/login")
    response = client.post(f"/login?next={target}", data={"username": operator[0], "password": operator[1],
                                                         "csrf_token": csrf_token(page.data)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_follows_a_path_on_this_site(app: Flask, operator: tuple[str, str]) -> None:
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login?next=/jobs/7%3Fstate%3Dfailed", data={"username": operator[0], "password": operator[1],
                                                                        "csrf_token": csrf_token(page.data)})
    assert response.headers["Location"] == "/jobs/7?state=failed"


@pytest.mark.parametrize(("cell", "shown"), [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("PO-100001", "PO-100001"), (7, 7), ("", ""),
])
def test_a_download_cell_never_starts_a_formula(cell: object, shown: object) -> None:
    assert spreadsheet_safe(cell) == shown


@pytest.mark.parametrize("url", ["/jobs/{job}/records.csv", "/api/jobs/{job}/records.csv"])
def test_the_records_download_escapes_formulas(app: Flask, client: FlaskClient, api_token: str, url: str) -> None:
    job = job_with_records(app, ("=1+2", None), ("PO-100002", "@cmd: not found"), ("PO-100003", None))
    response = client.get(url.format(job=job), headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 200
    lines = response.data.decode().splitlines()
    assert lines[1].startswith("1,'=1+2,succeeded,")
    assert ",'@cmd: not found," in lines[2]
    assert lines[3].startswith("3,PO-100003,succeeded,")


PAGED_PAGES = ["/", "/jobs-table", "/audit", "/ops/search?q=PO", "/jobs/{job}", "/jobs/{job}/rows"]
PAGED_API = ["/api/jobs", "/api/audit", "/api/ops/search?q=PO", "/api/jobs/{job}/records"]


@pytest.mark.parametrize("url", PAGED_PAGES + PAGED_API)
def test_a_page_number_past_any_list_is_a_400_in_words(app: Flask, client: FlaskClient, api_token: str, url: str) -> None:
    job = job_with_records(app, ("PO-100001", None))
    joiner = "&" if "?" in url else "?"
    response = client.get(url.format(job=job) + f"{joiner}page={HUGE}", headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 400
    assert b"page" in response.data and b"Traceback" not in response.data
    if url.startswith("/api/"):
        assert "pages go up to" in response.get_json()["message"]


@pytest.mark.parametrize("url", PAGED_PAGES + PAGED_API)
def test_a_large_page_number_within_bounds_is_an_empty_page(app: Flask, client: FlaskClient, api_token: str, url: str) -> None:
    job = job_with_records(app, ("PO-100001", None))
    joiner = "&" if "?" in url else "?"
    response = client.get(url.format(job=job) + f"{joiner}page=999999", headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("url", [f"/jobs/{HUGE}", f"/jobs/{HUGE}/live", f"/jobs/1/records/{HUGE}", f"/api/jobs/{HUGE}",
                                 f"/erp/purchase-orders/{HUGE}"])
def test_an_id_past_any_table_is_not_found(client: FlaskClient, api_token: str, url: str) -> None:
    response = client.get(url, headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 404


def test_json_nested_too_deeply_is_a_400_and_writes_nothing(app: Flask, api_token: str) -> None:
    before = row_counts(app)
    body = '{"kind": "purchase_orders", "keys": ' + "[" * 50_000 + "]" * 50_000 + "}"
    response = app.test_client().post("/api/jobs", data=body, content_type="application/json",
                                      headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["message"]
    assert row_counts(app) == before


def test_an_overlong_file_name_is_refused_by_the_api_before_anything_is_stored(app: Flask, api_token: str) -> None:
    before = row_counts(app)
    for kind in ("purchase_orders", "reconciliation"):
        response = app.test_client().post("/api/jobs", data={"kind": kind, "file": (io.BytesIO(b"po_number\nPO-100001\n"),
                                                                                     "a" * 1000 + ".csv")},
                                          headers={"Authorization": f"Bearer {api_token}"})
        assert response.status_code == 400, kind
        assert "1,004 characters" in response.get_data(as_text=True)
    assert row_counts(app) == before


@pytest.mark.parametrize("url", ["/jobs/purchase-orders", "/jobs/reconciliation"])
def test_an_overlong_file_name_is_refused_by_the_dashboard(app: Flask, client: FlaskClient, url: str) -> None:
    before = row_counts(app)
    token = csrf_token(client.get("/").data)
    response = client.post(url, data={"csrf_token": token, "file": (io.BytesIO(b"po_number\nPO-100001\n"), "b" * 1000 + ".csv")})
    assert response.status_code == 400
    assert b"1,004 characters" in response.data
    assert row_counts(app) == before


def test_requests_for_missing_jobs_leave_no_render_lock_behind(app: Flask, client: FlaskClient) -> None:
    cache = app.extensions["fragment_cache"]
    missing = range(900_000, 900_300)
    for job_id in missing:
        assert client.get(f"/jobs/{job_id}/live", headers={"HX-Request": "true"}).status_code == 404
    assert [key for key in cache.rendering if key[1] in missing] == []
    assert len(cache.rendering) < 10  # the operator's own read, and nothing per missing job


def test_a_failed_render_keeps_neither_value_nor_lock() -> None:
    cache = FragmentCache(ttl=60)

    def missing() -> str:
        raise LookupError("no such job")

    with pytest.raises(LookupError):
        cache.get_or_render(("summary", 1), missing)
    assert cache.rendering == {} and cache.entries == {}
    assert cache.get_or_render(("summary", 1), lambda: "<p>now it exists</p>") == "<p>now it exists</p>"


def test_the_audit_trail_keeps_only_known_sandbox_fields_bounded(app: Flask, api_token: str) -> None:
    body = {"latency_ms": 5, "<script>alert(1)</script>": "x" * 100_000, "missing_keys": [f"PO-{n}" for n in range(100_000, 100_040)]}
    response = app.test_client().put("/api/sandbox/settings", json=body, headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 200
    with app.app_context():
        detail = db.session.execute(db.select(AuditEvent.detail).order_by(AuditEvent.id.desc())).scalars().first()
    assert "latency_ms=5" in detail and "missing_keys=40 (PO-100000, " in detail and "and 35 more" in detail
    assert "script" not in detail and "xxx" not in detail
    assert len(detail) < 400
    app.test_client().put("/api/sandbox/settings", json={"latency_ms": 0, "missing_keys": []},
                          headers={"Authorization": f"Bearer {api_token}"})
