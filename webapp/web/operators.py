"""The operator behind a request: the session cookie's (cached like the live fragments) or the API bearer token's."""

from flask import Flask, abort, current_app, g, request, session
from flask_login import current_user, login_user, logout_user

from webapp.extensions import db, login_manager
from webapp.models import ApiToken, Operator, utcnow
from webapp.models.operators import hash_token

SESSION_VERSION = "operator_session_version"


def load_operator(operator_id: str) -> Operator | None:
    """The logged-in operator of the session cookie, as the database had them at most
    FRAGMENT_CACHE_SECONDS ago.

    Every request needs the operator, and a page polled once a second by many viewers would
    otherwise spend a query per poll on it: the row is shared like the live fragments
    (webapp.web.fragment_cache), so deactivating an operator takes effect within that second.
    The shared copy is detached; each request gets its own instance in its session, without a query.
    A cookie issued under an older session version (before a logout or a new password) finds no one.
    """
    if not operator_id.isdigit():
        return None
    shared = current_app.extensions["fragment_cache"].get_or_render(
        ("operator", int(operator_id)), lambda: detached_operator(int(operator_id))
    )
    if shared is None or session.get(SESSION_VERSION) != shared.session_version:
        return None
    return db.session.merge(shared, load=False)


def start_session(operator: Operator) -> None:
    """Log ``operator`` in with a fresh CSRF secret, under their current session version."""
    session.pop("csrf_token", None)  # Flask-WTF makes a new secret for the logged-in session
    login_user(operator)
    session[SESSION_VERSION] = operator.session_version


def end_session(operator: Operator) -> None:
    """Log out, and end every copy of this operator's session cookie, not only this browser's."""
    db.session.execute(db.update(Operator).where(Operator.id == operator.id).values(session_version=Operator.session_version + 1))
    db.session.commit()
    forget_operator(operator.id)
    logout_user()
    session.pop(SESSION_VERSION, None)


def forget_operator(operator_id: int) -> None:
    """Drop the shared copy of an operator changed in this request, so the next request reads the change."""
    current_app.extensions["fragment_cache"].forget(("operator", operator_id))


def detached_operator(operator_id: int) -> Operator | None:
    """The operator row, loaded and detached from the session so that other requests can copy it."""
    operator = db.session.get(Operator, operator_id)
    if operator is not None:
        db.session.expunge(operator)
    return operator


def operator_from_bearer() -> Operator:
    """Return the operator owning the request's bearer token, or answer 401 (403 while their password must change)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(401, description="Send an API token: 'Authorization: Bearer <token>' (flask operators token NAME).")
    row = db.session.execute(db.select(ApiToken).filter_by(token_hash=hash_token(token.strip()))).scalar_one_or_none()
    if row is None or not row.operator.active:
        abort(401, description="This API token is unknown or revoked.")
    now = utcnow()
    if refused := row.refusal(now):
        abort(401, description=refused)
    if row.operator.must_change_password:
        abort(403, description="Log in to the console and change your password first: until then the API refuses your tokens.")
    row.last_used_at, row.last_used_from = now, (request.remote_addr or "")[:64]
    db.session.commit()
    g.api_operator = row.operator
    return row.operator


def acting_operator() -> Operator | None:
    """The operator behind this request, whether logged in by cookie or by token."""
    if getattr(g, "api_operator", None) is not None:
        return g.api_operator
    return current_user if current_user.is_authenticated else None


def register(app: Flask) -> None:
    """Let Flask-Login find the session's operator with load_operator."""
    login_manager.user_loader(load_operator)
