"""The machine's RabbitMQ, as tests use it: a virtual host of a test's own, made with rabbitmqctl
and deleted after, so its queues never mix with anyone else's on the same server.

RABBITMQ_URL names the server without a virtual host (CI sets it; the default is the local
server's guest account); RABBITMQ_VHOST_PREFIX starts the names of the test's virtual hosts.
"""

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672"


def rabbitmq_url() -> str:
    """The server's URL without a virtual host (RABBITMQ_URL, else the local guest account)."""
    return os.environ.get("RABBITMQ_URL", "").strip().rstrip("/") or DEFAULT_URL


def rabbitmqctl(*args: str) -> None:
    """Run ``rabbitmqctl args``; fail with its output when it does."""
    binary = shutil.which("rabbitmqctl")
    if binary is None:
        raise AssertionError(
            "rabbitmqctl is not on PATH: this test needs the machine's RabbitMQ server "
            "(127.0.0.1:5672, or RABBITMQ_URL) and its rabbitmqctl to make a virtual host of its own"
        )
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(f"rabbitmqctl {' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}")


@contextmanager
def private_vhost(purpose: str) -> Iterator[str]:
    """A new virtual host the URL's user may use fully; yield the broker URL naming it; delete it after."""
    prefix = os.environ.get("RABBITMQ_VHOST_PREFIX", "").strip() or "celeriac_test"
    name = f"{prefix}_{purpose}_{uuid.uuid4().hex[:8]}"
    user = urlsplit(rabbitmq_url()).username or "guest"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        yield f"{rabbitmq_url()}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)
