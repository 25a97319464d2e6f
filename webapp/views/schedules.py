"""Schedules page: crontab schedules that pull pending POs or refresh BOMs, edited by operators."""

import logging

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp import audit
from webapp.extensions import db
from webapp.jobs import schedule_fires
from webapp.jobs.schedules import all_schedules, describe_cron, saved, validate
from webapp.models import Schedule, ScheduleRun, utcnow
from webapp.models.schedules import SCHEDULED_JOBS

bp = Blueprint("schedules", __name__, url_prefix="/schedules")
bp.add_app_template_filter(describe_cron, "cron_hint")
log = logging.getLogger(__name__)

HISTORY_ROWS = 50


def read_form(schedule: Schedule | None) -> tuple[dict[str, str], dict[str, str]]:
    """The submitted form's name, job, cron and 'start paused', and what is wrong with each."""
    values, errors = validate(request.form, schedule)
    values["paused"] = request.form.get("paused", "")
    return values, errors


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
