"""Which broker carries the task messages, and the Celery settings that go with it.

Redis keeps results, heartbeats and caches in every deploy; the broker is a choice. RabbitMQ
(``amqp://``) hands a dead worker's unacknowledged messages back as soon as its connection
drops and confirms every publish; Redis (``redis://``) needs the visibility timeout and the
sweeper for the same. Read by celeryconfig.py (every Celery process) and webapp.config (the app),
so both agree without importing each other.
"""

import functools
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

# Looked up in this order; Heroku's CloudAMQP add-on sets CLOUDAMQP_URL.
BROKER_URL_VARIABLES = ("BROKER_URL", "CELERY_BROKER_URL", "CLOUDAMQP_URL")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def configured_broker_url(environ: Mapping[str, str] | None = None) -> str:
    """The first of BROKER_URL_VARIABLES that is set, or "" when none is (the broker is then REDIS_URL)."""
    environ = os.environ if environ is None else environ
    return next((value for value in (environ.get(name, "").strip() for name in BROKER_URL_VARIABLES) if value), "")


def broker_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The broker's URL: the configured one, else REDIS_URL (one server for all, as before the choice)."""
    environ = os.environ if environ is None else environ
    return configured_broker_url(environ) or environ.get("REDIS_URL", "redis://localhost:6379/0")


@functools.lru_cache(maxsize=16)
def is_amqp(url: str) -> bool:
    """Whether the URL names a RabbitMQ (AMQP 0-9-1) broker (asked at every publish: remembered)."""
    return urlsplit(url).scheme in AMQP_SCHEMES


def uses_rabbitmq(celery: Any) -> bool:
    """Whether this Celery app's broker is RabbitMQ."""
    return is_amqp(str(celery.conf.broker_url or ""))


def visibility_timeout_from_env(environ: Mapping[str, str] | None = None) -> int:
    """BROKER_VISIBILITY_TIMEOUT in seconds (Redis as the broker only), default an hour."""
    environ = os.environ if environ is None else environ
    return int(environ.get("BROKER_VISIBILITY_TIMEOUT", "3600"))


def broker_kind(url: str) -> str:
    """ "rabbitmq" or "redis", as the workers page and /metrics name the broker."""
    return "rabbitmq" if is_amqp(url) else "redis"


def transport_settings(url: str, visibility_timeout: int) -> dict[str, Any]:
    """Celery settings of the broker the URL names (merged over celeryconfig's shared ones).

    RabbitMQ: kombu's py-amqp transport (over TLS for ``amqps://``), publisher confirms (a publish returns once the broker
    has the message), durable queues and persistent messages (kombu's defaults). Redis: this
    project's transport (tasks.broker_transport) with the visibility timeout and quick restores.
    """
    if is_amqp(url):
        return {
            "broker_url": url,
            # Named from the URL: a transport set here wins over the URL's scheme, and "amqp" would
            # send an amqps:// URL (CloudAMQP's) in clear text to port 5672.
            "broker_transport": "amqps" if urlsplit(url).scheme == "amqps" else "amqp",
            "broker_transport_options": {"confirm_publish": True, "connect_timeout": 5},
            "broker_heartbeat": 30,
        }
    return {
        "broker_url": url,
        "broker_transport": "tasks.broker_transport:Transport",  # Redis, with one client per channel (see there)
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
            "socket_keepalive": True,
            "retry_on_timeout": True,
            "health_check_interval": 25,
            # Look for messages of killed workers every 10 s rather than every 100 s.
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
        },
    }


def broker_vhost(url: str) -> str:
    """The RabbitMQ virtual host the URL names ("/" when its path is empty, as kombu reads it)."""
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def describe_broker(url: str) -> str:
    """The broker in words, without its password: "RabbitMQ at host:5672, vhost v" or "Redis at host:6379/0"."""
    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port}" if parts.port else (parts.hostname or "localhost")
    if is_amqp(url):
        return f"RabbitMQ at {where}, vhost {broker_vhost(url)}"
    return f"Redis at {where}{parts.path or ''}"
