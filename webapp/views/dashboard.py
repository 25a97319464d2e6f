"""The home page: the jobs list with live status, and the forms that launch jobs."""

from flask import Blueprint, render_template
from flask_login import login_required

from webapp.views.index_page import render_index, table_context

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required
def index() -> str:
    """Render the jobs list and the launch forms."""
    return render_index()


@bp.get("/jobs-table")
@login_required
def jobs_table() -> str:
    """Render the jobs table fragment (polled while any job on it is active)."""
    return render_template("dashboard/_jobs.html", **table_context())
