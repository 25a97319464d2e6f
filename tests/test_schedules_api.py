"""The schedules JSON API: bearer tokens, the create-to-delete round trip, validation, run now, audit events."""

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import auth
from tests.schedules import add_schedule, count, runs_of
from webapp.extensions import db
from webapp.models import AuditEvent, Job, Operator, Schedule, utcnow
from webapp.models.schedules import next_fire, parse_cron


def audit_trail(app: Flask) -> list[tuple[str, str, str]]:
    """(actor, action, detail) of every audit event about schedules, oldest first."""
    with app.app_context():
        events = db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "schedule_change").order_by(AuditEvent.id)).scalars()
        return [(event.actor, event.action, event.detail) for event in events]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/schedules"),
        ("post", "/api/schedules"),
        ("get", "/api/schedules/"),
        ("get", "/api/schedules/1"),
        ("put", "/api/schedules/1"),
        ("delete", "/api/schedules/1"),
        ("post", "/api/schedules/1/pause"),
        ("post", "/api/schedules/1/resume"),
        ("post", "/api/schedules/1/run"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer not-a-real-token"])
def test_refused_without_a_valid_token(app: Flask, method: str, path: str, header: str | None) -> None:
    """No token or an unknown one: 401 in JSON, and nothing changes."""
    with app.app_context():
        add_schedule()
    headers = {"Authorization": header} if header else {}
    response = getattr(app.test_client(), method)(path, headers=headers, json={"name": "x"})
    assert response.status_code == 401
    assert "token" in response.get_json()["message"]
    with app.app_context():
        assert count(Schedule) == 1 and count(Job) == 0 and count(AuditEvent) == 0


def test_create_list_get_update_pause_resume_delete(app: Flask, api_token: str) -> None:
    """The whole life of a schedule through the API, each change recording the token's operator."""
    client = app.test_client()
    created = client.post(
        "/api/schedules", headers=auth(api_token), json={"name": " Weekday POs ", "job_kind": "pull_pending_pos", "cron": "30  6 * * 1-5"}
    )
    assert created.status_code == 201
    schedule = created.get_json()
    assert (schedule["name"], schedule["cron"], schedule["enabled"]) == ("Weekday POs", "30 6 * * 1-5", True)
    assert schedule["cron_hint"] == "at 06:30 on Mon–Fri (UTC)" and schedule["updated_by"] == "olga"
    assert schedule["next_run_at"] == next_fire(parse_cron("30 6 * * 1-5"), utcnow()).isoformat() + "Z"
    assert (schedule["last_run_at"], schedule["last_job_id"], schedule["last_outcome"]) == (None, None, None)
    schedule_id = schedule["id"]
    listing = client.get("/api/schedules", headers=auth(api_token)).get_json()
    assert [item["id"] for item in listing["schedules"]] == [schedule_id]
    assert client.get("/api/schedules/", headers=auth(api_token)).get_json() == listing  # a trailing slash answers the same
    one = client.get(f"/api/schedules/{schedule_id}", headers=auth(api_token)).get_json()
    assert one["name"] == "Weekday POs" and one["runs"] == []

    updated = client.put(f"/api/schedules/{schedule_id}", headers=auth(api_token), json={"cron": "0 2 1 * *"})
    assert updated.status_code == 200
    assert (updated.get_json()["name"], updated.get_json()["job_kind"]) == ("Weekday POs", "pull_pending_pos")
    with app.app_context():
        row = db.session.get(Schedule, schedule_id)
        assert row.cron == "0 2 1 * *" and row.next_run_at == next_fire(parse_cron("0 2 1 * *"), utcnow())
    renamed = client.put(
        f"/api/schedules/{schedule_id}",
        headers=auth(api_token),
        json={"name": "Monthly BOMs", "job_kind": "refresh_boms", "enabled": False},
    ).get_json()
    assert (renamed["name"], renamed["job_kind"], renamed["enabled"], renamed["next_run_at"]) == (
        "Monthly BOMs",
        "refresh_boms",
        False,
        None,
    )

    resumed = client.post(f"/api/schedules/{schedule_id}/resume", headers=auth(api_token))
    assert resumed.status_code == 200 and resumed.get_json()["enabled"] is True
    assert resumed.get_json()["next_run_at"] is not None
    paused = client.post(f"/api/schedules/{schedule_id}/pause", headers=auth(api_token)).get_json()
    assert (paused["enabled"], paused["next_run_at"]) == (False, None)

    deleted = client.delete(f"/api/schedules/{schedule_id}", headers=auth(api_token))
    assert deleted.status_code == 200 and deleted.get_json() == {"deleted": schedule_id, "name": "Monthly BOMs"}
    assert client.get(f"/api/schedules/{schedule_id}", headers=auth(api_token)).status_code == 404
    assert audit_trail(app) == [
        ("olga", "schedule_change", "created schedule 'Weekday POs': pull_pending_pos at '30 6 * * 1-5'"),
        ("olga", "schedule_change", "edited schedule 'Weekday POs': pull_pending_pos at '0 2 1 * *'"),
        ("olga", "schedule_change", "edited schedule 'Monthly BOMs': refresh_boms at '0 2 1 * *' (paused)"),
        ("olga", "schedule_change", "resumed schedule 'Monthly BOMs'"),
        ("olga", "schedule_change", "paused schedule 'Monthly BOMs'"),
        ("olga", "schedule_change", "deleted schedule 'Monthly BOMs'"),
    ]


def test_created_disabled_has_no_next_run(app: Flask, api_token: str) -> None:
    """enabled: false creates the schedule paused."""
    response = app.test_client().post(
        "/api/schedules", headers=auth(api_token), json={"name": "later", "job_kind": "refresh_boms", "cron": "0 2 * * *", "enabled": False}
    )
    assert response.status_code == 201
    assert (response.get_json()["enabled"], response.get_json()["next_run_at"]) == (False, None)


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"name": "x", "job_kind": "pull_pending_pos", "cron": "0 25 * * *"}, {"cron": "hour: 25 is out of range 0–23"}),
        (
            {"name": "", "job_kind": "make_coffee", "cron": "0 0 * *"},
            {
                "name": "name: give the schedule a name",
                "job_kind": "job: choose Pull pending POs or Refresh BOMs",
                "cron": "cron: expected 5 fields",
            },
        ),
        ({"job_kind": "refresh_boms", "cron": "* * * * *"}, {"name": "name: give the schedule a name"}),
        (
            {"name": 7, "job_kind": ["refresh_boms"], "cron": "* * * * *"},
            {"name": "name: give the schedule a name", "job_kind": "job: choose"},
        ),
        ({"name": "x", "job_kind": "refresh_boms", "cron": "* * * * *", "enabled": "yes"}, {"enabled": "enabled: send true or false"}),
        ({"name": "x", "job_kind": "refresh_boms", "cron": "* * * * *", "paused": True}, {"paused": "paused: not a field"}),
        ([], {"body": "send a JSON object"}),
        ({}, {"body": "send a JSON object"}),
    ],
)
def test_bad_create_names_each_field_and_writes_nothing(app: Flask, api_token: str, body: object, details: dict[str, str]) -> None:
    """A refused body answers 400 with one message per wrong field, and writes no schedule and no audit event."""
    response = app.test_client().post("/api/schedules", headers=auth(api_token), json=body)
    assert response.status_code == 400
    payload = response.get_json()
    assert payload["error"] == "the schedule was not accepted"
    assert set(payload["details"]) == set(details)
    for field, message in details.items():
        assert payload["details"][field].startswith(message)
    with app.app_context():
        assert count(Schedule) == 0 and count(AuditEvent) == 0


