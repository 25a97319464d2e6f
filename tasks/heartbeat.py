"""Worker heartbeats in Redis, written by each worker's main process (webapp.monitoring.heartbeats reads them).

Every HEARTBEAT_SECONDS a worker stores what it is (pool, concurrency, queues) and what it is doing
(active, reserved and scheduled requests, tasks processed) under ``celeriac:workers:<hostname>``,
with a TTL of five intervals. The same payload goes into the ``celeriac:workers:seen`` hash, which
outlives the key, so a worker that vanished is still listed as gone for SEEN_SECONDS. A warm
shutdown deletes the key and marks the worker stopped.
"""

import json
import logging
import os
import threading
import time
from typing import Any

import redis
from celery.concurrency import ALIASES
from celery.signals import worker_ready, worker_shutdown
from celery.worker import state
from flask import current_app

from webapp.monitoring.heartbeats import KEY_PREFIX, SEEN_KEY, SEEN_SECONDS, TTL_INTERVALS

log = logging.getLogger(__name__)

_beats: dict[str, "Heartbeat"] = {}


def interval_from_env() -> float:
    """The heartbeat interval in seconds (HEARTBEAT_SECONDS, default 10)."""
    value = os.environ.get("HEARTBEAT_SECONDS", "").strip()
    return max(0.2, float(value)) if value else 10.0


def pool_name(controller: Any) -> str:
    """The -P name of the worker's pool (prefork, threads, gevent, solo, ...)."""
    cls = controller.pool_cls
    target = f"{cls.__module__}:{cls.__qualname__}"
    return next((alias for alias, path in ALIASES.items() if path == target), cls.__module__.rsplit(".", 1)[-1])


def consumed_queues(consumer: Any) -> list[str]:
    """Names of the queues the worker consumes now (add_consumer/cancel_consumer included)."""
    task_consumer = getattr(consumer, "task_consumer", None)
    if task_consumer is not None:
        return sorted(queue.name for queue in task_consumer.queues)
    return sorted(consumer.app.amqp.queues.consume_from)


def pool_size(controller: Any) -> int:
    """The pool's processes or threads now (after any pool_grow/pool_shrink), else the -c it started with."""
    return getattr(controller.pool, "num_processes", None) or controller.concurrency


class Heartbeat(threading.Thread):
    """A daemon thread in the worker's main process that writes its heartbeat until stopped."""

    def __init__(self, consumer: Any, client: redis.Redis, interval: float) -> None:
        super().__init__(name="celeriac-heartbeat", daemon=True)
        self.consumer = consumer
        self.client = client
        self.interval = interval
        self.hostname: str = consumer.controller.hostname
        self.started_at = time.time()
        # The queues of -Q: one missing later was paused by remote control (cancel_consumer).
        self.start_queues = consumed_queues(consumer)
        self.stopping = threading.Event()

    def payload(self) -> dict[str, Any]:
        """What this worker is and does, now."""
        controller = self.consumer.controller
        queues = consumed_queues(self.consumer)
        return {
            "hostname": self.hostname,
            "pid": os.getpid(),
            "pool": pool_name(controller),
            "concurrency": pool_size(controller),
            "queues": queues,
            "paused": sorted(set(self.start_queues) - set(queues)),
            "active": len(state.active_requests),
            "reserved": len(state.reserved_requests),
            "scheduled": len(state.scheduled_requests),
            "processed": state.all_total_count[0],
            "started_at": self.started_at,
            "sent_at": time.time(),
            "interval": self.interval,
        }

    def beat(self) -> None:
        """Write the heartbeat key and the last-seen entry in one round trip; drop stale entries."""
        body = json.dumps(self.payload())
        pipe = self.client.pipeline(transaction=False)
        pipe.set(KEY_PREFIX + self.hostname, body, px=int(self.interval * TTL_INTERVALS * 1000))
        pipe.hset(SEEN_KEY, self.hostname, body)
        pipe.expire(SEEN_KEY, SEEN_SECONDS)
        pipe.hgetall(SEEN_KEY)
        seen = pipe.execute()[-1]
        stale = [host for host, raw in seen.items() if last_seen(raw) < time.time() - SEEN_SECONDS]
        if stale:
            self.client.hdel(SEEN_KEY, *stale)

    def run(self) -> None:
        """Beat at once, then every interval; a Redis outage only skips beats."""
        while not self.stopping.is_set():
            try:
                self.beat()
            except redis.RedisError as exc:
                log.warning("heartbeat of %s not written: %s", self.hostname, exc)
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        """Stop beating, delete the key and mark the worker stopped."""
        self.stopping.set()
        self.join(timeout=self.interval + 5)
        body = self.payload() | {"stopped_at": time.time()}
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(KEY_PREFIX + self.hostname)
        pipe.hset(SEEN_KEY, self.hostname, json.dumps(body))
        pipe.expire(SEEN_KEY, SEEN_SECONDS)
        pipe.execute()


def last_seen(raw: bytes | str) -> float:
    """The sent_at of a stored heartbeat (0 if unreadable, so it counts as stale)."""
    try:
        return float(json.loads(raw)["sent_at"])
    except (ValueError, KeyError, TypeError):
        return 0.0


@worker_ready.connect(dispatch_uid="celeriac-heartbeat-start")
def start_heartbeat(sender: Any, **_: Any) -> None:
    """Start the heartbeat thread of this worker (once, even if the consumer restarts)."""
    hostname = sender.controller.hostname
    if hostname in _beats:
        return
    with sender.app.flask_app.app_context():
        url = current_app.config["REDIS_URL"]
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    beat = _beats[hostname] = Heartbeat(sender, client, interval_from_env())
    beat.start()


@worker_shutdown.connect(dispatch_uid="celeriac-heartbeat-stop")
def stop_heartbeat(sender: Any, **_: Any) -> None:
    """On a warm shutdown, stop beating and show the worker as stopped rather than missing."""
    beat = _beats.pop(getattr(sender, "hostname", ""), None)
    if beat is None:
        return
    try:
        beat.stop()
    except redis.RedisError as exc:
        log.warning("heartbeat of %s not removed: %s", beat.hostname, exc)
