"""Roles: every endpoint is in the access table; each role gets its answer (2xx/3xx or 403) on every
state-changing route, by form post (with CSRF) and by API call (with a token); a 403 changes nothing."""

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask

from tests.recon_jobs import DATE_RANGE
from tests.roles import NAMES, add_operator, log_in, page_token, token_of
from tests.schedules import add_schedule
from webapp.extensions import db
from webapp.jobs.launch import launch_job
from webapp.models import ApiToken, AuditEvent, Job, JobRecord
from webapp.models.operators import ADMIN, ROLES, VIEWER, Operator
from webapp.web.access import LEAST_ROLE, OPEN, least_role

# Endpoints outside the table on purpose: none (login, static files and /metrics are in OPEN).
UNGUARDED: set[str] = set()


def test_every_endpoint_has_a_least_role(app: Flask) -> None:
    """A new route without an entry fails here: add it to LEAST_ROLE (webapp/web/access.py)."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert "admin.operators" in endpoints and "api.jobs.create_job" in endpoints  # the app's whole map is seen
    missing = endpoints - set(LEAST_ROLE) - OPEN - UNGUARDED
    assert missing == set()
    assert set(LEAST_ROLE) - endpoints == set(), "entries for endpoints that no longer exist"
    assert set(LEAST_ROLE.values()) <= set(ROLES)


def ended_job() -> int:
    """A PO job that ended with a failed record (it can be retried and re-run)."""
    job = Job(kind="purchase_orders", source="upload", status="completed_with_failures", total=2)
    db.session.add(job)
    db.session.flush()
    db.session.add_all(
        [
            JobRecord(job_id=job.id, seq=1, key="PO-100001", state="succeeded"),
            JobRecord(job_id=job.id, seq=2, key="PO-100002", state="failed"),
        ]
    )
    db.session.commit()
    return job.id


def queued_job() -> int:
    """A PO job just launched (it can be cancelled)."""
    return launch_job("purchase_orders", "upload", ["PO-100001"], None, input_name="a.csv").id


def target(active: bool = True) -> int:
    """Another operator, with a token, for the admin's actions; returns their id."""
    tim = Operator(username="tim", role="viewer", password_hash="x", active=active)
    db.session.add(tim)
    db.session.flush()
    db.session.add(ApiToken.issue(tim)[0])
    db.session.commit()
    return tim.id


def tims_token() -> int:
    """The id of the target operator's token."""
    target()
    return db.session.execute(db.select(ApiToken.id)).scalar_one()


@dataclass
class Case:
    """A state-changing route: the least role, how to call it, what to set up first (returns the path's id)."""

    least: str
    method: str
    path: str  # with {id} filled in by setup's answer
    setup: Callable[[], Any] = lambda: None
    data: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    allowed: tuple[int, ...] = ()  # the statuses the role check lets through, when not 2xx/3xx

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def csv_file(text: str, name: str = "keys.csv") -> Callable[[], tuple[io.BytesIO, str]]:
    """A file field made fresh for each call (a stream is read once)."""
    return lambda: (io.BytesIO(text.encode()), name)


SESSION = [
    Case("operator", "POST", "/jobs/purchase-orders", data={"file": csv_file("po_number\nPO-100001\n")}),
    Case("operator", "POST", "/jobs/bills-of-materials", data={"keys": "P-10001"}),
    Case("operator", "POST", "/jobs/purchase-orders/pending"),
    Case("operator", "POST", "/jobs/reconciliation", data={"file": lambda: (io.BytesIO(DATE_RANGE), "report.csv")}),
    Case("operator", "POST", "/jobs/{id}/confirm", queued_job),  # refused in a flash (not a reconciliation), 302
    Case("operator", "POST", "/jobs/{id}/cancel", queued_job),
    Case("operator", "POST", "/jobs/{id}/retry-failed", ended_job),
    Case("operator", "POST", "/jobs/{id}/rerun", ended_job),
    Case("admin", "POST", "/schedules/", data={"name": "nightly", "job_kind": "pull_pending_pos", "cron": "0 2 * * *"}),
    Case("admin", "POST", "/schedules/{id}", add_schedule, data={"name": "renamed", "job_kind": "pull_pending_pos", "cron": "0 3 * * *"}),
    Case("admin", "POST", "/schedules/{id}/pause", add_schedule),
    Case("admin", "POST", "/schedules/{id}/resume", lambda: add_schedule(enabled=False)),
    Case("admin", "POST", "/schedules/{id}/run", add_schedule),
    Case("admin", "POST", "/schedules/{id}/delete", add_schedule),
    Case("admin", "POST", "/sandbox/settings", data={"latency_ms": "0", "error_rate": "0", "timeout_rate": "0", "throttle_rate": "0"}),
    Case("admin", "POST", "/sandbox/settings/reset"),
    Case("admin", "POST", "/admin/operators", data={"username": "newbie", "role": "viewer"}),
    Case("admin", "POST", "/admin/operators/{id}/role", target, data={"role": "operator"}),
    Case("admin", "POST", "/admin/operators/{id}/deactivate", target),
    Case("admin", "POST", "/admin/operators/{id}/reactivate", lambda: target(active=False)),
    Case("admin", "POST", "/admin/operators/{id}/password", target),
    Case("admin", "POST", "/admin/operators/{id}/tokens", target, data={"name": "ci", "expires_days": "30"}),
    Case("admin", "POST", "/admin/tokens/{id}/name", tims_token, data={"name": "renamed"}),
    Case("admin", "POST", "/admin/tokens/{id}/expire", tims_token, data={"expires_days": "1"}),
    Case("admin", "POST", "/admin/tokens/{id}/revoke", tims_token),
]

