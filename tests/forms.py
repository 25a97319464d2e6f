"""Forms as the test client posts them: the page's CSRF token, an action button, the API's bearer header."""

import re

from flask.testing import FlaskClient


def csrf_token(html: bytes | str) -> str:
    """The CSRF token rendered in a page."""
    text = html.decode() if isinstance(html, bytes) else html
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text) or re.search(r'"X-CSRFToken": "([^"]+)"', text)
    assert match, "no CSRF token in the page"
    return match.group(1)


def post(client: FlaskClient, path: str) -> int:
    """POST an action form with its CSRF token; return the status."""
    return client.post(path, data={"csrf_token": csrf_token(client.get("/").data)}).status_code


def auth(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}
