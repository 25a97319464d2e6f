"""Login attempts throttled by account and by address (Flask-Limiter, counted in Redis for every web process).

Only failed attempts count, so an operator who types their password right is never slowed; once an
account or an address has failed too often, even the right password waits (429 with Retry-After).
"""

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# With Redis unreachable, logins are counted in this process instead of failing with it.
limiter = Limiter(key_func=get_remote_address, headers_enabled=True, strategy="moving-window",
                  swallow_errors=True, in_memory_fallback_enabled=True)


def account_key() -> str:
    """The account a login form names (case and spaces ignored, as the length the form allows)."""
    return "login-account:" + request.form.get("username", "").strip().lower()[:80]


def address_key() -> str:
    """The address a login comes from (behind a proxy, configure it to pass the client's address)."""
    return "login-address:" + (get_remote_address() or "unknown")


def per_account() -> str:
    """How many failed logins an account may have before it waits."""
    return current_app.config["LOGIN_FAILURES_PER_ACCOUNT"]


def per_address() -> str:
    """How many failed logins one address may have, over all accounts, before it waits."""
    return current_app.config["LOGIN_FAILURES_PER_ADDRESS"]


def failed_login(response: object) -> bool:
    """A login that did not log in: the form came back instead of a redirect."""
    return getattr(response, "status_code", 0) != 302


def throttled_login(view):  # type: ignore[no-untyped-def]
    """Limit ``view``'s POSTs by account and by address, counting failures only."""
    view = limiter.limit(per_account, key_func=account_key, methods=["POST"], deduct_when=failed_login)(view)
    return limiter.limit(per_address, key_func=address_key, methods=["POST"], deduct_when=failed_login)(view)


def register(app: Flask) -> None:
    """Count in the app's Redis, shared by every web process."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    limiter.init_app(app)
