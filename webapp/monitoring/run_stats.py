"""Task-run durations and outcomes read from the SQL task log, for /metrics and the workers page."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement

from webapp.extensions import db, on_postgresql
from webapp.models import TaskRun

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


RECENT = timedelta(minutes=15)


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
