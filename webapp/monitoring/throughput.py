"""The workers page's numbers: finished and failed records a minute, the ERP's health, one snapshot of it all."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from flask import current_app

from webapp.extensions import db
from webapp.models import TaskRun, utcnow
from webapp.monitoring.live import LiveState, live_state
from webapp.monitoring.run_stats import Histogram, run_stats

FAILED_RUN_STATES = ("FAILURE", "LOST")


ERP_ERROR_STATES = ("RETRY", "FAILURE")


ERP_WINDOW = timedelta(minutes=5)


CHART_MINUTES = 15


@dataclass
class Minute:
    """Task runs that finished in one minute."""

    start: datetime
    finished: int
    failed: int


def throughput(now: datetime, minutes: int = CHART_MINUTES) -> list[Minute]:
    """Finished and failed runs per minute, the current minute last (one query, two counts per minute)."""
    first = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    edges = [first + timedelta(minutes=i) for i in range(minutes + 1)]
    failed = TaskRun.state.in_(FAILED_RUN_STATES)
    columns = []
    for low, high in pairwise(edges):
        inside = db.and_(TaskRun.finished_at >= low, TaskRun.finished_at < high)
        columns += [db.func.count().filter(inside), db.func.count().filter(db.and_(inside, failed))]
    row = db.session.execute(db.select(*columns).where(TaskRun.finished_at >= first)).one()
    return [Minute(start, row[2 * i], row[2 * i + 1]) for i, start in enumerate(edges[:-1])]


@dataclass
class ErpHealth:
    """The ERP as the fetch tasks saw it over the last few minutes."""

    runs: int
    errors: int
    p50: float | None
    p95: float | None
    max_seconds: float | None
    window_minutes: int

    @property
    def error_rate(self) -> float | None:
        """Share of finished fetch runs that retried or failed."""
        return self.errors / self.runs if self.runs else None

    @property
    def status(self) -> str:
        """idle (no fetches), healthy, degraded (at least 10 % errors) or failing (at least 50 %)."""
        rate = self.error_rate
        if rate is None:
            return "idle"
        return "failing" if rate >= 0.5 else "degraded" if rate >= 0.1 else "healthy"


def fetch_task_names() -> list[str]:
    """The tasks routed to the fetch queue: the ones that call the ERP."""
    routes = current_app.extensions["celery"].conf.task_routes
    routes = routes if isinstance(routes, dict) else {}
    return sorted(name for name, route in routes.items() if isinstance(route, dict) and route.get("queue") == "fetch")


def erp_health(now: datetime) -> ErpHealth:
    """Runs, error rate (RETRY + FAILURE of all finished) and p50/p95 duration of the fetch tasks."""
    rows = run_stats(now - ERP_WINDOW, fetch_task_names())
    histogram = Histogram()
    for stats in rows:
        if stats.state != "LOST":
            histogram.add(stats)
    return ErpHealth(
        runs=sum(stats.count for stats in rows),
        errors=sum(stats.count for stats in rows if stats.state in ERP_ERROR_STATES),
        p50=histogram.quantile(0.5),
        p95=histogram.quantile(0.95),
        max_seconds=histogram.max_seconds if histogram.count else None,
        window_minutes=int(ERP_WINDOW.total_seconds() // 60),
    )


@dataclass
class Snapshot:
    """Everything the workers page shows, read at one moment."""

    now: datetime
    live: LiveState
    minutes: list[Minute]
    erp: ErpHealth

    @property
    def finished(self) -> int:
        """Runs finished in the chart's window."""
        return sum(minute.finished for minute in self.minutes)

    @property
    def failed(self) -> int:
        """Runs failed or lost in the chart's window."""
        return sum(minute.failed for minute in self.minutes)

    @property
    def failure_rate(self) -> float | None:
        """Failed share of the finished runs in the chart's window."""
        return self.failed / self.finished if self.finished else None


def snapshot() -> Snapshot:
    """Read Redis (workers, queues) and the SQL task log (throughput, ERP health) now."""
    now = utcnow()
    return Snapshot(now, live_state(), throughput(now), erp_health(now))
