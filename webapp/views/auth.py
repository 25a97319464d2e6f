"""Operator login and logout (session cookie); where a login goes next."""

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from webapp.extensions import db, login_manager
from webapp.models import Operator
from webapp.web.operators import end_session, start_session
from webapp.web.throttle import throttled_login

bp = Blueprint("auth", __name__)
UNKNOWN_HASH: str | None = None
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to use the console."


class LoginForm(FlaskForm):
    """Username and password (CSRF-protected by Flask-WTF)."""

    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


@bp.route("/login", methods=["GET", "POST"])
@throttled_login
def login() -> str | Response:
    """Render the login form; on a valid POST, log in and go where the operator was heading."""
    form = LoginForm()
    if form.validate_on_submit():
        operator = db.session.execute(db.select(Operator).filter_by(username=form.username.data)).scalar_one_or_none()
        if operator is None:
            check_unknown_password(form.password.data or "")  # as slow as a real check: usernames stay secret
        elif operator.active and operator.check_password(form.password.data or ""):
            start_session(operator)
            return redirect(safe_next(request.args.get("next")))
        flash("Wrong username or password.", "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Log out and return to the login page."""
    end_session(current_user)
    return redirect(url_for("auth.login"))


def check_unknown_password(password: str) -> bool:
    """Hash ``password`` against a made-up operator's hash: the same work as a real check, always False."""
    global UNKNOWN_HASH
    if UNKNOWN_HASH is None:
        UNKNOWN_HASH = generate_password_hash(secrets.token_urlsafe(16))
    check_password_hash(UNKNOWN_HASH, password)
    return False


def safe_next(target: str | None) -> str:
    """Follow ``next`` only to a path on this site (no open redirect), else go to the dashboard.

    Browsers and Werkzeug drop tabs and line breaks from a URL, so ``/\t/evil.com`` would leave as
    ``//evil.com``: a target with any control character is refused, not cleaned.
    """
    if not target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target) or "\\" in target:
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard.index")
    return target
