"""The audit trail over the API, newest first, filtered as the audit page is."""

from flask import Blueprint, Response, jsonify

from webapp import audit
from webapp.api.responses import iso
from webapp.web.list_filters import audit_filter
from webapp.web.paging import page_number, page_size

bp = Blueprint("audit", __name__)


@bp.get("/audit")
def audit_events() -> Response:
    """The audit trail, newest first (?operator=, ?action=, ?job=, ?since=, ?until= as YYYY-MM-DD; ?page=, ?per_page= up to 500)."""
    page, per_page, chosen = page_number(), page_size(100, 500), audit_filter()
    events, has_more = audit.events(chosen, page, per_page)
    return jsonify(
        page=page,
        per_page=per_page,
        has_more=has_more,
        filters=chosen.args(),
        events=[{"at": iso(e.at), "actor": e.actor, "action": e.action, "job": e.job_id, "detail": e.detail} for e in events],
    )
