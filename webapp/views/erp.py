"""Read-only pages of the ERP records that jobs created (the link target of each row)."""

from flask import Blueprint, render_template
from flask_login import login_required

from webapp.extensions import db
from webapp.models import Product, PurchaseOrder, SalesOrder

bp = Blueprint("erp", __name__, url_prefix="/erp")


@bp.get("/purchase-orders/<int:erp_id>")
@login_required
def purchase_order(erp_id: int) -> str:
    """Render one purchase order with its lines, as written into the ERP tables."""
    return render_template("erp/purchase_order.html", po=db.get_or_404(PurchaseOrder, erp_id))


@bp.get("/products/<int:erp_id>")
@login_required
def product(erp_id: int) -> str:
    """Render one product with its components, as written into the ERP tables."""
    return render_template("erp/product.html", product=db.get_or_404(Product, erp_id))


@bp.get("/sales-orders/<int:erp_id>")
@login_required
def sales_order(erp_id: int) -> str:
    """Render one (settlement, state) sales order with its SKU and tax lines."""
    return render_template("erp/sales_order.html", order=db.get_or_404(SalesOrder, erp_id))
