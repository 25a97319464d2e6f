"""Defaults that are safe in production: /metrics closed without a token, no public secret key in
debug, only trusted host names, a private SQLite file, a strict CSP and HSTS."""

import os
import stat
from pathlib import Path

import pytest
from flask import Flask

from webapp.app import create_app


def test_metrics_are_closed_to_local_callers_unless_opened(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "")
    monkeypatch.setitem(app.config, "METRICS_LOCAL_SCRAPE", False)
    closed = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert closed.status_code == 403
    assert b"METRICS_TOKEN" in closed.data and b"celeriac_" not in closed.data
    monkeypatch.setitem(app.config, "METRICS_LOCAL_SCRAPE", True)
    assert app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200


def test_metrics_local_scrape_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METRICS_LOCAL_SCRAPE", raising=False)
    assert create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["METRICS_LOCAL_SCRAPE"] is False


def test_debug_without_a_secret_key_makes_a_random_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    keys = {create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["SECRET_KEY"] for _ in range(2)}
    assert len(keys) == 2
    assert all(len(key) >= 64 for key in keys)


def test_only_trusted_host_names_are_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_HOSTS", "console.example.com, localhost")
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["TRUSTED_HOSTS"] == ["console.example.com", "localhost"]
    client = app.test_client()
    assert client.get("/login", headers={"Host": "evil.example.net"}).status_code == 400
    assert client.get("/login", headers={"Host": "console.example.com"}).status_code == 200


def test_the_sqlite_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite:///console.db"})
    path = Path(app.instance_path) / "console.db"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.chmod(0o644)
    create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("secure", [True, False])
def test_pages_carry_a_strict_policy_and_hsts_over_https(app: Flask, monkeypatch: pytest.MonkeyPatch, secure: bool) -> None:
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", secure)
    response = app.test_client().get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "base-uri 'self'" in policy and "form-action 'self'" in policy and "object-src 'none'" in policy
    assert ("Strict-Transport-Security" in response.headers) is secure
