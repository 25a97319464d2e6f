"""The workers & queues page: live workers, queue depths, recent throughput, ERP health; and search."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from flask import Blueprint, current_app, render_template, request
from flask_login import login_required

from webapp.extensions import db
from webapp.jobs.flow import running_shares, window_size
from webapp.jobs.kinds import KINDS
from webapp.views.metrics import Histogram, LiveState, live_state, run_stats
from webapp.models import RECORD_STATES, TaskRun, utcnow
from webapp.web.paging import page_number
from webapp.jobs.search import search_all

bp = Blueprint("ops", __name__, url_prefix="/ops")

FAILED_RUN_STATES = ("FAILURE", "LOST")
ERP_ERROR_STATES = ("RETRY", "FAILURE")
ERP_WINDOW = timedelta(minutes=5)
CHART_MINUTES = 15
CHART_WIDTH, CHART_HEIGHT = 300, 80


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
        p50=histogram.quantile(0.5), p95=histogram.quantile(0.95),
        max_seconds=histogram.max_seconds if histogram.count else None,
        window_minutes=int(ERP_WINDOW.total_seconds() // 60),
    )


@dataclass
class Bar:
    """One minute of the throughput chart, in SVG user units (y grows downwards)."""

    minute: Minute
    x: float
    width: float
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float


def chart_bars(minutes: list[Minute]) -> list[Bar]:
    """Stacked bars (failed at the bottom) scaled so the busiest minute fills the chart."""
    peak = max((minute.finished for minute in minutes), default=0) or 1
    slot = CHART_WIDTH / max(1, len(minutes))
    bars = []
    for i, minute in enumerate(minutes):
        total = round(CHART_HEIGHT * minute.finished / peak, 1)
        failed = round(CHART_HEIGHT * minute.failed / peak, 1)
        bars.append(Bar(minute, x=round(i * slot + 1, 1), width=round(slot - 2, 1), ok_y=round(CHART_HEIGHT - total, 1),
                        ok_height=round(total - failed, 1), failed_y=round(CHART_HEIGHT - failed, 1), failed_height=failed))
    return bars


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


def panel_context() -> dict[str, object]:
    """Template variables of the panel fragment and of the page that includes it."""
    snap = snapshot()
    return {"snap": snap, "bars": chart_bars(snap.minutes), "chart_width": CHART_WIDTH, "chart_height": CHART_HEIGHT,
            "shares": running_shares(), "window_size": window_size(), "kinds": KINDS}


@bp.get("/workers")
@login_required
def workers() -> str:
    """Render the workers & queues page (its panel reloads itself)."""
    return render_template("ops/workers.html", **panel_context())


@bp.get("/workers/panel")
@login_required
def panel() -> str:
    """Render the workers & queues panel fragment (reloads itself every 5 s)."""
    return render_template("ops/_panel.html", **panel_context())


@bp.get("/search")
@login_required
def search() -> str:
    """Render what ?q= (record key, job id, task id) and ?state= find, 50 records a page."""
    page = page_number()
    state = request.args.get("state") if request.args.get("state") in RECORD_STATES else None
    results = search_all(request.args.get("q", ""), state, page)
    return render_template("ops/search.html", results=results, states=RECORD_STATES, kinds=KINDS)
