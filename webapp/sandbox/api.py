"""The sandbox ERP's REST API: what the fetch steps call, served by the sandbox's own process
(webapp.sandbox.app), never by the console's. Unauthenticated, like a machine-to-machine ERP on a
private network, so it exists only where SANDBOX_ENABLED is set."""

from flask import Blueprint, Response, abort, jsonify, request

from webapp.sandbox import chaos, data

bp = Blueprint("sandbox_api", __name__, url_prefix="/sandbox/api")

MAX_LIMIT = 10_000


def limit_arg() -> int | None:
    """The ``limit`` query parameter (1..10000), None when absent; answers 400 when malformed."""
    raw = request.args.get("limit")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5 and 1 <= int(raw) <= MAX_LIMIT):
        abort(chaos.json_error(400, f"limit must be a whole number from 1 to {MAX_LIMIT}"))
    return int(raw)


@bp.get("/purchase-orders")
def purchase_orders() -> Response:
    """List the PO numbers waiting to be imported."""
    limit = limit_arg()
    if request.args.get("status", "pending") != "pending":
        return chaos.json_error(400, "status must be 'pending' (the only list this ERP offers)")
    if (failure := chaos.apply_chaos(None)) is not None:
        return failure
    return jsonify(purchase_orders=data.pending_po_numbers(limit))


@bp.get("/purchase-orders/<po_number>")
def purchase_order(po_number: str) -> Response:
    """Answer one purchase order, header and lines."""
    if (failure := chaos.apply_chaos(po_number)) is not None:
        return failure
    order = data.purchase_order(po_number)
    if order is None:
        return chaos.json_error(404, f"purchase order {po_number} not found")
    return jsonify(order)


@bp.get("/products")
def products() -> Response:
    """List the product codes that have a bill of materials."""
    limit = limit_arg()
    if (failure := chaos.apply_chaos(None)) is not None:
        return failure
    return jsonify(products=data.product_codes(limit))


@bp.get("/boms/<product_code>")
def bill_of_materials(product_code: str) -> Response:
    """Answer the bill of materials of one product."""
    if (failure := chaos.apply_chaos(product_code)) is not None:
        return failure
    bom = data.bill_of_materials(product_code)
    if bom is None:
        return chaos.json_error(404, f"bill of materials for {product_code} not found")
    return jsonify(bom)