SCHEDULE = {"name": "nightly", "job_kind": "pull_pending_pos", "cron": "0 2 * * *"}
API = [
    Case("operator", "POST", "/api/jobs", json={"kind": "purchase_orders", "keys": ["PO-100001"]}),
    Case("operator", "POST", "/api/jobs/{id}/cancel", queued_job),
    # A PO job cannot be confirmed: 409 in the job's words means the role check let the call through.
    Case("operator", "POST", "/api/jobs/{id}/confirm", queued_job, allowed=(409,)),
    Case("operator", "POST", "/api/jobs/{id}/retry-failed", ended_job),
    Case("operator", "POST", "/api/jobs/{id}/rerun", ended_job),
    Case("admin", "POST", "/api/schedules", json=SCHEDULE),
    Case("admin", "PUT", "/api/schedules/{id}", add_schedule, json={"cron": "0 4 * * *"}),
    Case("admin", "DELETE", "/api/schedules/{id}", add_schedule),
    Case("admin", "POST", "/api/schedules/{id}/pause", add_schedule),
    Case("admin", "POST", "/api/schedules/{id}/resume", lambda: add_schedule(enabled=False)),
    Case("admin", "POST", "/api/schedules/{id}/run", add_schedule),
    Case("admin", "PUT", "/api/sandbox/settings", json={"latency_ms": 0}),
]


def expect(role: str, case: Case, status: int, body: str) -> None:
    """2xx/3xx (or the case's own refusal) for a role at or above the case's least, else 403 in words."""
    if ROLES.index(role) >= ROLES.index(case.least):
        assert 200 <= status < 400 or status in case.allowed, f"{role} on {case}: {status} {body[:300]}"
        assert "needs the" not in body
    else:
        assert status == 403, f"{role} on {case}: {status} {body[:300]}"
        assert f"it needs the {case.least} role" in body


def setup_path(app: Flask, case: Case) -> tuple[str, int]:
    """Run the case's setup; return its path and the audit events written so far."""
    with app.app_context():
        found = case.setup()
        events = db.session.execute(db.select(db.func.count()).select_from(AuditEvent)).scalar_one()
    return case.path.format(id=found), events


def audit_count(app: Flask) -> int:
    """Audit events written so far."""
    with app.app_context():
        return db.session.execute(db.select(db.func.count()).select_from(AuditEvent)).scalar_one()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", SESSION, ids=str)
def test_form_posts_by_role(app: Flask, operator_password_hash: str, no_relay: None, role: str, case: Case) -> None:
    add_operator(app, NAMES[role], role, operator_password_hash)
    client = log_in(app, NAMES[role])
    path, events = setup_path(app, case)
    data = {"csrf_token": page_token(client)} | {name: value() if callable(value) else value for name, value in case.data.items()}
    response = client.open(path, method=case.method, data=data, content_type="multipart/form-data")
    expect(role, case, response.status_code, response.get_data(as_text=True))
    if response.status_code == 403:
        assert audit_count(app) == events  # refused before anything was done


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", API, ids=str)
def test_api_calls_by_role(app: Flask, operator_password_hash: str, no_relay: None, role: str, case: Case) -> None:
    add_operator(app, NAMES[role], role, operator_password_hash)
    token = token_of(app, NAMES[role])
    path, events = setup_path(app, case)
    response = app.test_client().open(path, method=case.method, json=case.json, headers={"Authorization": f"Bearer {token}"})
    expect(role, case, response.status_code, response.get_data(as_text=True))
    if response.status_code == 403:
        assert response.is_json and response.get_json()["error"] == "Forbidden"
        assert audit_count(app) == events


def test_an_endpoint_missing_from_the_table_is_for_admins_only() -> None:
    assert least_role("workers.some_new_control") == ADMIN
    assert least_role("dashboard.index") == VIEWER


READS = ["/", "/jobs-table", "/ops/workers", "/ops/workers/panel", "/ops/search?q=PO-1", "/schedules/", "/audit", "/sandbox/settings"]
API_READS = ["/api/jobs", "/api/ops/workers", "/api/ops/search?q=PO-1", "/api/schedules", "/api/audit", "/api/sandbox/settings"]


def test_a_viewer_reads_every_page_and_the_api(app: Flask, operator_password_hash: str) -> None:
    add_operator(app, "vera", "viewer", operator_password_hash)
    client, token = log_in(app, "vera"), token_of(app, "vera")
    assert {path: client.get(path).status_code for path in READS} == dict.fromkeys(READS, 200)
    bearer = {"Authorization": f"Bearer {token}"}
    assert {path: client.get(path, headers=bearer).status_code for path in API_READS} == dict.fromkeys(API_READS, 200)
