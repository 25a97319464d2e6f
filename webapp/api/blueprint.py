"""The /api parent blueprint: one CSRF exemption for every part of the API.

Every API call needs a usable bearer token and the role its endpoint needs: both are checked with
the pages' roles, before the request, by webapp.web.access (which sets g.api_operator).
"""

from flask import Blueprint
from flask_wtf.csrf import CSRFProtect

from webapp.api import audit, jobs, ops, sandbox, schedules

bp = Blueprint("api", __name__, url_prefix="/api")
PARTS = (jobs.bp, audit.bp, schedules.bp, ops.bp, sandbox.bp)
for part in PARTS:
    bp.register_blueprint(part)


def exempt_from_csrf(csrf: CSRFProtect) -> None:
    """Bearer tokens, not cookies, authenticate the API: no cross-site forgery is possible.

    Flask-WTF looks exemptions up by the blueprint that matched, so each part is exempted, not only the parent.
    """
    csrf.exempt(bp)
    for part in PARTS:
        csrf.exempt(part)
