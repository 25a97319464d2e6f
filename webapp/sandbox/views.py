"""The sandbox ERP's chaos settings page, part of the console (logged-in operators only)."""

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required

from webapp import audit
from webapp.extensions import db
from webapp.sandbox import chaos
from webapp.web.operators import acting_operator

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def render_settings(values: dict[str, object], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    """Render the settings page with ``values`` in the inputs and ``errors`` beside them."""
    return render_template(
        "sandbox/settings.html",
        settings=chaos.load_settings(),
        values=values,
        errors=errors,
        timeout_sleep=f"{current_app.config['SANDBOX_TIMEOUT_SLEEP']:g}",
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
    audit.record("sandbox_change", f"sandbox settings saved: {chaos.audit_text(saved)}")
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
