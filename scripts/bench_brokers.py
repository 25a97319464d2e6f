"""The brokers a benchmark section runs on (BENCH_BROKERS), and a RabbitMQ virtual host of its own.

Items 1, 2 and 7 run once per broker, each next to plain Celery on the same broker in the same
run. Redis is the private one of the benchmark (or BENCH_REDIS_URL). RabbitMQ is the server at
BENCH_RABBITMQ_URL: each benchmark environment gets a virtual host created with ``rabbitmqctl``
(named after BENCH_RABBITMQ_VHOST and the process) and deleted after, so the runs never share
queues with anything else on that server.
"""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

from webapp.broker import BROKER_URL_VARIABLES

BROKERS = ("redis", "rabbitmq")
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672"
QUEUES = ("fetch", "db", "default")  # the queues of Celeriac's steps and of the plain canvases


@dataclass(frozen=True)
class Broker:
    """One broker to measure on; ``url`` is the RabbitMQ server's (no virtual host), "" for Redis."""

    name: str
    url: str = ""

    @property
    def amqp(self) -> bool:
        return self.name == "rabbitmq"


REDIS = Broker("redis")  # the benchmark's own Redis carries the messages too


def chosen_brokers() -> list[Broker]:
    """BENCH_BROKERS (default "redis,rabbitmq"), in that order; an unknown name is an error."""
    names = [name.strip() for name in os.environ.get("BENCH_BROKERS", ",".join(BROKERS)).split(",") if name.strip()]
    unknown = [name for name in names if name not in BROKERS]
    if unknown:
        raise ValueError(f"unknown broker(s) {', '.join(unknown)} in BENCH_BROKERS; choose from {', '.join(BROKERS)}")
    rabbitmq_url = os.environ.get("BENCH_RABBITMQ_URL", DEFAULT_RABBITMQ_URL).rstrip("/")
    return [Broker(name, rabbitmq_url if name == "rabbitmq" else "") for name in names]


def without_broker_choice(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` without the variables that choose a broker: the benchmark sets BROKER_URL itself."""
    return {name: value for name, value in environ.items() if name not in BROKER_URL_VARIABLES}


def rabbitmqctl(*args: str) -> None:
    """Run ``rabbitmqctl``; raise RuntimeError with its message when it fails."""
    try:
        done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"rabbitmqctl {args[0]}: {error}") from error
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(f"rabbitmqctl {args[0]} failed: {message[-1] if message else f'exit code {done.returncode}'}")


_vhosts = 0


@contextmanager
def rabbitmq_vhost(broker: Broker) -> Iterator[str]:
    """A new virtual host on the broker's server, granted to its user; yields its broker URL, deletes it after.

    Raises RuntimeError when the vhost cannot be made or the server does not answer on it.
    """
    global _vhosts
    _vhosts += 1
    name = f"{os.environ.get('BENCH_RABBITMQ_VHOST', 'celeriac_bench')}_{os.getpid()}_{_vhosts}"
    user = broker.url.split("://", 1)[-1].split("@", 1)[0].split(":", 1)[0] if "@" in broker.url else "guest"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        url = f"{broker.url}/{quote(name, safe='')}"
        check_connection(url)
        yield url
    finally:
        rabbitmqctl("delete_vhost", name)


def check_connection(url: str) -> None:
    """Open and close an AMQP connection; raise RuntimeError saying why it failed."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as error:  # kombu raises the transport's own errors: all mean unreachable
        raise RuntimeError(f"cannot connect to {url.split('@')[-1]}: {error}") from error


def rabbitmq_unavailable(broker: Broker) -> str:
    """Why RabbitMQ cannot be measured (a vhost of our own cannot be made, or it does not answer); "" when it can."""
    try:
        with rabbitmq_vhost(broker):
            return ""
    except RuntimeError as error:
        return str(error)


def purge_amqp(url: str) -> None:
    """Drop the messages ready on QUEUES (those not declared yet have none)."""
    from amqp.exceptions import NotFound
    from kombu import Connection

    with Connection(url, connect_timeout=5) as connection:
        for name in QUEUES:
            channel = connection.channel()
            try:
                channel.queue_purge(name)
            except NotFound:
                pass  # the channel is closed by the broker with the error
            else:
                channel.close()
