"""Schedules page: crontab schedules that pull pending POs or refresh BOMs, edited by operators."""

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from webapp import audit, schedule_fires
from webapp.extensions import db
from webapp.models import Schedule, ScheduleRun, utcnow
from webapp.models.schedules import SCHEDULED_JOBS, CronError, parse_cron

bp = Blueprint("schedules", __name__, url_prefix="/schedules")
log = logging.getLogger(__name__)

DAY_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
MONTH_NAMES = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HISTORY_ROWS = 50


def spans(values: Iterable[int], show: Callable[[int], str] = str) -> str:
    """Sorted values with runs folded: {1, 2, 3, 5} → '1–3, 5'."""
    ordered = sorted(values)
    parts: list[str] = []
    start = ordered[0]
    for previous, value in zip(ordered, ordered[1:] + [None]):
        if value != previous + 1:
            parts.append(show(start) if start == previous else f"{show(start)}–{show(previous)}")
            start = value
    return ", ".join(parts)


@bp.app_template_filter("cron_hint")
def describe_cron(text: str) -> str:
    """A cron expression in words, e.g. 'at 06:30 on Mon–Fri (UTC)'; '' if it is not valid."""
    try:
        schedule = parse_cron(text)
    except CronError:
        return ""
    minute, hour, day, month, weekday = text.split()
    if hour == "*":
        step = re.fullmatch(r"\*/(\d+)", minute)
        when = ("every minute" if minute == "*" else f"every {step[1]} minutes" if step
                else f"every hour at minute{'s' if len(schedule.minute) > 1 else ''} {spans(schedule.minute)}")
    else:
        times = [f"{h:02d}:{m:02d}" for h in sorted(schedule.hour) for m in sorted(schedule.minute)]
        when = ("at " + ", ".join(times) if len(times) <= 4
                else f"at minutes {spans(schedule.minute)} past hours {spans(schedule.hour)}")
    words = [when]
    if day != "*":
        words.append(f"on day {spans(schedule.day_of_month)} of the month")
    if weekday != "*":
        words.append(("if it is a " if day != "*" else "on ") + spans(schedule.day_of_week, DAY_NAMES.__getitem__))
    if day == "*" and weekday == "*" and hour != "*":
        words.append("every day")
    if month != "*":
        words.append("in " + spans(schedule.month_of_year, MONTH_NAMES.__getitem__))
    return " ".join(words) + " (UTC)"


def read_form(schedule: Schedule | None) -> tuple[dict[str, str], dict[str, str]]:
    """The submitted form's name, job, cron and 'start paused', and what is wrong with each."""
    values, errors = validate(request.form, schedule)
    values["paused"] = request.form.get("paused", "")
    return values, errors


def field_text(data: Mapping[str, Any], field: str) -> str:
    """A submitted field as text ('' when it is missing or not text, which validate() then refuses)."""
    value = data.get(field, "")
    return value if isinstance(value, str) else ""


def validate(data: Mapping[str, Any], schedule: Schedule | None) -> tuple[dict[str, str], dict[str, str]]:
    """A schedule's name, job and cron, tidied, and what is wrong with each (field → message naming it).

    :param data: the submitted fields (a form or a JSON object).
    :param schedule: the schedule being edited (its own name is no clash), or None for a new one.
    """
    values = {"name": field_text(data, "name").strip(), "job_kind": field_text(data, "job_kind"),
              "cron": " ".join(field_text(data, "cron").split())}
    errors: dict[str, str] = {}
    name, cron = values["name"], values["cron"]
    if not name or len(name) > 80:
        errors["name"] = "name: give the schedule a name of 1 to 80 characters"
    elif db.session.execute(db.select(Schedule.id).where(Schedule.name == name,
                                                         Schedule.id != (schedule.id if schedule else -1))).first():
        errors["name"] = f"name: a schedule named {name!r} already exists"
    if values["job_kind"] not in SCHEDULED_JOBS:
        errors["job_kind"] = "job: choose " + " or ".join(job.label for job in SCHEDULED_JOBS.values())
    if not cron or len(cron) > 120:
        errors["cron"] = "cron: enter 5 fields of at most 120 characters, e.g. */15 * * * * (every 15 minutes)"
    else:
        try:
            parse_cron(cron)
        except CronError as exc:
            errors["cron"] = str(exc)
    return values, errors


def all_schedules() -> list[Schedule]:
    """Every schedule by name, with its last job (for its status)."""
    query = db.select(Schedule).options(selectinload(Schedule.last_job)).order_by(Schedule.name)
    return list(db.session.execute(query).scalars())