def test_bad_update_and_taken_name_change_nothing(app: Flask, api_token: str) -> None:
    """Editing with a bad cron or another schedule's name is refused; the row and the audit trail are unchanged."""
    with app.app_context():
        add_schedule(name="a")
        second = add_schedule(name="b", cron="0 1 * * *")
    client = app.test_client()
    response = client.put(f"/api/schedules/{second}", headers=auth(api_token), json={"cron": "0 0 * * 8"})
    assert response.status_code == 400 and response.get_json()["details"] == {"cron": "day of week: 8 is out of range 0–6 (0 = Sunday)"}
    response = client.put(f"/api/schedules/{second}", headers=auth(api_token), json={"name": "a"})
    assert response.status_code == 400 and response.get_json()["details"] == {"name": "name: a schedule named 'a' already exists"}
    response = client.post("/api/schedules", headers=auth(api_token), json={"name": "a", "job_kind": "refresh_boms", "cron": "0 1 * * *"})
    assert response.status_code == 400 and "name" in response.get_json()["details"]
    with app.app_context():
        schedule = db.session.get(Schedule, second)
        assert (schedule.name, schedule.job_kind, schedule.cron, schedule.updated_by) == ("b", "pull_pending_pos", "0 1 * * *", "olga")
        assert count(Schedule) == 2 and count(AuditEvent) == 0


