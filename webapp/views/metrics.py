"""Numbers read at request or scrape time (task-log aggregates, Redis live state) and the Prometheus /metrics."""

import hmac
import os
from collections.abc import Iterator, Sequence
from typing import Any

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from webapp.extensions import db
from webapp.models import JOB_STATUSES, RECORD_STATES, Job, JobRecord, utcnow
from webapp.monitoring.live import LiveState, live_state
from webapp.monitoring.run_stats import DURATION_BUCKETS, RECENT, Histogram, RunStats, run_stats

bp = Blueprint("metrics", __name__)

LOCAL_ADDRESSES = ("127.0.0.1", "::1")


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
    runs = GaugeMetricFamily("celeriac_task_runs_recent", f"Task runs finished in {window}, by task and state.", labels=["task", "state"])
    histograms: dict[str, Histogram] = {}
    for stats in rows:
        runs.add_metric([stats.task, stats.state], stats.count)
        if stats.state != "LOST":  # a lost run's "duration" is only how long until it was noticed
            histograms.setdefault(stats.task, Histogram()).add(stats)
    yield runs
    durations = GaugeHistogramMetricFamily(
        "celeriac_task_duration_seconds", f"Durations of task runs finished in {window}, by task.", labels=["task"]
    )
    for task, histogram in sorted(histograms.items()):
        buckets = [(f"{bound:g}", count) for bound, count in zip(DURATION_BUCKETS, histogram.buckets)]
        durations.add_metric([task], buckets + [("+Inf", histogram.count)], gsum_value=histogram.seconds)
    yield durations


def live_families(live: LiveState) -> Iterator[GaugeMetricFamily]:
    """Redis and broker reachability, queue depths and oldest ages, unacked messages, workers by status.

    A figure the broker cannot tell (RabbitMQ without its management API: ages, unacked) is left
    out rather than reported as 0.
    """
    yield GaugeMetricFamily("celeriac_redis_up", "1 if Redis answered this scrape.", value=0 if live.error else 1)
    broker_up = GaugeMetricFamily("celeriac_broker_up", "1 if the broker's queues could be read this scrape.", labels=["broker"])
    broker_up.add_metric([live.broker], 0 if (live.broker_error or (live.broker == "redis" and live.error)) else 1)
    yield broker_up
    if live.queues:
        yield from queue_families(live)
    if live.error:
        return
    workers = GaugeMetricFamily("celeriac_workers", "Workers by heartbeat status.", labels=["status"])
    for status in ("online", "missing", "gone", "stopped"):
        workers.add_metric([status], sum(1 for worker in live.workers if worker.status == status))
    yield workers
    active = GaugeMetricFamily("celeriac_worker_active_tasks", "Tasks running on each online worker.", labels=["worker"])
    for worker in live.workers:
        if worker.is_online:
            active.add_metric([worker.hostname], worker.active)
    yield active


def queue_families(live: LiveState) -> Iterator[GaugeMetricFamily]:
    """Depth of each queue, its oldest message's age where known, and the unacknowledged count where known."""
    depth = GaugeMetricFamily("celeriac_queue_messages", "Messages waiting in each queue.", labels=["queue"])
    age = GaugeMetricFamily(
        "celeriac_queue_oldest_message_age_seconds", "Age of the oldest waiting message of each queue (0 when empty).", labels=["queue"]
    )
    for queue in live.queues:
        depth.add_metric([queue.name], queue.depth)
        if queue.age_known and (queue.depth == 0 or queue.oldest_age_seconds is not None):
            age.add_metric([queue.name], queue.oldest_age_seconds or 0.0)
    yield depth
    yield age
    if live.unacked is not None:
        yield GaugeMetricFamily("celeriac_unacked_messages", "Messages delivered to workers and not acknowledged yet.", value=live.unacked)


def refusal() -> Response | None:
    """Why this scrape is refused, or None: a bearer METRICS_TOKEN, or 127.0.0.1 where METRICS_LOCAL_SCRAPE opens it.

    Behind a proxy on the same host every caller is 127.0.0.1, so local scraping without a token is
    off unless a deploy opens it on purpose.
    """
    token = current_app.config.get("METRICS_TOKEN", os.environ.get("METRICS_TOKEN", ""))
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), str(token).encode()):
            return None
        return Response("Send 'Authorization: Bearer <METRICS_TOKEN>'.\n", 401, {"WWW-Authenticate": "Bearer"}, content_type="text/plain")
    if current_app.config.get("METRICS_LOCAL_SCRAPE") and request.remote_addr in LOCAL_ADDRESSES:
        return None
    return Response(
        "Set METRICS_TOKEN and scrape with 'Authorization: Bearer <METRICS_TOKEN>' "
        "(or METRICS_LOCAL_SCRAPE=1 to let 127.0.0.1 scrape without it).\n",
        403,
        content_type="text/plain",
    )


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
