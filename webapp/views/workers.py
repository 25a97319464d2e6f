"""The workers & queues page: live workers, queue depths, recent throughput, ERP health; and search."""

from dataclasses import dataclass

from flask import Blueprint, render_template, request
from flask_login import login_required

from webapp.jobs.flow import running_shares, window_size
from webapp.jobs.kinds import KINDS
from webapp.jobs.search import search_all
from webapp.models import RECORD_STATES
from webapp.monitoring.task_stats import task_summaries, window_minutes
from webapp.monitoring.throughput import Minute, snapshot
from webapp.monitoring.worker_control import REPLY_SECONDS
from webapp.web.paging import page_number

bp = Blueprint("ops", __name__, url_prefix="/ops")

CHART_WIDTH, CHART_HEIGHT = 300, 80


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
        bars.append(
            Bar(
                minute,
                x=round(i * slot + 1, 1),
                width=round(slot - 2, 1),
                ok_y=round(CHART_HEIGHT - total, 1),
                ok_height=round(total - failed, 1),
                failed_y=round(CHART_HEIGHT - failed, 1),
                failed_height=failed,
            )
        )
    return bars


def panel_context() -> dict[str, object]:
    """Template variables of the panel fragment and of the page that includes it."""
    snap = snapshot()
    return {
        "snap": snap,
        "bars": chart_bars(snap.minutes),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "shares": running_shares(),
        "window_size": window_size(),
        "kinds": KINDS,
        "tasks": task_summaries(snap.now),
        "task_minutes": window_minutes(),
    }


@bp.get("/workers")
@login_required
def workers() -> str:
    """Render the workers & queues page (its panel reloads itself) and the worker controls."""
    return render_template("ops/workers.html", reply_seconds=REPLY_SECONDS, **panel_context())


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
