"""The audit trail over the API, newest first."""


from flask import Blueprint, Response, jsonify, request

from webapp.api.responses import iso
from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.web.paging import page_number

bp = Blueprint("audit", __name__)


@bp.get("/audit")
def audit_events() -> Response:
    """The audit trail, newest first (?job= to filter, ?page=)."""
    page = page_number()
    query = db.select(AuditEvent).order_by(AuditEvent.id.desc())
    if request.args.get("job", type=int):
        query = query.where(AuditEvent.job_id == request.args.get("job", type=int))
    events = db.session.execute(query.offset((page - 1) * 100).limit(100)).scalars().all()
    return jsonify(page=page, events=[
        {"at": iso(e.at), "actor": e.actor, "action": e.action, "job": e.job_id, "detail": e.detail} for e in events
    ])
