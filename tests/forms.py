"""Forms as the test client posts them: the login form, the page's CSRF token, an action button, the API's bearer header."""

import re

from flask import Flask
from flask.testing import FlaskClient


def csrf_token(html: bytes | str) -> str:
    """The CSRF token rendered in a page."""
    text = html.decode() if isinstance(html, bytes) else html
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text) or re.search(r'"X-CSRFToken": "([^"]+)"', text)
    assert match, "no CSRF token in the page"
    return match.group(1)


def logged_in(app: Flask, operator: tuple[str, str]) -> FlaskClient:
    """A test client of ``app`` logged in as the operator, through the real login form and its CSRF token."""
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"username": operator[0], "password": operator[1], "csrf_token": csrf_token(page.data)})
    assert response.status_code == 302
    return client


def post(client: FlaskClient, path: str) -> int:
    """POST an action form with its CSRF token; return the status."""
    return client.post(path, data={"csrf_token": csrf_token(client.get("/").data)}).status_code


def auth(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}
