"""Sandbox ERP API endpoints and the chaos settings page."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")
api_bp = Blueprint("sandbox_api", __name__, url_prefix="/sandbox/api")


@bp.get("/settings")
@login_required
def settings() -> str:
    """Render the chaos settings form."""
    return "todo"
