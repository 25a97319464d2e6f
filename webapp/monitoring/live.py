"""What Redis says right now: live workers (heartbeats), queue depths and ages, unacknowledged and scheduled messages."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from flask import current_app

from webapp.monitoring.heartbeats import WorkerStatus, read_workers
from webapp.monitoring.queues import QueueStat, read_queues
from webapp.redis_clients import shared_redis


@dataclass
class LiveState:
    """Workers and queues as Redis shows them now; ``error`` says why they are missing."""

    workers: list[WorkerStatus]
    queues: list[QueueStat]
    unacked: int
    error: str | None = None

    @property
    def scheduled(self) -> int:
        """Retries and ETA tasks held by live workers until they are due."""
        return sum(worker.scheduled for worker in self.workers if worker.status in ("online", "missing"))


def monitored_queues(conf: Any, workers: Sequence[WorkerStatus]) -> list[str]:
    """The configured queues, then any other queue a listed worker consumes, consumed or paused."""
    names = [conf.task_default_queue]
    routes = conf.task_routes if isinstance(conf.task_routes, Mapping) else {}
    names += [route["queue"] for route in routes.values() if isinstance(route, Mapping) and route.get("queue")]
    names += [queue.name for queue in conf.task_queues or ()]
    names += [queue for worker in workers for queue in worker.queues + worker.paused]  # a paused queue still fills
    return list(dict.fromkeys(names))


def live_state() -> LiveState:
    """Heartbeats, queue depths and the unacked count from Redis (three round trips)."""
    conf = current_app.extensions["celery"].conf
    try:
        client = shared_redis(timeout=2)  # short: a page must not hang on Redis
        workers = read_workers(client)
        queues, unacked = read_queues(client, monitored_queues(conf, workers), conf.broker_transport_options or {})
    except redis.RedisError as exc:
        return LiveState([], [], 0, error=f"Redis did not answer: {exc}")
    for queue in queues:
        queue.consumers = sum(1 for worker in workers if worker.is_online and queue.name in worker.queues)
    return LiveState(workers, queues, unacked)
