"""What the broker and Redis say right now: live workers (heartbeats in Redis), queue depths and
ages, unacknowledged and scheduled messages (from the broker, Redis or RabbitMQ)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from flask import current_app

from webapp.broker import broker_kind, describe_broker
from webapp.monitoring import rabbitmq
from webapp.monitoring.heartbeats import WorkerStatus, read_workers
from webapp.monitoring.queues import QueueStat, read_queues
from webapp.redis_clients import shared_redis


@dataclass
class LiveState:
    """Workers and queues as Redis and the broker show them now; ``error`` says why Redis' part is
    missing, ``broker_error`` why the queues are (RabbitMQ, read apart from Redis)."""

    workers: list[WorkerStatus]
    queues: list[QueueStat]
    unacked: int | None  # None: this broker cannot tell (RabbitMQ without its management API)
    error: str | None = None
    broker: str = "redis"  # broker_kind(): "redis" or "rabbitmq"
    broker_name: str = ""  # the broker in words, without its password (webapp.broker.describe_broker)
    broker_error: str | None = None
    source: str = ""  # where the queue figures come from, in words

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
    """Heartbeats from Redis; queue depths and unacknowledged messages from the broker."""
    celery = current_app.extensions["celery"]
    url = str(celery.conf.broker_url)
    kind, name = broker_kind(url), describe_broker(url)
    try:
        client = shared_redis(timeout=2)  # short: a page must not hang on Redis
        workers = read_workers(client)
        if kind == "redis":
            queues, unacked = read_queues(client, monitored_queues(celery.conf, workers), celery.conf.broker_transport_options or {})
    except redis.RedisError as exc:
        if kind == "redis":
            return LiveState([], [], 0, error=f"Redis did not answer: {exc}", broker=kind, broker_name=name)
        return rabbitmq_state(celery, [], LiveState([], [], None, error=f"Redis did not answer: {exc}", broker=kind, broker_name=name))
    if kind == "rabbitmq":
        return rabbitmq_state(celery, workers, LiveState(workers, [], None, broker=kind, broker_name=name))
    for queue in queues:
        queue.consumers = sum(1 for worker in workers if worker.is_online and queue.name in worker.queues)
    return LiveState(workers, queues, unacked, broker=kind, broker_name=name, source="Redis' queue lists")


def rabbitmq_state(celery: Celery, workers: list[WorkerStatus], state: LiveState) -> LiveState:
    """Fill ``state``'s queues from RabbitMQ: its management API when configured, else (or when
    the API does not answer) passive declares, which give neither unacknowledged counts nor ages."""
    try:
        reading = rabbitmq.read_queues(
            celery, monitored_queues(celery.conf, workers), current_app.config.get("RABBITMQ_MANAGEMENT_URL", "")
        )
    except rabbitmq.BrokerUnreadable as exc:
        state.broker_error = str(exc)
        return state
    state.queues = reading.queues
    state.source = f"{reading.problem}; {reading.source}" if reading.problem else reading.source
    if reading.unacked_known:
        state.unacked = sum(queue.unacked or 0 for queue in state.queues)
    return state
