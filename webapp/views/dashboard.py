"""The home page: the jobs list with live status, and the forms that launch jobs."""

from flask import Blueprint, current_app, render_template
from flask_login import login_required

from webapp.erp_client import ErpError
from webapp.erp_listing import ListingUnusable, listed_count
from webapp.jobs.kinds import LISTINGS, PURCHASE_ORDERS
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


def pending_listed() -> tuple[int | None, str]:
    """(how many purchase orders the ERP lists as pending, or None; why not, in words)."""
    listing = LISTINGS[(PURCHASE_ORDERS.name, "pending")]
    try:
        return listed_count(listing, PURCHASE_ORDERS, current_app.config["MAX_JOB_RECORDS"]), ""
    except (ErpError, ListingUnusable) as exc:
        return None, str(exc)


@bp.get("/pending-card")
@login_required
def pending_card() -> str:
    """Render the pending-POs launch card with the count the ERP lists, for its confirmation. The
    count is shared by every viewer for a second (the card's form, with its token, is not)."""
    listed = current_app.extensions["fragment_cache"].get_or_render(("pending-listed",), pending_listed)
    return render_template("dashboard/_pending.html", listed=listed)
