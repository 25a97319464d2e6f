"""Queue depth, consumers and unacknowledged counts read from RabbitMQ.

A passive ``queue_declare`` over the broker connection answers with a queue's ready messages and
its consumers, nothing more: how many were delivered and not acknowledged yet, and the age of the
oldest waiting one, only the management HTTP API knows (``RABBITMQ_MANAGEMENT_URL``), which is
read instead when it is set. Its figures are the broker's statistics, refreshed every few
seconds; its ``head_message_timestamp`` is the AMQP timestamp tasks.publish_stamp sets on each
message. Every read has a short timeout: the workers page must render while the broker is down.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from celery import Celery
from kombu.exceptions import OperationalError

from webapp.broker import broker_vhost
from webapp.monitoring.heartbeats import from_epoch
from webapp.monitoring.queues import QueueStat

READ_SECONDS = 2.0
MANAGEMENT_COLUMNS = "name,messages_ready,messages_unacknowledged,consumers,head_message_timestamp"


class BrokerUnreadable(Exception):
    """RabbitMQ (or its management API) did not answer; the message says what failed."""


def declared_queues(celery: Celery, queues: Sequence[str]) -> list[QueueStat]:
    """Each queue's ready messages and consumers from a passive declare (a queue not declared yet holds none)."""
    connection = celery.connection_for_read(connect_timeout=READ_SECONDS, heartbeat=0)
    errors = connection.connection_errors + connection.channel_errors + (OSError, OperationalError)
    try:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=READ_SECONDS)  # no pause between tries
        stats, channel = [], connection.channel()
        for name in queues:
            try:
                _, ready, consumers = channel.queue_declare(queue=name, passive=True)
            except connection.channel_errors:  # no such queue: the broker closed the channel
                channel = connection.channel()
                ready, consumers = 0, 0
            stats.append(QueueStat(name=name, depth=int(ready), consumers=int(consumers), age_known=False))
        return stats
    except errors as exc:
        raise BrokerUnreadable(f"RabbitMQ did not answer: {exc}") from exc
    finally:
        connection.release()


def management_queues(management_url: str, broker_url: str, queues: Sequence[str], now: float | None = None) -> list[QueueStat]:
    """Each queue's ready and unacknowledged messages, consumers and oldest message's age from the management API."""
    now = time.time() if now is None else now
    parts = urlsplit(management_url)
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else parts.netloc
    root = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    auth = (parts.username or "", parts.password or "") if parts.username else None
    try:
        response = requests.get(
            f"{root}/api/queues/{quote(broker_vhost(broker_url), safe='')}",
            params={"columns": MANAGEMENT_COLUMNS},
            auth=auth,
            timeout=READ_SECONDS,
        )
        response.raise_for_status()
        listed = {row["name"]: row for row in response.json() if isinstance(row, dict) and "name" in row}
    except (requests.RequestException, ValueError, TypeError) as exc:
        raise BrokerUnreadable(f"RabbitMQ's management API did not answer: {exc}") from exc
    return [management_stat(name, listed.get(name), now) for name in queues]


def management_stat(name: str, row: dict[str, Any] | None, now: float) -> QueueStat:
    """One queue from its management API row (None: not declared yet, so empty)."""
    row = row or {}
    stat = QueueStat(
        name=name,
        depth=int(row.get("messages_ready") or 0),
        consumers=int(row.get("consumers") or 0),
        unacked=int(row.get("messages_unacknowledged") or 0),
    )
    stamp = row.get("head_message_timestamp")
    if isinstance(stamp, (int, float)) and stat.depth:
        stat.oldest_age_seconds = max(0.0, now - float(stamp))
        stat.oldest_sent_at = from_epoch(float(stamp))
    return stat


@dataclass
class Reading:
    """The queues as RabbitMQ gave them, where from (in words), and why the management API was not used."""

    queues: list[QueueStat]
    source: str
    problem: str = ""
    unacked_known: bool = False  # only the management API counts deliveries not acknowledged yet


def read_queues(celery: Celery, queues: Sequence[str], management_url: str) -> Reading:
    """The queues from the management API when it is set and answers, else from passive declares
    (no unacknowledged counts, no ages); BrokerUnreadable when RabbitMQ itself does not answer."""
    problem = ""
    if management_url:
        try:
            stats = management_queues(management_url, str(celery.conf.broker_url), queues)
            return Reading(stats, "RabbitMQ's management API", unacked_known=True)
        except BrokerUnreadable as exc:
            problem = str(exc)  # the API is down, not necessarily the broker
    try:
        stats = declared_queues(celery, queues)
    except BrokerUnreadable as exc:
        raise BrokerUnreadable(f"{problem}; {exc}" if problem else str(exc)) from exc
    return Reading(stats, "a passive declare of each queue, which tells no unacknowledged count and no age", problem)


def messages_held(celery: Celery, queues: Sequence[str], management_url: str) -> int | None:
    """Messages in these queues: ready and unacknowledged from the management API when set, else
    ready only (a passive declare); None when RabbitMQ cannot be read."""
    try:
        reading = read_queues(celery, queues, management_url)
    except BrokerUnreadable:
        return None
    return sum(stat.depth + (stat.unacked or 0) for stat in reading.queues)
