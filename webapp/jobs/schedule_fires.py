"""Schedule fires: beat's tick (tasks.schedules) reads the schedules from SQL and starts the due ones.

Every tick reads the ``schedules`` table, so a schedule created, edited, paused or resumed on
the dashboard applies from the next tick, without restarting beat. A due schedule is claimed by
one conditional UPDATE (its ``next_run_at`` must still be the value the tick read), so two beats
or a slow tick overlapping the next can never fire it twice. A schedule whose previous job is
still queued or running records a skip instead of starting another job. Fires missed while beat
was down collapse into one run: the new ``next_run_at`` is the next fire time after now, never
a backlog of past times.
"""

import logging
from datetime import datetime

from webapp.extensions import db
from webapp.jobs.launch import launch_job
from webapp.models import ACTIVE_JOB_STATUSES, Job, Operator, Schedule, ScheduleRun, utcnow

log = logging.getLogger(__name__)

BEAT = "schedule"  # the trigger recorded for fires of the schedule itself


def due_schedules(now: datetime) -> list[tuple[int, datetime]]:
    """(id, next_run_at) of the enabled schedules due at ``now``, oldest first."""
    rows = db.session.execute(
        db.select(Schedule.id, Schedule.next_run_at)
        .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
        .order_by(Schedule.next_run_at, Schedule.id)
    ).all()
    db.session.rollback()  # end the read before claiming, so SQLite can take its write lock
    return [(schedule_id, due_at) for schedule_id, due_at in rows]


def fire_due(now: datetime | None = None) -> list[str]:
    """Claim and fire each due schedule; a schedule another tick claimed first is left alone."""
    now = now or utcnow()
    outcomes = []
    for schedule_id, due_at in due_schedules(now):
        try:
            if claim(schedule_id, due_at, now):
                outcomes.append(summary(fire(schedule_id, now, BEAT)))
        except Exception as exc:
            db.session.rollback()
            log.exception("schedule %s could not fire", schedule_id)
            run = record_failure(schedule_id, due_at, now, exc)
            if run is not None:
                outcomes.append(summary(run))
    return outcomes


def summary(run: ScheduleRun) -> str:
    """'<schedule name>: <outcome>', as the beat task returns it."""
    return f"{db.session.get(Schedule, run.schedule_id).name}: {run.outcome}"


def claim(schedule_id: int, due_at: datetime, now: datetime) -> bool:
    """Move the schedule's next_run_at on, only if it is still ``due_at``; True if this caller won.

    The transaction stays open on success: fire() commits the claim together with the job.
    """
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None:
        return False
    result = db.session.execute(
        db.update(Schedule)
        .where(Schedule.id == schedule_id, Schedule.enabled.is_(True), Schedule.next_run_at == due_at)
        .values(next_run_at=schedule.next_after(now), last_run_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        return False
    return True


def run_now(schedule_id: int, operator: Operator) -> ScheduleRun | None:
    """Fire the schedule at once for ``operator`` (next_run_at unchanged); None if it is gone."""
    now = utcnow()
    # Writing the row first takes its lock (a row lock on PostgreSQL, the write lock on SQLite),
    # so a tick firing the same schedule at this moment waits, then sees this job as running.
    result = db.session.execute(
        db.update(Schedule).where(Schedule.id == schedule_id).values(last_run_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        return None
    return fire(schedule_id, now, f"run now by {operator.username}", operator)


def running_job_id(schedule: Schedule) -> int | None:
    """The schedule's previous job if it is still queued or running.

    Matching the input name as well as ``last_job_id`` covers the moment between the commit
    that starts a job and the one that records it on the schedule.
    """
    return db.session.execute(
        db.select(Job.id)
        .where(Job.status.in_(ACTIVE_JOB_STATUSES),
               db.or_(Job.id == schedule.last_job_id, Job.input_name == schedule.job_input_name))
        .order_by(Job.id.desc()).limit(1)
    ).scalar()


def fire(schedule_id: int, now: datetime, trigger: str, operator: Operator | None = None) -> ScheduleRun:
    """Start the schedule's job, or skip while its previous job runs; record the outcome."""
    schedule = db.session.get(Schedule, schedule_id, populate_existing=True)
    busy = running_job_id(schedule)
    if busy is not None:
        return record(schedule, now, trigger, f"skipped: job #{busy} still running", None)
    job = launch_job(schedule.job.kind, schedule.job.source, [], operator, input_name=schedule.job_input_name)
    return record(schedule, now, trigger, f"started job #{job.id}", job.id)


def record(schedule: Schedule, now: datetime, trigger: str, outcome: str, job_id: int | None) -> ScheduleRun:
    """Keep the outcome on the schedule and add its history row; commit; return the row."""
    schedule.last_outcome = outcome
    if job_id is not None:
        schedule.last_job_id = job_id
    run = ScheduleRun(schedule_id=schedule.id, at=now, trigger=trigger, outcome=outcome, job_id=job_id)
    db.session.add(run)
    db.session.commit()
    log.info("schedule %r (%s): %s", schedule.name, trigger, outcome)
    return run


def record_failure(schedule_id: int, due_at: datetime, now: datetime, exc: Exception) -> ScheduleRun | None:
    """Count a fire that raised as this fire's outcome (it runs again at its next time, not every tick)."""
    try:
        if not claim(schedule_id, due_at, now):
            return None
        schedule = db.session.get(Schedule, schedule_id, populate_existing=True)
        return record(schedule, now, BEAT, f"failed: {type(exc).__name__}: {exc}"[:2000], None)
    except Exception:
        db.session.rollback()
        log.exception("schedule %s: the failure could not be recorded either", schedule_id)
        return None
