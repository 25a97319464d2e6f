"""The operator's own account: changing their password (required before anything else after a reset)."""

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.accounts import operators as accounts
from webapp.web.operators import forget_operator, start_session

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/password")
@login_required
def password() -> str:
    """Render the password change form."""
    return render_template("auth/password.html", error=None, min_length=accounts.PASSWORD_MIN_LENGTH)


@bp.post("/password")
@login_required
def change_password() -> Response | tuple[str, int]:
    """Change the password (the current one required); this browser stays logged in, every other session ends."""
    operator = current_user._get_current_object()  # the row itself: login_user must not be given the proxy
    new = request.form.get("new_password", "")
    try:
        if new != request.form.get("confirm_password", ""):
            raise accounts.AccountError("The new password and its confirmation differ.")
        accounts.change_password(operator, request.form.get("current_password", ""), new)
    except accounts.AccountError as exc:
        return render_template("auth/password.html", error=str(exc), min_length=accounts.PASSWORD_MIN_LENGTH), 400
    forget_operator(operator.id)
    start_session(operator)  # the new session version: this browser's cookie is the one still valid
    flash("Password changed. Sessions elsewhere have ended.", "success")
    return redirect(url_for("dashboard.index"))
