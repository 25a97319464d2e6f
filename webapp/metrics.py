"""Numbers read at request or scrape time (task-log aggregates, Redis live state) and the Prometheus /metrics."""

import hmac
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement

from webapp.extensions import db, on_postgresql
from webapp.models import JOB_STATUSES, RECORD_STATES, Job, JobRecord, TaskRun, utcnow
from webapp.monitoring.heartbeats import WorkerStatus, read_workers
from webapp.monitoring.queues import QueueStat, read_queues
from webapp.redis_clients import shared_redis

bp = Blueprint("metrics", __name__)

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
RECENT = timedelta(minutes=15)
LOCAL_ADDRESSES = ("127.0.0.1", "::1")


def seconds_between(start: Any, end: Any) -> ColumnElement[Any]:
    """SQL for the seconds from ``start`` to ``end`` in the current database's dialect."""
    if on_postgresql():
        return db.func.extract("epoch", end - start)
    return (db.func.julianday(end) - db.func.julianday(start)) * 86400.0


@dataclass
class RunStats:
    """Runs of one task in one state that finished in a window, with their duration histogram."""

    task: str
    state: str
    count: int
    seconds: float
    max_seconds: float
    buckets: list[int]  # cumulative: runs that took at most DURATION_BUCKETS[i] seconds


def run_stats(since: datetime, task_names: Sequence[str] | None = None) -> list[RunStats]:
    """Runs finished since ``since`` by task and state (one GROUP BY bounded by finished_at)."""
    seconds = seconds_between(TaskRun.started_at, TaskRun.finished_at)
    columns: list[Any] = [TaskRun.task_name, TaskRun.state, db.func.count(), db.func.sum(seconds), db.func.max(seconds)]
    columns += [db.func.count().filter(seconds <= bound) for bound in DURATION_BUCKETS]
    query = db.select(*columns).where(TaskRun.finished_at >= since).group_by(TaskRun.task_name, TaskRun.state)
    if task_names is not None:
        query = query.where(TaskRun.task_name.in_(task_names))
    return [
        RunStats(task, state, count, float(total or 0), float(longest or 0), list(buckets))
        for task, state, count, total, longest, *buckets in db.session.execute(query)
    ]


@dataclass
class Histogram:
    """Durations of many runs: count, sum, maximum and cumulative bucket counts."""

    count: int = 0
    seconds: float = 0.0
    max_seconds: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))

    def add(self, stats: RunStats) -> None:
        """Fold one task/state row into this histogram."""
        self.count += stats.count
        self.seconds += stats.seconds
        self.max_seconds = max(self.max_seconds, stats.max_seconds)
        self.buckets = [a + b for a, b in zip(self.buckets, stats.buckets)]

    def quantile(self, q: float) -> float | None:
        """Estimate the q-quantile by interpolating inside its bucket (as Prometheus does), at most the maximum."""
        if not self.count:
            return None
        rank, lower, below = q * self.count, 0.0, 0
        for upper, cumulative in zip(DURATION_BUCKETS, self.buckets):
            if cumulative >= rank and cumulative > below:
                return min(self.max_seconds, lower + (upper - lower) * (rank - below) / (cumulative - below))
            lower, below = upper, cumulative
        return self.max_seconds


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
    """The configured queues, then any other queue a listed worker consumes (or consumed)."""
    names = [conf.task_default_queue]
    routes = conf.task_routes if isinstance(conf.task_routes, Mapping) else {}
    names += [route["queue"] for route in routes.values() if isinstance(route, Mapping) and route.get("queue")]
    names += [queue.name for queue in conf.task_queues or ()]
    names += [queue for worker in workers for queue in worker.queues]
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


class ConsoleCollector(Collector):
    """Reads SQL and Redis at scrape time (nothing is counted in this process)."""

    def collect(self) -> Iterator[Any]:
        """Jobs by status, records by state, recent task runs and durations, queues, workers."""
        yield counts_family("celeriac_jobs", "Jobs by status.", "status", JOB_STATUSES, Job.status)
        yield counts_family("celeriac_records", "Job records by state.", "state", RECORD_STATES, JobRecord.state)
        yield from task_families(run_stats(utcnow() - RECENT))
        yield from live_families(live_state())


