"""The dashboard page and its jobs table: rendered by the dashboard and again, with form errors, by a refused launch."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import current_app, render_template

from webapp.jobs.dispatch_status import dispatch_views
from webapp.jobs.kinds import KINDS
from webapp.jobs.listing import filtered_jobs, operator_names, status_counts
from webapp.jobs.progress import Summary, state_counts, summarize
from webapp.jobs.rounds import history_words, rounds_of
from webapp.models import JOB_STATUSES, Job, JobStatus, utcnow
from webapp.monitoring.throughput import Minute, throughput
from webapp.web.list_filters import job_filter
from webapp.web.paging import page_number

T = TypeVar("T")

JOBS_PER_PAGE = 25
SPARK_WIDTH, SPARK_HEIGHT = 150, 28


@dataclass(frozen=True)
class Sparkline:
    """Task runs finished per minute as an SVG polyline (server-drawn), with the numbers it draws."""

    minutes: list[Minute]
    points: str
    failed_points: str
    peak: int

    @property
    def finished(self) -> int:
        """Task runs finished over the line's minutes."""
        return sum(minute.finished for minute in self.minutes)

    @property
    def failed(self) -> int:
        """Task runs failed or lost over the line's minutes."""
        return sum(minute.failed for minute in self.minutes)


def sparkline(minutes: list[Minute]) -> Sparkline:
    """The minutes as points of two lines (all finished, failed) scaled so the busiest minute is the top."""
    peak = max((minute.finished for minute in minutes), default=0)
    step = SPARK_WIDTH / max(1, len(minutes) - 1)

    def line(values: list[int]) -> str:
        return " ".join(f"{i * step:.1f},{SPARK_HEIGHT - 1 - (SPARK_HEIGHT - 2) * v / (peak or 1):.1f}" for i, v in enumerate(values))

    return Sparkline(minutes, line([m.finished for m in minutes]), line([m.failed for m in minutes]), peak)


def durations(jobs: list[Job]) -> dict[int, float]:
    """Seconds each started job ran: to its end, or until now while it runs."""
    now = utcnow()
    return {job.id: ((job.finished_at or now) - job.started_at).total_seconds() for job in jobs if job.started_at}


def progress(jobs: list[Job]) -> dict[int, Summary]:
    """Counts, percent and rate of the page's active jobs (one query for all of them)."""
    active = [job for job in jobs if job.is_active]
    counts = state_counts([job.id for job in active])
    return {job.id: summarize(job, counts[job.id]) for job in active}


def shared(key: tuple[str | None, ...], read: Callable[[], T]) -> T:
    """``read()``, shared by every viewer for the fragment cache's second: the same for all of them,
    and a table polled by fifty operators then counts the jobs once a second, not fifty times."""
    return current_app.extensions["fragment_cache"].get_or_render(key, read)


def histories(jobs: list[Job]) -> dict[int, str | None]:
    """The rounds of the retried jobs on the page in one line each (one query): a job that succeeded
    on a retry still shows that its first run failed."""
    ended = rounds_of([job.id for job in jobs])
    return {job.id: history_words(job, ended[job.id]) for job in jobs if job.id in ended}


def table_context() -> dict[str, object]:
    """Template variables of the jobs table fragment: the filtered page, counts by status, throughput."""
    page, chosen = page_number(), job_filter()
    jobs, has_more = filtered_jobs(chosen, page, JOBS_PER_PAGE)
    return {
        "jobs": jobs,
        "progress": progress(jobs),
        "durations": durations(jobs),
        "page": page,
        "has_more": has_more,
        "kinds": KINDS,
        "statuses": JOB_STATUSES,
        "filter": chosen,
        "counts": shared(("jobs-by-status", chosen.kind, chosen.operator), lambda: status_counts(chosen)),
        "spark": shared(("task-runs-per-minute",), lambda: sparkline(throughput(utcnow()))),
        "spark_size": (SPARK_WIDTH, SPARK_HEIGHT),
        "dispatches": dispatch_views([job for job in jobs if job.status == JobStatus.QUEUED]),
        "histories": histories(jobs),
        "any_active": any(job.is_active for job in jobs),
    }


def render_index(
    upload_errors: list[str] | None = None, failed_kind: str | None = None, kept: dict[str, str] | None = None, repeats: bool = False
) -> str:
    """The home page; after a launch not started, its errors under its form's card, the form
    filled in again with what the operator typed (``kept``), and with ``repeats`` (keys given
    twice, nothing else wrong) a warning that offers to remove them and start."""
    return render_template(
        "dashboard/index.html",
        upload_errors=upload_errors or [],
        failed_kind=failed_kind,
        kept=kept or {},
        repeats=repeats,
        operators=operator_names(),
        **table_context(),
    )
