"""Queue depth and the age of each queue's oldest message, read from Redis (RabbitMQ: webapp.monitoring.rabbitmq).

kombu's Redis transport keeps each queue as a list (plus one list per priority step): publishers
LPUSH, workers BRPOP, so the oldest message waits at the right end (LINDEX -1). Its ``sent_at``
header, stamped by tasks.publish_stamp in every process that publishes, gives its age.
"""

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from webapp.monitoring.heartbeats import from_epoch

SENT_AT_HEADER = "sent_at"
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
KOMBU_SEP = "\x06\x16"


@dataclass
class QueueStat:
    """One queue: messages waiting, and the oldest of them."""

    name: str
    depth: int
    oldest_sent_at: datetime | None = None
    oldest_age_seconds: float | None = None
    oldest_task: str | None = None
    consumers: int = 0  # Redis: online workers consuming it (from heartbeats); RabbitMQ: the broker's count
    unacked: int | None = None  # delivered, not acknowledged yet: known per queue on RabbitMQ's management API only
    age_known: bool = True  # False where the broker cannot tell the oldest message's age (RabbitMQ without its API)


def list_keys(queue: str, options: Mapping[str, Any]) -> list[str]:
    """The Redis lists holding ``queue``: the queue itself and its priority-suffixed lists."""
    prefix = options.get("global_keyprefix", "")
    sep = options.get("sep", KOMBU_SEP)
    steps = options.get("priority_steps", KOMBU_PRIORITY_STEPS)
    return [prefix + queue] + [f"{prefix}{queue}{sep}{step}" for step in steps if step]


def read_queues(
    client: redis.Redis, queues: Sequence[str], options: Mapping[str, Any], now: float | None = None
) -> tuple[list[QueueStat], int]:
    """Each queue's depth and oldest message, and the broker's unacknowledged count, in one round trip.

    :param options: the broker transport options (key prefix, priority steps, unacked key).
    """
    now = time.time() if now is None else now
    pipe = client.pipeline(transaction=False)
    keys = {queue: list_keys(queue, options) for queue in queues}
    for queue in queues:
        for key in keys[queue]:
            pipe.llen(key)
            pipe.lindex(key, -1)
    pipe.hlen(options.get("global_keyprefix", "") + options.get("unacked_key", "unacked"))
    replies = pipe.execute()
    stats = []
    position = 0
    for queue in queues:
        stat = QueueStat(name=queue, depth=0)
        for _ in keys[queue]:
            depth, tail = replies[position], replies[position + 1]
            position += 2
            stat.depth += int(depth or 0)
            note_oldest(stat, tail, now)
        stats.append(stat)
    return stats, int(replies[-1] or 0)


def note_oldest(stat: QueueStat, raw: bytes | None, now: float) -> None:
    """Keep ``raw`` as the queue's oldest message if it was published before the one kept so far."""
    if raw is None:
        return
    try:
        headers = json.loads(raw).get("headers") or {}
        sent_at = float(headers[SENT_AT_HEADER])
    except (ValueError, KeyError, TypeError, AttributeError):
        return  # published without a stamp (another client): its age is unknown
    if stat.oldest_sent_at is None or from_epoch(sent_at) < stat.oldest_sent_at:
        stat.oldest_sent_at = from_epoch(sent_at)
        stat.oldest_age_seconds = max(0.0, now - sent_at)
        stat.oldest_task = headers.get("task")


def task_ids(message: bytes | str | Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The job and record ids a task message carries in its keyword arguments, (None, None) if unreadable.

    Kombu's body is base64 of JSON ``[args, kwargs, embed]``; every task of a job takes ``job_id``,
    every step of a record ``record_id``, by keyword.
    """
    try:
        envelope = json.loads(message) if isinstance(message, (bytes, str)) else message
        _, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        job_id, record_id = kwargs.get("job_id"), kwargs.get("record_id")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, None
    return (job_id if isinstance(job_id, int) else None), (record_id if isinstance(record_id, int) else None)