def counts_family(name: str, doc: str, label: str, values: Sequence[str], column: Any) -> GaugeMetricFamily:
    """A gauge of row counts by one column (SQL GROUP BY), zero for values with no rows."""
    rows = db.session.execute(db.select(column, db.func.count()).group_by(column)).all()
    counts = {str(value): 0 for value in values} | {str(value): count for value, count in rows}
    family = GaugeMetricFamily(name, doc, labels=[label])
    for value, count in counts.items():
        family.add_metric([value], count)
    return family


def task_families(rows: list[RunStats]) -> Iterator[Any]:
    """Runs by task and state, and duration histograms by task, over the last RECENT."""
    window = f"the last {int(RECENT.total_seconds() // 60)} minutes"
    runs = GaugeMetricFamily("celeriac_task_runs_recent", f"Task runs finished in {window}, by task and state.",
                             labels=["task", "state"])
    histograms: dict[str, Histogram] = {}
    for stats in rows:
        runs.add_metric([stats.task, stats.state], stats.count)
        if stats.state != "LOST":  # a lost run's "duration" is only how long until it was noticed
            histograms.setdefault(stats.task, Histogram()).add(stats)
    yield runs
    durations = GaugeHistogramMetricFamily("celeriac_task_duration_seconds",
                                           f"Durations of task runs finished in {window}, by task.", labels=["task"])
    for task, histogram in sorted(histograms.items()):
        buckets = [(f"{bound:g}", count) for bound, count in zip(DURATION_BUCKETS, histogram.buckets)]
        durations.add_metric([task], buckets + [("+Inf", histogram.count)], gsum_value=histogram.seconds)
    yield durations


def live_families(live: LiveState) -> Iterator[GaugeMetricFamily]:
    """Redis reachability, queue depths and oldest ages, unacked messages, workers by status."""
    yield GaugeMetricFamily("celeriac_redis_up", "1 if Redis answered this scrape.", value=0 if live.error else 1)
    if live.error:
        return
    depth = GaugeMetricFamily("celeriac_queue_messages", "Messages waiting in each queue.", labels=["queue"])
    age = GaugeMetricFamily("celeriac_queue_oldest_message_age_seconds",
                            "Age of the oldest waiting message of each queue (0 when empty).", labels=["queue"])
    for queue in live.queues:
        depth.add_metric([queue.name], queue.depth)
        if queue.depth == 0 or queue.oldest_age_seconds is not None:
            age.add_metric([queue.name], queue.oldest_age_seconds or 0.0)
    yield depth
    yield age
    yield GaugeMetricFamily("celeriac_unacked_messages", "Messages delivered to workers and not acknowledged yet.",
                            value=live.unacked)
    workers = GaugeMetricFamily("celeriac_workers", "Workers by heartbeat status.", labels=["status"])
    for status in ("online", "missing", "gone", "stopped"):
        workers.add_metric([status], sum(1 for worker in live.workers if worker.status == status))
    yield workers
    active = GaugeMetricFamily("celeriac_worker_active_tasks", "Tasks running on each online worker.", labels=["worker"])
    for worker in live.workers:
        if worker.is_online:
            active.add_metric([worker.hostname], worker.active)
    yield active


def refusal() -> Response | None:
    """Why this scrape is refused, or None: a bearer METRICS_TOKEN, or 127.0.0.1 when no token is set."""
    token = current_app.config.get("METRICS_TOKEN", os.environ.get("METRICS_TOKEN", ""))
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), str(token).encode()):
            return None
        return Response("Send 'Authorization: Bearer <METRICS_TOKEN>'.\n", 401,
                        {"WWW-Authenticate": "Bearer"}, content_type="text/plain")
    if request.remote_addr in LOCAL_ADDRESSES:
        return None
    return Response("Metrics are served to 127.0.0.1 only: set METRICS_TOKEN to scrape from elsewhere.\n", 403,
                    content_type="text/plain")


@bp.get("/metrics")
def metrics() -> Response:
    """Render every metric in the Prometheus text format, read from SQL and Redis now."""
    refused = refusal()
    if refused is not None:
        return refused
    registry = current_app.extensions.get("metrics_registry")
    if registry is None:
        registry = current_app.extensions["metrics_registry"] = CollectorRegistry(auto_describe=False)
        registry.register(ConsoleCollector())
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
