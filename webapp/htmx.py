"""Small helpers for htmx requests."""

from flask import request


def is_htmx() -> bool:
    """True for htmx-initiated, non-boosted requests."""
    headers = request.headers
    return headers.get("HX-Request") == "true" and headers.get("HX-Boosted") != "true"
