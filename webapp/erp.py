"""Read-only pages of the ERP records that jobs created (the link target of each row)."""

from flask import Blueprint
from flask_login import login_required
from flask import render_template

from webapp.extensions import db
from webapp.models import PurchaseOrder

bp = Blueprint("erp", __name__, url_prefix="/erp")


@bp.get("/purchase-orders/<int:po_id>")
@login_required
def purchase_order(po_id: int) -> str:
    """Render one purchase order with its lines, as written into the ERP tables."""
    po = db.get_or_404(PurchaseOrder, po_id)
    return render_template("erp/purchase_order.html", po=po)
