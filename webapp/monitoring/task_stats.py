"""Runs of each task over the last minutes, from the SQL task log: how many ended how, and how long they took.

Flower's per-task view, read from our own log (one GROUP BY bounded by the finished_at index)
rather than from worker events, so it survives restarts and covers every worker.
"""

from dataclasses import dataclass, field
from datetime import datetime

from webapp.monitoring.run_stats import RECENT, Histogram, run_stats

FAILED = ("FAILURE", "LOST")


@dataclass
class TaskSummary:
    """One task's runs that finished in the window: counts by state, and durations (lost runs excluded)."""

    task: str
    states: dict[str, int] = field(default_factory=dict)
    durations: Histogram = field(default_factory=Histogram)

    @property
    def short_name(self) -> str:
        """The task's name without its module: fetch_po."""
        return self.task.rsplit(".", 1)[-1]

    @property
    def runs(self) -> int:
        """Every finished run, whatever its state."""
        return sum(self.states.values())

    @property
    def failed(self) -> int:
        """Runs that failed or whose worker died."""
        return sum(self.states.get(state, 0) for state in FAILED)

    @property
    def mean_seconds(self) -> float | None:
        """Mean duration of the runs with one."""
        return self.durations.seconds / self.durations.count if self.durations.count else None


def task_summaries(now: datetime) -> list[TaskSummary]:
    """Each task that finished a run in the last RECENT, busiest first."""
    summaries: dict[str, TaskSummary] = {}
    for stats in run_stats(now - RECENT):
        summary = summaries.setdefault(stats.task, TaskSummary(stats.task))
        summary.states[stats.state] = summary.states.get(stats.state, 0) + stats.count
        if stats.state != "LOST":  # a lost run's end is when the sweeper noticed, not when it stopped
            summary.durations.add(stats)
    return sorted(summaries.values(), key=lambda summary: (-summary.runs, summary.task))


def window_minutes() -> int:
    """The window's length in minutes, for the page."""
    return int(RECENT.total_seconds() // 60)
