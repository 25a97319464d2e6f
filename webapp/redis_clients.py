"""The web process's Redis clients for the reads it makes while serving a page.

One client (with its connection pool) per Redis URL and timeout, kept for the app's life: a client
made per request opens a TCP connection per request, which cost the polled job page a few
milliseconds of every answer.
"""

import redis
from flask import current_app


def shared_redis(timeout: float) -> redis.Redis:
    """This app's client for REDIS_URL whose connects and reads give up after ``timeout`` seconds."""
    clients: dict[tuple[str, float], redis.Redis] = current_app.extensions.setdefault("redis_clients", {})
    key = (current_app.config["REDIS_URL"], timeout)
    client = clients.get(key)
    if client is None:
        client = clients[key] = redis.Redis.from_url(key[0], socket_timeout=timeout, socket_connect_timeout=timeout)
    return client
