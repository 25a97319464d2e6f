"""Operator login and logout (session cookie), and the bearer-token check of the API."""

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from webapp.extensions import db, login_manager
from webapp.models import Operator

bp = Blueprint("auth", __name__)
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to use the console."


class LoginForm(FlaskForm):
    """Username and password (CSRF-protected by Flask-WTF)."""

    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    """Render the login form; on a valid POST, log in and go where the operator was heading."""
    form = LoginForm()
    if form.validate_on_submit():
        operator = db.session.execute(db.select(Operator).filter_by(username=form.username.data)).scalar_one_or_none()
        if operator is not None and operator.active and operator.check_password(form.password.data or ""):
            login_user(operator)
            return redirect(safe_next(request.args.get("next")))
        flash("Wrong username or password.", "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Log out and return to the login page."""
    logout_user()
    return redirect(url_for("auth.login"))


def safe_next(target: str | None) -> str:
    """Follow ``next`` only to a path on this site (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.index")