@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("put", ""), ("delete", ""), ("post", "/pause"), ("post", "/resume"), ("post", "/run")]
)
def test_unknown_schedule_is_json_404(app: Flask, api_token: str, method: str, suffix: str) -> None:
    """A missing schedule is a JSON 404 naming it, whatever the call."""
    response = getattr(app.test_client(), method)(f"/api/schedules/424242{suffix}", headers=auth(api_token), json={"cron": "* * * * *"})
    assert response.status_code == 404
    assert response.get_json() == {"error": "Not Found", "message": "There is no schedule #424242."}
    with app.app_context():
        assert count(Job) == 0 and count(AuditEvent) == 0


def test_run_now_starts_a_job_then_skips_while_it_is_queued(app: Flask, api_token: str, no_relay: None) -> None:
    """Run now starts the schedule's job (next run unchanged); a second call while it is queued is skipped."""
    with app.app_context():
        schedule_id = add_schedule(due_in=timedelta(hours=1))
        next_run = db.session.get(Schedule, schedule_id).next_run_at
    client: FlaskClient = app.test_client()
    first = client.post(f"/api/schedules/{schedule_id}/run", headers=auth(api_token))
    assert first.status_code == 202
    started = first.get_json()
    with app.app_context():
        job = db.session.execute(db.select(Job)).scalar_one()
        assert (job.kind, job.source, job.status, job.input_name) == ("purchase_orders", "pending", "queued", "schedule: nightly POs")
        assert db.session.get(Operator, job.created_by_id).username == "olga"
        assert db.session.get(Schedule, schedule_id).next_run_at == next_run
    assert (started["outcome"], started["job_id"], started["trigger"]) == (f"started job #{job.id}", job.id, "run now by olga")
    assert started["schedule"]["last_job_id"] == job.id

    second = client.post(f"/api/schedules/{schedule_id}/run", headers=auth(api_token))
    assert second.status_code == 200
    assert (second.get_json()["outcome"], second.get_json()["job_id"]) == (f"skipped: job #{job.id} still running", None)
    with app.app_context():
        assert count(Job) == 1
        assert [run.outcome for run in runs_of(schedule_id)] == [f"started job #{job.id}", f"skipped: job #{job.id} still running"]
        event = (
            db.session.execute(db.select(AuditEvent).where(AuditEvent.action == "schedule_change").order_by(AuditEvent.id))
            .scalars()
            .first()
        )
        assert event.job_id == job.id
    history = client.get(f"/api/schedules/{schedule_id}", headers=auth(api_token)).get_json()["runs"]
    assert [run["job_id"] for run in history] == [None, job.id]  # newest first
    assert audit_trail(app) == [
        ("olga", "schedule_change", f"ran schedule 'nightly POs' now: started job #{job.id}"),
        ("olga", "schedule_change", f"ran schedule 'nightly POs' now: skipped: job #{job.id} still running"),
    ]


def test_a_trailing_slash_lists_and_creates(app: Flask, api_token: str) -> None:
    """/api/schedules/ is the same collection as /api/schedules: no redirect, no 404."""
    client = app.test_client()
    body = {"name": "nightly", "job_kind": "refresh_boms", "cron": "0 2 * * *"}
    created = client.post("/api/schedules/", headers=auth(api_token), json=body)
    assert created.status_code == 201
    listing = client.get("/api/schedules/", headers=auth(api_token))
    assert listing.status_code == 200
    assert [item["name"] for item in listing.get_json()["schedules"]] == ["nightly"]
