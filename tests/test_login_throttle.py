"""Guessing passwords is slow: failed logins are counted by account and by address, a throttled login
waits even with the right password (429, Retry-After), and unknown usernames cost the same work."""

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from tests.forms import csrf_token
from webapp.web.throttle import limiter


@pytest.fixture(autouse=True)
def fresh_counts(app: Flask) -> Iterator[None]:
    """Every test here starts and ends with no failed logins counted (other tests log in as the same operator)."""
    with app.app_context():
        limiter.reset()
    yield
    with app.app_context():
        limiter.reset()


def attempt(client: FlaskClient, username: str, password: str, address: str = "192.0.2.10") -> int:
    """Post the login form once from ``address``; return the status."""
    token = csrf_token(client.get("/login", environ_base={"REMOTE_ADDR": address}).data)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": address})
    return response.status_code


def test_an_account_waits_after_ten_failures_even_with_the_right_password(app: Flask, operator: tuple[str, str]) -> None:
    client = app.test_client()
    assert [attempt(client, operator[0], "wrong guess") for _ in range(10)] == [200] * 10
    refused = client.post("/login", data={"username": operator[0], "password": operator[1],
                                          "csrf_token": csrf_token(client.get("/login").data)},
                          environ_base={"REMOTE_ADDR": "198.51.100.7"})  # from another address too
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert b"Traceback" not in refused.data


def test_right_passwords_are_never_counted(app: Flask, operator: tuple[str, str]) -> None:
    client = app.test_client()
    assert [attempt(client, operator[0], operator[1]) for _ in range(15)] == [302] * 15


def test_an_address_waits_after_failures_over_many_accounts(app: Flask, operator: tuple[str, str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "LOGIN_FAILURES_PER_ADDRESS", "5 per 15 minutes")
    client = app.test_client()
    assert [attempt(client, f"user{n}", "guess", address="203.0.113.9") for n in range(5)] == [200] * 5
    assert attempt(client, operator[0], operator[1], address="203.0.113.9") == 429
    assert attempt(client, operator[0], operator[1], address="203.0.113.10") == 302


def test_an_unknown_username_costs_a_password_check(app: Flask, operator: tuple[str, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The same slow hash check for a username that does not exist as for a wrong password: the
    answer's time does not tell which usernames exist."""
    checks: list[str] = []

    def counting(module: object):  # type: ignore[no-untyped-def]
        real = module.check_password_hash  # type: ignore[attr-defined]

        def check(hashed: str, password: str) -> bool:
            checks.append(hashed.split(":")[0])
            return real(hashed, password)
        return check

    from webapp.models import operators as operator_model
    from webapp.views import auth as auth_view

    monkeypatch.setattr(operator_model, "check_password_hash", counting(operator_model))
    monkeypatch.setattr(auth_view, "check_password_hash", counting(auth_view))
    client = app.test_client()
    attempt(client, operator[0], "wrong guess")
    attempt(client, "nobody-at-all", "wrong guess")
    assert len(checks) == 2  # one check each
    assert checks[1] == generate_password_hash("x").split(":")[0]  # by the method real passwords are stored with
