"""Who may use what: the least role each endpoint needs, checked before every request.

One table for the pages, the fragments, the form posts and the API, so a route's guard is read in
one place and a new route cannot ship unguarded: tests/test_roles.py fails for any registered
endpoint that is neither here nor in OPEN. An endpoint missing from both is refused to all but
admins meanwhile, never opened to everyone.

To guard a new route, add its endpoint name (``blueprint.function``; the API's are
``api.<part>.<function>``) to LEAST_ROLE with the least role that may call it: VIEWER for what only
reads, OPERATOR for what runs or stops jobs, ADMIN for what manages the console.
"""

from urllib.parse import urlsplit

from flask import Flask, Response, abort, redirect, request, url_for
from flask_login import current_user

from webapp.extensions import login_manager
from webapp.models.operators import ADMIN, OPERATOR, VIEWER, Operator
from webapp.web.operators import acting_operator, operator_from_bearer

# Endpoints anyone may call, logged in or not (each guards itself where it needs to: /metrics by its token).
OPEN = frozenset({"static", "favicon", "auth.login", "metrics.metrics"})

# What an operator who must change their password may still reach in the console.
BEFORE_NEW_PASSWORD = frozenset({"static", "auth.logout", "account.password", "account.change_password"})

LEAST_ROLE: dict[str, str] = {
    # session: reading
    "dashboard.index": VIEWER,
    "dashboard.jobs_table": VIEWER,
    "dashboard.pending_card": VIEWER,
    "tasks.detail": VIEWER,
    "jobs.detail": VIEWER,
    "jobs.summary": VIEWER,
    "jobs.rows": VIEWER,
    "jobs.live": VIEWER,
    "jobs.record": VIEWER,
    "job_actions.download": VIEWER,
    "job_actions.audit_log": VIEWER,
    "erp.purchase_order": VIEWER,
    "erp.product": VIEWER,
    "erp.sales_order": VIEWER,
    "ops.workers": VIEWER,
    "ops.panel": VIEWER,
    "ops.search": VIEWER,
    "schedules.index": VIEWER,
    "schedules.table": VIEWER,
    "schedules.edit": VIEWER,
    "sandbox.settings": VIEWER,
    "auth.logout": VIEWER,
    "account.password": VIEWER,
    "account.change_password": VIEWER,
    # session: running jobs
    "jobs.launch_upload": OPERATOR,
    "jobs.launch_boms": OPERATOR,
    "jobs.launch_pending": OPERATOR,
    "jobs.launch_recon": OPERATOR,
    "jobs.confirm_recon": OPERATOR,
    "job_actions.cancel": OPERATOR,  # a preview's Discard too
    "job_actions.retry_failed": OPERATOR,
    "job_actions.rerun": OPERATOR,
    # session: managing the console
    "schedules.create": ADMIN,
    "schedules.update": ADMIN,
    "schedules.pause": ADMIN,
    "schedules.resume": ADMIN,
    "schedules.run_now": ADMIN,
    "schedules.delete": ADMIN,
    "sandbox.save_settings": ADMIN,
    "worker_controls.grow": ADMIN,
    "worker_controls.shrink": ADMIN,
    "worker_controls.pause": ADMIN,
    "worker_controls.resume": ADMIN,
    "worker_controls.shutdown": ADMIN,
    "sandbox.reset_settings": ADMIN,
    "admin.operators": ADMIN,
    "admin.create_operator": ADMIN,
    "admin.operator": ADMIN,
    "admin.set_role": ADMIN,
    "admin.deactivate": ADMIN,
    "admin.reactivate": ADMIN,
    "admin.reset_password": ADMIN,
    "admin.issue_token": ADMIN,
    "admin.name_token": ADMIN,
    "admin.expire_token": ADMIN,
    "admin.revoke_token": ADMIN,
    # API: reading
    "api.jobs.list_jobs": VIEWER,
    "api.jobs.get_job": VIEWER,
    "api.jobs.get_records": VIEWER,
    "api.jobs.export_records": VIEWER,
    "api.audit.audit_events": VIEWER,
    "api.ops.workers": VIEWER,
    "api.ops.search": VIEWER,
    "api.schedules.list_schedules": VIEWER,
    "api.schedules.get_schedule": VIEWER,
    "api.sandbox.get_sandbox_settings": VIEWER,
    # API: running jobs
    "api.jobs.create_job": OPERATOR,
    "api.jobs.cancel_job": OPERATOR,
    "api.jobs.confirm_job": OPERATOR,
    "api.jobs.retry_failed": OPERATOR,
    "api.jobs.rerun_job": OPERATOR,
    # API: managing the console
    "api.schedules.create_schedule": ADMIN,
    "api.schedules.update_schedule": ADMIN,
    "api.schedules.delete_schedule": ADMIN,
    "api.schedules.pause_schedule": ADMIN,
    "api.schedules.resume_schedule": ADMIN,
    "api.schedules.run_schedule": ADMIN,
    "api.sandbox.put_sandbox_settings": ADMIN,
}


def least_role(endpoint: str) -> str:
    """The least role ``endpoint`` needs; admin for an endpoint the table does not name yet."""
    return LEAST_ROLE.get(endpoint, ADMIN)


def is_api(endpoint: str) -> bool:
    """True for an endpoint of the /api blueprint (bearer tokens, JSON errors)."""
    return endpoint.startswith("api.")


def guard() -> Response | None:
    """Let the request through, or answer why not: log in, change your password, or 403 in words."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in OPEN:
        return None  # no route matched (routing answers 404/405), or a route open to all
    if is_api(endpoint):
        operator: Operator = operator_from_bearer()  # 401 in words without a usable token
    elif not current_user.is_authenticated:
        return to_login()
    else:
        operator = current_user
        if operator.must_change_password and endpoint not in BEFORE_NEW_PASSWORD:
            return to_password_form()
    needed = least_role(endpoint)
    if not operator.has_role(needed):
        abort(403, description=f"Your role ({operator.role}) cannot do this: it needs the {needed} role or above. Ask an admin.")
    return None


def to_login() -> Response:
    """Send a visitor who is not logged in (any more) to the login page. An htmx request is told to
    go there as a whole page (HX-Redirect): followed inside the request, the login page would be
    swapped into the part of the page that asked."""
    if request.headers.get("HX-Request") == "true":
        page = urlsplit(request.headers.get("HX-Current-URL", "/"))  # the page, not the fragment it asked for
        back = page.path + (f"?{page.query}" if page.query else "")
        return Response(status=401, headers={"HX-Redirect": url_for("auth.login", next=back)})
    return login_manager.unauthorized()


def to_password_form() -> Response:
    """Send an operator whose password must change to the form (htmx follows HX-Redirect as a whole page)."""
    target = url_for("account.password")
    if request.headers.get("HX-Request") == "true":
        return Response(status=200, headers={"HX-Redirect": target})
    return redirect(target)


def can(role: str) -> bool:
    """For templates: whether the operator behind this request has ``role`` (buttons others cannot use are hidden)."""
    operator = acting_operator()
    return operator is not None and operator.has_role(role)


def register(app: Flask) -> None:
    """Check every request against the table; give templates ``can``."""
    app.before_request(guard)
    app.jinja_env.globals["can"] = can
