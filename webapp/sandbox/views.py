"""Sandbox ERP API endpoints and the chaos settings page."""

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required

from webapp.auth import acting_operator
from webapp import audit
from webapp.extensions import db
from webapp.sandbox import chaos, data

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")
api_bp = Blueprint("sandbox_api", __name__, url_prefix="/sandbox/api")

MAX_LIMIT = 10_000


def limit_arg() -> int | None:
    """The ``limit`` query parameter (1..10000), None when absent; answers 400 when malformed."""
    raw = request.args.get("limit")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5 and 1 <= int(raw) <= MAX_LIMIT):
        abort(chaos.json_error(400, f"limit must be a whole number from 1 to {MAX_LIMIT}"))
    return int(raw)


@api_bp.get("/purchase-orders")
def purchase_orders() -> Response:
    """List the PO numbers waiting to be imported."""
    limit = limit_arg()
    if request.args.get("status", "pending") != "pending":
        return chaos.json_error(400, "status must be 'pending' (the only list this ERP offers)")
    if (failure := chaos.apply_chaos(None)) is not None:
        return failure
    return jsonify(purchase_orders=data.pending_po_numbers(limit))


@api_bp.get("/purchase-orders/<po_number>")
def purchase_order(po_number: str) -> Response:
    """Answer one purchase order, header and lines."""
    if (failure := chaos.apply_chaos(po_number)) is not None:
        return failure
    order = data.purchase_order(po_number)
    if order is None:
        return chaos.json_error(404, f"purchase order {po_number} not found")
    return jsonify(order)


@api_bp.get("/products")
def products() -> Response:
    """List the product codes that have a bill of materials."""
    limit = limit_arg()
    if (failure := chaos.apply_chaos(None)) is not None:
        return failure
    return jsonify(products=data.product_codes(limit))


@api_bp.get("/boms/<product_code>")
def bill_of_materials(product_code: str) -> Response:
    """Answer the bill of materials of one product."""
    if (failure := chaos.apply_chaos(product_code)) is not None:
        return failure
    bom = data.bill_of_materials(product_code)
    if bom is None:
        return chaos.json_error(404, f"bill of materials for {product_code} not found")
    return jsonify(bom)


def render_settings(values: dict[str, object], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    """Render the settings page with ``values`` in the inputs and ``errors`` beside them."""
    return render_template(
        "sandbox/settings.html",
        settings=chaos.load_settings(),
        values=values,
        errors=errors,
        timeout_sleep=current_app.config.get("SANDBOX_TIMEOUT_SLEEP", 30),
    ), status


def operator_name() -> str | None:
    """The username recorded as having changed the settings."""
    operator = acting_operator()
    return operator.username if operator is not None else None


@bp.get("/settings")
@login_required
def settings() -> tuple[str, int]:
    """Render the chaos settings form with the current values."""
    current = chaos.settings_dict(chaos.load_settings())
    current["missing_keys"] = "\n".join(current["missing_keys"])
    return render_settings(current, {})


@bp.post("/settings")
@login_required
def save_settings() -> Response | tuple[str, int]:
    """Save the chaos settings, or re-render the form with what was wrong (400)."""
    saved, errors = chaos.update_settings(request.form, operator_name())
    if saved is None:
        return render_settings(request.form.to_dict(), errors, 400)
    changed = ", ".join(f"{key}={value}" for key, value in chaos.settings_dict(saved).items() if key in chaos.CALM)
    audit.record("sandbox_change", f"sandbox settings saved: {changed}")
    db.session.commit()
    flash("Sandbox settings saved", "success")
    return redirect(url_for("sandbox.settings"))


@bp.post("/settings/reset")
@login_required
def reset_settings() -> Response:
    """Put the sandbox back to calm: no latency, no failures, no missing keys."""
    chaos.update_settings(chaos.CALM, operator_name())
    audit.record("sandbox_change", "sandbox reset to calm")
    db.session.commit()
    flash("Sandbox reset to calm: no latency, no failures, no missing keys", "success")
    return redirect(url_for("sandbox.settings"))
