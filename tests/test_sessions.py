"""A session ends where the operator ends it: logout and a new password end every copy of the cookie;
each login gets a CSRF secret of its own."""

from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from tests.forms import csrf_token, logged_in
from webapp.extensions import db
from webapp.models import Operator


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another client holding the same session cookie (a cookie copied out of the browser)."""
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    copy = app.test_client()
    copy.set_cookie(cookie.key, cookie.value)
    return copy


def sent_to_login(client: FlaskClient) -> bool:
    """True when the dashboard sends this client to the login page."""
    response = client.get("/")
    return response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_copied_cookie_stops_working_at_logout(app: Flask, operator: tuple[str, str]) -> None:
    client = logged_in(app, operator)
    copy = copy_of(app, client)
    assert not sent_to_login(copy)
    token = csrf_token(client.get("/").data)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    wait_for(lambda: sent_to_login(copy), timeout=10, message="the copied cookie refused after logout")
    assert sent_to_login(client)
    assert not sent_to_login(logged_in(app, operator))  # logging in again works


def test_a_new_password_ends_every_session(app: Flask, operator: tuple[str, str]) -> None:
    client = logged_in(app, operator)
    with app.app_context():
        row = db.session.execute(db.select(Operator).filter_by(username=operator[0])).scalar_one()
        row.set_password("a new long passphrase")
        db.session.commit()
    wait_for(lambda: sent_to_login(client), timeout=10, message="the old session refused after a password change")
    assert not sent_to_login(logged_in(app, (operator[0], "a new long passphrase")))


def test_each_login_gets_a_csrf_secret_of_its_own(app: Flask, operator: tuple[str, str]) -> None:
    client = app.test_client()
    page = client.get("/login")
    with client.session_transaction() as session:
        before = session["csrf_token"]
    client.post("/login", data={"username": operator[0], "password": operator[1], "csrf_token": csrf_token(page.data)})
    client.get("/")
    with client.session_transaction() as session:
        after = session.get("csrf_token")
    assert after is not None and after != before
