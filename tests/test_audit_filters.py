"""The audit trail's filters (operator, action, job, days), on the page and in the API, with paging."""

import re
from datetime import datetime
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import auth
from webapp.extensions import db
from webapp.models import AuditEvent


def events(app: Flask, *specs: tuple[str, str, str]) -> list[int]:
    """Audit events of (actor, action, ISO time), in order; returns their ids."""
    with app.app_context():
        rows = [
            AuditEvent(actor=actor, action=action, at=datetime.fromisoformat(at), detail=f"{actor} {action}") for actor, action, at in specs
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


TRAIL = [
    ("olga", "launch", "2026-03-01T09:00:00"),
    ("vic", "cancel", "2026-03-01T23:59:59"),
    ("olga", "cancel", "2026-03-02T00:00:00"),
    ("system", "worker_pool_grow", "2026-03-03T12:00:00"),
    ("olga", "launch", "2026-03-04T08:00:00"),
]


def shown(html: str) -> list[str]:
    """The detail cells of the page's events, in order."""
    return re.findall(r"<td>(\w+ \w+)</td>\s*</tr>", html)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [4, 3, 2, 1, 0]),
        ("operator=olga", [4, 2, 0]),
        ("action=cancel", [2, 1]),
        ("operator=olga&action=cancel", [2]),
        ("since=2026-03-02", [4, 3, 2]),
        ("until=2026-03-01", [1, 0]),  # the whole last day, to its last second
        ("since=2026-03-02&until=2026-03-03", [3, 2]),
        ("operator=nobody", []),
    ],
)
def test_the_page_and_the_api_filter_alike(app: Flask, client: FlaskClient, api_token: str, query: str, expected: list[int]) -> None:
    events(app, *TRAIL)
    wanted = [f"{TRAIL[i][0]} {TRAIL[i][1]}" for i in expected]
    assert shown(client.get(f"/audit?{query}").get_data(as_text=True)) == wanted
    body = client.get(f"/api/audit?{query}", headers=auth(api_token)).get_json()
    assert [e["detail"] for e in body["events"]] == wanted


def test_the_page_offers_what_the_trail_holds_and_keeps_the_filter(app: Flask, client: FlaskClient) -> None:
    events(app, *TRAIL)
    html = client.get("/audit?operator=olga&since=2026-03-02").get_data(as_text=True)
    assert '<option value="olga" selected>' in html and '<option value="vic">' in html
    assert '<option value="worker_pool_grow">worker pool grow</option>' in html
    assert 'name="since" value="2026-03-02"' in html


def test_paging_keeps_the_filter(app: Flask, client: FlaskClient, api_token: str) -> None:
    olga = [("olga", "launch", f"2026-03-01T10:{n:02d}:00") for n in range(3)]
    ids = events(app, *olga, *[("vic", "launch", "2026-03-01T11:00:00")] * 102)
    first = client.get("/audit?operator=vic").get_data(as_text=True)
    assert len(shown(first)) == 100 and 'href="/audit?page=2&amp;operator=vic"' in first
    second = client.get("/audit?operator=vic&page=2").get_data(as_text=True)
    assert shown(second) == ["vic launch"] * 2 and "older →" not in second
    body = client.get("/api/audit?operator=olga&per_page=2&page=2", headers=auth(api_token)).get_json()
    assert [e["at"] for e in body["events"]] == ["2026-03-01T10:00:00Z"] and body["has_more"] is False
    assert body["filters"] == {"operator": "olga"} and len(ids) == 105


def test_the_job_filter_still_works(app: Flask, api_token: str) -> None:
    from tests.test_job_list import make_jobs

    job_id = make_jobs(app, ("failed", "purchase_orders", "olga"))[0]
    with app.app_context():
        db.session.add_all([AuditEvent(actor="olga", action="retry_failed", job_id=job_id), AuditEvent(actor="olga", action="launch")])
        db.session.commit()
    body = app.test_client().get(f"/api/audit?job={job_id}&action=retry_failed", headers=auth(api_token)).get_json()
    assert [(e["job"], e["action"]) for e in body["events"]] == [(job_id, "retry_failed")]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("since=yesterday", "since: 'yesterday' is not a date (YYYY-MM-DD)"),
        ("until=2026-02-30", "until: '2026-02-30' is not a date"),
        ("since=20260301", "is not a date (YYYY-MM-DD)"),
        ("since=2026-03-05&until=2026-03-01", "since (2026-03-05) is after until (2026-03-01)"),
        ("action=DROP TABLE", "action: 'DROP TABLE' is not an action"),
        ("job=abc", "job: 'abc' is not a job number"),
        ("job=99999999999999999999999", "is not a job number"),
        ("operator=" + "x" * 81, "is not a name (at most 80 characters)"),
    ],
)
def test_a_bad_filter_is_a_400_in_words(client: FlaskClient, api_token: str, query: str, words: str) -> None:
    page = client.get(f"/audit?{query}")
    assert page.status_code == 400 and words in unescape(page.get_data(as_text=True))
    api = client.get(f"/api/audit?{query}", headers=auth(api_token))
    assert api.status_code == 400 and words in api.get_json()["message"]
