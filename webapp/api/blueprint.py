"""The /api parent blueprint: one bearer-token check and one CSRF exemption for every part of the API."""

from flask import Blueprint
from flask_wtf.csrf import CSRFProtect

from webapp.api import audit, jobs, ops, sandbox, schedules
from webapp.web.operators import operator_from_bearer

bp = Blueprint("api", __name__, url_prefix="/api")
PARTS = (jobs.bp, audit.bp, schedules.bp, ops.bp, sandbox.bp)
for part in PARTS:
    bp.register_blueprint(part)


@bp.before_request
def require_token() -> None:
    """Every API call needs a valid bearer token (sets g.api_operator)."""
    operator_from_bearer()


def exempt_from_csrf(csrf: CSRFProtect) -> None:
    """Bearer tokens, not cookies, authenticate the API: no cross-site forgery is possible.

    Flask-WTF looks exemptions up by the blueprint that matched, so each part is exempted, not only the parent.
    """
    csrf.exempt(bp)
    for part in PARTS:
        csrf.exempt(part)
