"""Reading worker heartbeats from Redis: the workers page, /metrics, and the sweeper's judgement of dead workers.

Each worker's main process (tasks.heartbeat) stores what it is and does under
``celeriac:workers:<hostname>`` every HEARTBEAT_SECONDS, with a TTL of TTL_INTERVALS beats, and the
same payload in the ``celeriac:workers:seen`` hash, which outlives the key: a worker that vanished
is still listed as gone for SEEN_SECONDS.
"""

import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

KEY_PREFIX = "celeriac:workers:"
SEEN_KEY = "celeriac:workers:seen"
SEEN_SECONDS = 3600  # how long a stopped or vanished worker stays listed
TTL_INTERVALS = 5  # the heartbeat key expires after this many missed beats
MISSING_INTERVALS = 3  # a heartbeat older than this many intervals means the worker is missing


@dataclass
class WorkerStatus:
    """One worker as the workers page shows it."""

    hostname: str
    status: str  # online, missing (heartbeat too old), gone (key expired), stopped (warm shutdown)
    last_seen: datetime
    age_seconds: float
    interval: float
    pool: str | None = None
    concurrency: int | None = None
    queues: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)  # queues of its -Q it no longer consumes (remote control)
    pid: int | None = None
    active: int = 0
    reserved: int = 0
    scheduled: int = 0
    processed: int = 0
    started_at: datetime | None = None
    stopped_at: datetime | None = None

    @property
    def is_online(self) -> bool:
        """True while the worker's heartbeat is fresh."""
        return self.status == "online"


STATUS_ORDER = {"online": 0, "missing": 1, "gone": 2, "stopped": 3}


def read_workers(client: redis.Redis, now: float | None = None) -> list[WorkerStatus]:
    """Every worker seen in the last SEEN_SECONDS with its status (two round trips)."""
    now = time.time() if now is None else now
    seen = {host.decode(): raw for host, raw in client.hgetall(SEEN_KEY).items()}
    hosts = sorted(seen)
    live = client.mget([KEY_PREFIX + host for host in hosts]) if hosts else []
    workers = []
    for host, current in zip(hosts, live):
        worker = worker_status(host, current, seen[host], now)
        if worker is not None:
            workers.append(worker)
    return sorted(workers, key=lambda w: (STATUS_ORDER[w.status], w.hostname))


def worker_status(hostname: str, current: bytes | None, seen: bytes, now: float) -> WorkerStatus | None:
    """Judge one worker from its heartbeat key (if still there) and its last-seen entry."""
    try:
        data = json.loads(current if current is not None else seen)
        sent_at = float(data["sent_at"])
    except (ValueError, KeyError, TypeError):
        return None
    if now - sent_at > SEEN_SECONDS:
        return None
    interval = float(data.get("interval") or 10.0)
    if current is not None:
        status = "missing" if now - sent_at > MISSING_INTERVALS * interval else "online"
    else:
        status = "stopped" if data.get("stopped_at") else "gone"
    return WorkerStatus(
        hostname=hostname,
        status=status,
        last_seen=from_epoch(sent_at),
        age_seconds=max(0.0, now - sent_at),
        interval=interval,
        pool=data.get("pool"),
        concurrency=data.get("concurrency"),
        queues=data.get("queues") or [],
        paused=data.get("paused") or [],
        pid=data.get("pid"),
        active=data.get("active", 0),
        reserved=data.get("reserved", 0),
        scheduled=data.get("scheduled", 0),
        processed=data.get("processed", 0),
        started_at=as_datetime(data.get("started_at")),
        stopped_at=as_datetime(data.get("stopped_at")),
    )


def dead_workers(client: redis.Redis, names: set[str], beats: float, now: float | None = None) -> set[str]:
    """Which of these workers sent no heartbeat for ``beats`` of their intervals (two round trips).

    A worker Redis knows nothing about (no key, no last-seen entry: Redis restarted empty, or a
    worker that never beat) is not judged dead, so a broker restart does not resend live work.
    """
    now = time.time() if now is None else now
    ordered = sorted(names)
    if not ordered:
        return set()
    live = client.mget([KEY_PREFIX + name for name in ordered])
    seen = client.hmget(SEEN_KEY, ordered)
    dead = set()
    for name, current, last in zip(ordered, live, seen):
        raw = current if current is not None else last
        if raw is None:
            continue
        try:
            data = json.loads(raw)
            sent_at, interval = float(data["sent_at"]), float(data.get("interval") or 10.0)
        except (ValueError, KeyError, TypeError):
            continue
        if now - sent_at > beats * interval:
            dead.add(name)
    return dead


def from_epoch(epoch: float) -> datetime:
    """Unix seconds as a naive UTC datetime (as every timestamp in the app)."""
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def as_datetime(epoch: Any) -> datetime | None:
    """Like from_epoch() for an optional or unchecked value."""
    try:
        return from_epoch(float(epoch)) if epoch is not None and math.isfinite(float(epoch)) else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None
