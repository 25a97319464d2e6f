"""The admin's operators page: operators (create, role, deactivate, reactivate, reset a password) and
their API tokens (issue, name, expire, revoke). Passwords and tokens made here are shown once, in
the answer to the form that made them (never in a flash, which the session cookie would carry)."""

from datetime import datetime, timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.accounts import operators as accounts
from webapp.accounts import tokens
from webapp.extensions import db
from webapp.models import ApiToken, Operator, utcnow
from webapp.models.operators import OPERATOR, ROLES
from webapp.web.operators import forget_operator

bp = Blueprint("admin", __name__, url_prefix="/admin")


def shown_once(html: str, status: int = 200) -> tuple[str, int, dict[str, str]]:
    """A page carrying a password or token: no cache may keep it."""
    return html, status, {"Cache-Control": "no-store"}


def render_operators(errors: list[str] | None = None, secret: tuple[str, str] | None = None) -> str:
    """The operators list and the create form (``secret``: a label and a password to show once)."""
    return render_template(
        "admin/operators.html", operators=accounts.all_operators(), roles=ROLES, default_role=OPERATOR, errors=errors, secret=secret
    )


def render_operator(operator: Operator, secret: tuple[str, str] | None = None) -> str:
    """One operator with their tokens (``secret``: a label and a password or token to show once)."""
    return render_template(
        "admin/operator.html", operator=operator, tokens=tokens.tokens_of(operator), roles=ROLES, secret=secret, now=utcnow()
    )


def back_to(operator_id: int) -> Response:
    """Post/Redirect/Get to the operator's page."""
    return redirect(url_for("admin.operator", operator_id=operator_id))


@bp.get("/operators")
@login_required
def operators() -> str:
    """Render every operator, and the form that creates one."""
    return render_operators()


@bp.post("/operators")
@login_required
def create_operator() -> tuple[str, int, dict[str, str]]:
    """Create an operator with a random password, shown once, to be changed at their first login."""
    username, role = request.form.get("username", "").strip(), request.form.get("role", "")
    password = accounts.generated_password()
    try:
        accounts.create(username, role, password, current_user)
    except accounts.AccountError as exc:
        return shown_once(render_operators(errors=[str(exc)]), 400)
    return shown_once(render_operators(secret=(f"Password of {username} (role {role})", password)), 201)


@bp.get("/operators/<int:operator_id>")
@login_required
def operator(operator_id: int) -> str:
    """Render one operator: role, state, password reset, and their API tokens."""
    return render_operator(db.get_or_404(Operator, operator_id))


def apply(operator_id: int, change, done: str) -> Response:  # type: ignore[no-untyped-def]
    """Apply ``change`` to the operator, flash what happened or why not, and go back to their page."""
    operator = db.get_or_404(Operator, operator_id)
    try:
        change(operator)
        flash(done.format(name=operator.username), "success")
    except accounts.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    forget_operator(operator_id)  # their next request reads the change, not the shared copy
    return back_to(operator_id)


@bp.post("/operators/<int:operator_id>/role")
@login_required
def set_role(operator_id: int) -> Response:
    """Give the operator another role."""
    role = request.form.get("role", "")
    return apply(operator_id, lambda operator: accounts.set_role(operator, role, current_user), f"{{name}} now has the role {role}.")


@bp.post("/operators/<int:operator_id>/deactivate")
@login_required
def deactivate(operator_id: int) -> Response:
    """Deactivate the operator: their sessions end and their API tokens are revoked."""
    return apply(
        operator_id, lambda operator: accounts.deactivate(operator, current_user), "{name} deactivated: sessions ended, tokens revoked."
    )


@bp.post("/operators/<int:operator_id>/reactivate")
@login_required
def reactivate(operator_id: int) -> Response:
    """Let the operator log in again."""
    return apply(operator_id, lambda operator: accounts.reactivate(operator, current_user), "{name} can log in again.")


@bp.post("/operators/<int:operator_id>/password")
@login_required
def reset_password(operator_id: int) -> tuple[str, int, dict[str, str]]:
    """Give the operator a new random password (shown once; changed at their next login); their sessions end."""
    operator = db.get_or_404(Operator, operator_id)
    password = accounts.reset_password(operator, current_user)
    forget_operator(operator_id)
    return shown_once(render_operator(operator, secret=(f"New password of {operator.username}", password)))


def expiry(days: str) -> datetime | None:
    """The expiry ``days`` (a form field) from now: None when blank, AccountError when not a count of days."""
    if not days.strip():
        return None
    if not days.strip().isdigit() or not 0 < int(days) <= 3650:
        raise accounts.AccountError("Expiry: a number of days from 1 to 3650, or blank for none.")
    return utcnow() + timedelta(days=int(days))


@bp.post("/operators/<int:operator_id>/tokens")
@login_required
def issue_token(operator_id: int) -> tuple[str, int, dict[str, str]] | Response:
    """Issue an API token to the operator, shown once."""
    operator = db.get_or_404(Operator, operator_id)
    try:
        row, token = tokens.issue(operator, request.form.get("name", ""), expiry(request.form.get("expires_days", "")), current_user)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
        return back_to(operator_id)
    return shown_once(render_operator(operator, secret=(f"API token #{row.id} of {operator.username}", token)), 201)


def token_change(token_id: int, change, done: str) -> Response:  # type: ignore[no-untyped-def]
    """Apply ``change`` to a token and go back to its operator's page."""
    row = db.get_or_404(ApiToken, token_id)
    try:
        change(row)
        flash(done.format(id=row.id), "success")
    except accounts.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return back_to(row.operator_id)


@bp.post("/tokens/<int:token_id>/name")
@login_required
def name_token(token_id: int) -> Response:
    """Name a token."""
    return token_change(token_id, lambda row: tokens.rename(row, request.form.get("name", ""), current_user), "Token #{id} renamed.")


@bp.post("/tokens/<int:token_id>/expire")
@login_required
def expire_token(token_id: int) -> Response:
    """Set when a token stops working (blank: now)."""
    return token_change(
        token_id, lambda row: tokens.expire(row, expiry(request.form.get("expires_days", "")), current_user), "Token #{id}: expiry set."
    )


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Response:
    """Revoke a token for good."""
    return token_change(token_id, lambda row: tokens.revoke(row, current_user), "Token #{id} revoked.")
