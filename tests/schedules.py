"""Schedules as tests write them: a row due when asked, its history, and row counts."""

from datetime import timedelta

from webapp.extensions import db
from webapp.models import Schedule, ScheduleRun, utcnow


def add_schedule(name: str = "nightly POs", job_kind: str = "pull_pending_pos", cron: str = "*/5 * * * *",
                 due_in: timedelta | None = timedelta(minutes=-1), enabled: bool = True, last_job_id: int | None = None) -> int:
    """A schedule row whose next run is ``due_in`` from now (negative: due); return its id."""
    schedule = Schedule(name=name, job_kind=job_kind, cron=cron, enabled=enabled, created_by="olga",
                        updated_by="olga", last_job_id=last_job_id,
                        next_run_at=None if due_in is None else (utcnow() + due_in).replace(second=0, microsecond=0))
    db.session.add(schedule)
    db.session.commit()
    return schedule.id


def count(model: type) -> int:
    """Rows of ``model``."""
    return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()


def runs_of(schedule_id: int) -> list[ScheduleRun]:
    """The history of a schedule, oldest first."""
    return list(db.session.execute(
        db.select(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id).order_by(ScheduleRun.id)).scalars())
