"""The home page: jobs list with live status, and the forms that launch jobs."""

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required
def index() -> str:
    """Render the jobs list and the launch forms."""
    return render_template("dashboard/index.html", jobs=[])
