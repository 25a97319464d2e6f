"""Telling an htmx request from a plain one, the one place the screens branch on it."""

from flask import request


def is_htmx() -> bool:
    """True for htmx-initiated, non-boosted requests (a boosted one wants the whole page)."""
    headers = request.headers
    return headers.get("HX-Request") == "true" and headers.get("HX-Boosted") != "true"