def render_index(values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> str:
    """The schedules page, with the create form's values and errors."""
    return render_template("schedules/index.html", schedules=all_schedules(), jobs=SCHEDULED_JOBS,
                           values=values or {"cron": "*/15 * * * *"}, errors=errors or {})


def render_edit(schedule: Schedule, values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> str:
    """The edit page of one schedule, with its history of fires."""
    runs = db.session.execute(db.select(ScheduleRun).where(ScheduleRun.schedule_id == schedule.id)
                              .order_by(ScheduleRun.id.desc()).limit(HISTORY_ROWS)).scalars()
    values = values or {"name": schedule.name, "job_kind": schedule.job_kind, "cron": schedule.cron}
    return render_template("schedules/edit.html", schedule=schedule, runs=list(runs), jobs=SCHEDULED_JOBS,
                           values=values, errors=errors or {})


@bp.get("/")
@login_required
def index() -> str:
    """Render the schedules table and the form that creates one."""
    return render_index()


@bp.get("/table")
@login_required
def table() -> str:
    """Render the schedules table fragment (polled: last and next runs move as beat fires)."""
    return render_template("schedules/_table.html", schedules=all_schedules())


@bp.post("/")
@login_required
def create() -> Response | tuple[str, int]:
    """Create a schedule, or re-render the page with what was wrong (400, nothing written)."""
    values, errors = read_form(None)
    if not errors:
        schedule = Schedule(name=values["name"], job_kind=values["job_kind"], cron=values["cron"],
                            created_by=current_user.username, enabled="paused" not in request.form)
        schedule.changed_by(current_user.username)
        schedule.next_run_at = schedule.next_after(utcnow()) if schedule.enabled else None
        db.session.add(schedule)
        audit.record("schedule_change", f"created schedule {schedule.name!r}: {schedule.job_kind} at {schedule.cron!r}")
        if saved(values, errors):
            flash(f"Schedule {schedule.name!r} created.", "success")
            return redirect(url_for("schedules.index"))
    return render_index(values, errors), 400


@bp.get("/<int:schedule_id>")
@login_required
def edit(schedule_id: int) -> str:
    """Render the edit form of a schedule and its history of fires."""
    return render_edit(db.get_or_404(Schedule, schedule_id))


@bp.post("/<int:schedule_id>")
@login_required
def update(schedule_id: int) -> Response | tuple[str, int]:
    """Save a schedule's name, job and cron (next run recomputed), or re-render with what was wrong (400)."""
    schedule = db.get_or_404(Schedule, schedule_id)
    values, errors = read_form(schedule)
    if not errors:
        schedule.name, schedule.job_kind, schedule.cron = values["name"], values["job_kind"], values["cron"]
        schedule.changed_by(current_user.username)
        schedule.next_run_at = schedule.next_after(utcnow()) if schedule.enabled else None
        audit.record("schedule_change", f"edited schedule {schedule.name!r}: {schedule.job_kind} at {schedule.cron!r}")
        if saved(values, errors):
            flash(f"Schedule {schedule.name!r} saved.", "success")
            return redirect(url_for("schedules.index"))
    return render_edit(schedule, values, errors), 400


def saved(values: dict[str, str], errors: dict[str, str]) -> bool:
    """Commit; a name taken by a concurrent save becomes a form error instead of a 500."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        errors["name"] = f"name: a schedule named {values['name']!r} already exists"
        return False
    return True


@bp.post("/<int:schedule_id>/pause")
@login_required
def pause(schedule_id: int) -> Response:
    """Pause a schedule: it fires no more until resumed."""
    schedule = db.get_or_404(Schedule, schedule_id)
    schedule.pause(current_user.username)
    audit.record("schedule_change", f"paused schedule {schedule.name!r}")
    db.session.commit()
    flash(f"Schedule {schedule.name!r} paused.", "success")
    return redirect(url_for("schedules.index"))


@bp.post("/<int:schedule_id>/resume")
@login_required
def resume(schedule_id: int) -> Response:
    """Resume a schedule from its next fire time after now."""
    schedule = db.get_or_404(Schedule, schedule_id)
    schedule.resume(current_user.username)
    audit.record("schedule_change", f"resumed schedule {schedule.name!r}")
    db.session.commit()
    flash(f"Schedule {schedule.name!r} resumed.", "success")
    return redirect(url_for("schedules.index"))


@bp.post("/<int:schedule_id>/run")
@login_required
def run_now(schedule_id: int) -> Response:
    """Fire a schedule now (skipped while its previous job still runs); its next run is unchanged."""
    schedule = db.get_or_404(Schedule, schedule_id)
    run = schedule_fires.run_now(schedule.id, current_user)
    if run is not None:
        audit.record("schedule_change", f"ran schedule {schedule.name!r} now: {run.outcome}", run.job_id)
        db.session.commit()
        flash(f"{schedule.name} · {run.outcome}", "success" if run.job_id else "info")
    return redirect(url_for("schedules.index"))


@bp.post("/<int:schedule_id>/delete")
@login_required
def delete(schedule_id: int) -> Response:
    """Delete a schedule and its history (the jobs it started stay)."""
    schedule = db.get_or_404(Schedule, schedule_id)
    name = schedule.name
    db.session.delete(schedule)
    audit.record("schedule_change", f"deleted schedule {name!r}")
    db.session.commit()
    log.info("schedule %r (#%s) deleted by %s", name, schedule_id, current_user.username)
    flash(f"Schedule {name!r} deleted.", "success")
    return redirect(url_for("schedules.index"))
