"""The JSON API of the schedules page (bearer token, like the rest of /api): the same checks and audit trail."""

from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request

from webapp import audit
from webapp.api.responses import iso, refuse
from webapp.extensions import db
from webapp.jobs import schedule_fires
from webapp.jobs.schedules import all_schedules, describe_cron, saved, validate
from webapp.models import Schedule, ScheduleRun, utcnow

bp = Blueprint("schedules", __name__, url_prefix="/schedules")

FIELDS = ("name", "job_kind", "cron", "enabled")
HISTORY_ROWS = 20
REFUSED = "the schedule was not accepted"


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    """A schedule as the API shows it: what it starts, when, and how its last fire went."""
    return {
        "id": schedule.id,
        "name": schedule.name,
        "job_kind": schedule.job_kind,
        "cron": schedule.cron,
        "cron_hint": describe_cron(schedule.cron),
        "enabled": schedule.enabled,
        "next_run_at": iso(schedule.next_run_at),
        "last_run_at": iso(schedule.last_run_at),
        "last_job_id": schedule.last_job_id,
        "last_outcome": schedule.last_outcome,
        "updated_by": schedule.updated_by,
        "updated_at": iso(schedule.updated_at),
    }


def run_json(run: ScheduleRun) -> dict[str, Any]:
    """One fire of a schedule: when, what triggered it, and the job it started (None if none)."""
    return {"at": iso(run.at), "trigger": run.trigger, "outcome": run.outcome, "job_id": run.job_id}


def find(schedule_id: int) -> Schedule:
    """The schedule, or a JSON 404 naming the id."""
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None:
        abort(404, description=f"There is no schedule #{schedule_id}.")
    return schedule


def read_body(schedule: Schedule | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON body's fields over ``schedule``'s current ones, checked as the pages check them (field → message)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body:
        return {}, {"body": f"send a JSON object with any of: {', '.join(FIELDS)}"}
    current: dict[str, Any] = {"enabled": True}
    if schedule is not None:
        current = {"name": schedule.name, "job_kind": schedule.job_kind, "cron": schedule.cron, "enabled": schedule.enabled}
    data = current | body
    values, errors = validate(data, schedule)
    if not isinstance(data["enabled"], bool):
        errors["enabled"] = "enabled: send true or false"
    # A misspelt field would otherwise be ignored while the call answers as if it had been applied.
    errors |= {field: f"{field}: not a field of a schedule (use {', '.join(FIELDS)})" for field in body if field not in FIELDS}
    return values | {"enabled": data["enabled"]}, errors


def store(schedule: Schedule, values: dict[str, Any], verb: str) -> tuple[Response, int] | None:
    """Set the fields, recompute the next run, audit and commit; a 400 if a concurrent save took the name."""
    schedule.name, schedule.job_kind, schedule.cron, schedule.enabled = (values[field] for field in FIELDS)
    schedule.changed_by(g.api_operator.username)
    schedule.next_run_at = schedule.next_after(utcnow()) if schedule.enabled else None
    db.session.add(schedule)
    paused = "" if schedule.enabled else " (paused)"
    audit.record(
        "schedule_change", f"{verb} schedule {schedule.name!r}: {schedule.job_kind} at {schedule.cron!r}{paused}", actor=g.api_operator
    )
    errors: dict[str, str] = {}
    if not saved(values, errors):
        return refuse(400, REFUSED, details=errors)
    return None


# strict_slashes=False: /api/schedules/ answers as /api/schedules does (a client that adds the slash
# gets the list, not a 404 that looks like a missing API).
@bp.get("", strict_slashes=False)
def list_schedules() -> Response:
    """Every schedule by name."""
    return jsonify(schedules=[schedule_json(schedule) for schedule in all_schedules()])


@bp.get("/<int:schedule_id>")
def get_schedule(schedule_id: int) -> Response:
    """One schedule and its last fires, newest first."""
    schedule = find(schedule_id)
    runs = db.session.execute(
        db.select(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id).order_by(ScheduleRun.id.desc()).limit(HISTORY_ROWS)
    ).scalars()
    return jsonify(schedule_json(schedule) | {"runs": [run_json(run) for run in runs]})


@bp.post("", strict_slashes=False)
def create_schedule() -> tuple[Response, int]:
    """Create a schedule from JSON {name, job_kind, cron, enabled}: 201 with it, or 400 naming each field."""
    values, errors = read_body(None)
    if errors:
        return refuse(400, REFUSED, details=errors)
    schedule = Schedule(created_by=g.api_operator.username)
    return store(schedule, values, "created") or (jsonify(schedule_json(schedule)), 201)


@bp.put("/<int:schedule_id>")
def update_schedule(schedule_id: int) -> tuple[Response, int]:
    """Change any of name, job_kind, cron and enabled (next run recomputed), or 400 naming each field."""
    schedule = find(schedule_id)
    values, errors = read_body(schedule)
    if errors:
        return refuse(400, REFUSED, details=errors)
    return store(schedule, values, "edited") or (jsonify(schedule_json(schedule)), 200)


@bp.delete("/<int:schedule_id>")
def delete_schedule(schedule_id: int) -> Response:
    """Delete a schedule and its history (the jobs it started stay)."""
    schedule = find(schedule_id)
    name = schedule.name
    db.session.delete(schedule)
    audit.record("schedule_change", f"deleted schedule {name!r}", actor=g.api_operator)
    db.session.commit()
    return jsonify(deleted=schedule_id, name=name)


@bp.post("/<int:schedule_id>/pause")
def pause_schedule(schedule_id: int) -> Response:
    """Pause a schedule: it fires no more until resumed."""
    schedule = find(schedule_id)
    schedule.pause(g.api_operator.username)
    audit.record("schedule_change", f"paused schedule {schedule.name!r}", actor=g.api_operator)
    db.session.commit()
    return jsonify(schedule_json(schedule))


@bp.post("/<int:schedule_id>/resume")
def resume_schedule(schedule_id: int) -> Response:
    """Resume a schedule from its next fire time after now."""
    schedule = find(schedule_id)
    schedule.resume(g.api_operator.username)
    audit.record("schedule_change", f"resumed schedule {schedule.name!r}", actor=g.api_operator)
    db.session.commit()
    return jsonify(schedule_json(schedule))


@bp.post("/<int:schedule_id>/run")
def run_schedule(schedule_id: int) -> tuple[Response, int]:
    """Fire a schedule now (skipped while its previous job runs): 202 with the job started, 200 if skipped."""
    name = find(schedule_id).name
    # Staged before firing, so the commit that starts the job (or records the skip) writes it too;
    # the outcome, known only afterwards, is then added to it.
    event = audit.record("schedule_change", f"ran schedule {name!r} now", actor=g.api_operator)
    run = schedule_fires.run_now(schedule_id, g.api_operator)
    if run is None:  # deleted meanwhile: run_now rolled back, the staged event with it
        abort(404, description=f"There is no schedule #{schedule_id}.")
    event.detail, event.job_id = f"ran schedule {name!r} now: {run.outcome}", run.job_id
    db.session.commit()
    schedule = db.session.get(Schedule, schedule_id)
    body = run_json(run) | {"schedule": schedule_json(schedule) if schedule is not None else None}
    return jsonify(body), 202 if run.job_id is not None else 200
