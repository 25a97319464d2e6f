"""HTTP client of the ERP API that sorts every failure into transient or permanent."""

import threading
from typing import Any
from urllib.parse import quote

import requests
from flask import current_app

_local = threading.local()


class ErpError(Exception):
    """A failed ERP call, with a reason an operator can read."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class TransientError(ErpError):
    """Worth retrying: 5xx, 429, timeouts, refused or dropped connections."""


class PermanentError(ErpError):
    """Retrying cannot help: 404, other 4xx, or data that does not make sense."""


def session() -> requests.Session:
    """One keep-alive session per thread (requests sessions are not thread-safe)."""
    if getattr(_local, "session", None) is None:
        _local.session = requests.Session()
    return _local.session


def erp_path(template: str, key: str) -> str:
    """``template`` with ``key`` in its ``{}`` as one encoded path segment, so no key can name another URL.

    Every character but letters, digits and ``-._~`` is percent-encoded (``/``, ``?``, ``#``, ``%``
    included); a key of dots only, which a URL would read as "this" or "the parent" segment, has
    its dots encoded too.
    """
    segment = quote(key, safe="")
    if segment and set(segment) == {"."}:
        segment = segment.replace(".", "%2E")
    return template.format(segment)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds; None if absent or a date we ignore."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def get_json(path: str, what: str) -> Any:
    """GET ``path`` from the ERP and return its JSON, or raise Transient/PermanentError."""
    url = current_app.config["ERP_API_URL"].rstrip("/") + path
    timeout = current_app.config["ERP_TIMEOUT"]
    try:
        response = session().get(url, timeout=timeout)
    except requests.Timeout:
        raise TransientError(f"the ERP did not answer within {timeout:g} s") from None
    except requests.ConnectionError as exc:
        raise TransientError(f"could not connect to the ERP ({type(exc).__name__})") from None
    status = response.status_code
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientError("the ERP is rate limiting (HTTP 429)", retry_after=retry_after)
    if status >= 500:
        raise TransientError(f"the ERP failed with HTTP {status}")
    if status == 404:
        raise PermanentError(f"{what} was not found in the ERP (HTTP 404)")
    if status >= 400:
        raise PermanentError(f"the ERP refused the request for {what} (HTTP {status})")
    try:
        return response.json()
    except ValueError:
        raise PermanentError(f"the ERP answered for {what} with something that is not JSON") from None
