"""Operators of each role as tests make them: an account, a logged-in client, a bearer token."""

from flask import Flask
from flask.testing import FlaskClient

from tests.forms import csrf_token
from webapp.extensions import db
from webapp.models import ApiToken, Operator

PASSWORD = "correct horse battery"  # the conftest's operator_password_hash is of this password
NAMES = {"viewer": "vera", "operator": "otto", "admin": "ada"}


def add_operator(app: Flask, username: str, role: str, password_hash: str, **fields: object) -> int:
    """An operator row with ``role`` (and any other ``fields``); returns its id."""
    with app.app_context():
        row = Operator(username=username, role=role, password_hash=password_hash, **fields)
        db.session.add(row)
        db.session.commit()
        return row.id


def log_in(app: Flask, username: str, password: str = PASSWORD) -> FlaskClient:
    """A client logged in through the login form."""
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(page.data)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def token_of(app: Flask, username: str) -> str:
    """A new bearer token for the operator named ``username``."""
    with app.app_context():
        operator = db.session.execute(db.select(Operator).filter_by(username=username)).scalar_one()
        row, token = ApiToken.issue(operator)
        db.session.add(row)
        db.session.commit()
        return token


def page_token(client: FlaskClient) -> str:
    """The CSRF token of the client's session, read from a page every role may see."""
    return csrf_token(client.get("/account/password").data)
