"""Scheduled jobs: crontab schedules kept in SQL (UTC), and the history of their fires."""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from celery.schedules import crontab
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.jobs import SCHEDULE_INPUT_PREFIX, utcnow


@dataclass(frozen=True)
class ScheduledJob:
    """A job a schedule can start: its label and the (kind, source) that launch_job takes."""

    name: str
    label: str
    kind: str
    source: str


SCHEDULED_JOBS: dict[str, ScheduledJob] = {
    job.name: job
    for job in (
        ScheduledJob("pull_pending_pos", "Pull pending POs", "purchase_orders", "pending"),
        ScheduledJob("refresh_boms", "Refresh BOMs", "bills_of_materials", "erp_products"),
    )
}


@dataclass(frozen=True)
class CronField:
    """One of the five fields of a cron expression, with its crontab() argument and range."""

    label: str
    argument: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i


CRON_FIELDS = (
    CronField("minute", "minute", 0, 59),
    CronField("hour", "hour", 0, 23),
    CronField("day of month", "day_of_month", 1, 31),
    CronField("month", "month_of_year", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    CronField("day of week", "day_of_week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
CRON_ITEM = re.compile(r"^(?:(\*)|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/(\w*))?$")
# Every calendar pattern of days, months and weekdays repeats within 28 years (until 2100).
HORIZON_DAYS = 29 * 366


class CronError(ValueError):
    """A cron expression that cannot be used; the message names the field and the problem."""


def cron_value(field: CronField, text: str) -> int:
    """One number or name of a field, checked against the field's range."""
    if text.isdigit():
        value = int(text)
    elif text in field.names:
        value = field.low + field.names.index(text)
    else:
        named = f" or a name ({field.names[0]}–{field.names[-1]})" if field.names else ""
        raise CronError(f"{field.label}: {text!r} is not a number{named}")
    if not field.low <= value <= field.high:
        extra = " (0 = Sunday)" if field.argument == "day_of_week" else ""
        raise CronError(f"{field.label}: {value} is out of range {field.low}–{field.high}{extra}")
    return value


def cron_item(field: CronField, item: str) -> str:
    """One comma-separated item ('*', '5', '1-5', '*/15', '10/20', '9-17/2') as crontab() reads it."""
    match = CRON_ITEM.match(item)
    if match is None:
        raise CronError(f"{field.label}: {item!r} is not understood (use e.g. *, 5, 1-5, */15 or 1,15)")
    star, first, last, step = match.groups()
    if step is not None and not (step.isdigit() and int(step) >= 1):
        raise CronError(f"{field.label}: the step in {item!r} must be a whole number of at least 1")
    if star:
        return item
    low = cron_value(field, first)
    high = cron_value(field, last) if last is not None else (field.high if step else low)
    if high < low:
        raise CronError(f"{field.label}: the range {item!r} runs backwards")
    return f"{low}-{high}/{step}" if step else f"{low}-{high}"


def parse_cron(text: str) -> crontab:
    """Read a 5-field cron expression (minute hour day-of-month month day-of-week), in UTC.

    When both day of month and day of week are restricted, a day must match both, as in
    Celery's crontab ('0 9 1-7 * mon' is the first Monday of each month).
    """
    parts = text.lower().split()
    if len(parts) != len(CRON_FIELDS):
        raise CronError(f"cron: expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}")
    arguments = {field.argument: ",".join(cron_item(field, item) for item in part.split(",")) for field, part in zip(CRON_FIELDS, parts)}
    try:
        schedule = crontab(**arguments)
    except ValueError:  # crontab() refuses a day of month that none of the months has
        raise CronError("day of month: no month given has that day (e.g. 30 February)") from None
    if next_fire(schedule, datetime(2000, 1, 1)) is None:
        raise CronError("day of month: no date matches this day, month and day of week (e.g. 30 February)")
    return schedule


def day_matches(schedule: crontab, day: date) -> bool:
    """True when ``day`` is a day on which ``schedule`` fires (isoweekday 7 is cron's 0, Sunday)."""
    return day.month in schedule.month_of_year and day.day in schedule.day_of_month and day.isoweekday() % 7 in schedule.day_of_week


def next_fire(schedule: crontab, after: datetime) -> datetime | None:
    """The first minute strictly after ``after`` (naive UTC) that ``schedule`` matches; None if none."""
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    times = sorted(time(hour, minute) for hour in schedule.hour for minute in schedule.minute)
    day = start.date()
    for _ in range(HORIZON_DAYS):
        if day_matches(schedule, day):
            earliest = start.time() if day == start.date() else time(0, 0)
            for moment in times:
                if moment >= earliest:
                    return datetime.combine(day, moment)
        day += timedelta(days=1)
    return None


class Schedule(db.Model):
    """A crontab schedule (UTC) that starts one kind of job; beat reads it from SQL every tick."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_enabled_next_run_at", "enabled", "next_run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    job_kind: Mapped[str] = mapped_column(String(32))
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(32), default="UTC")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    last_outcome: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(80))
    updated_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    last_job = relationship("Job")

    @property
    def job(self) -> ScheduledJob:
        """What this schedule starts."""
        return SCHEDULED_JOBS[self.job_kind]

    @property
    def job_input_name(self) -> str:
        """The input name of the jobs it starts, shown in the jobs list."""
        return f"{SCHEDULE_INPUT_PREFIX}{self.name}"

    def next_after(self, moment: datetime) -> datetime | None:
        """When the schedule fires next after ``moment``."""
        return next_fire(parse_cron(self.cron), moment)

    def changed_by(self, username: str | None) -> None:
        """Record who changed the schedule, and when."""
        self.updated_by = username
        self.updated_at = utcnow()

    def pause(self, username: str | None) -> None:
        """Stop firing until resumed."""
        self.enabled = False
        self.next_run_at = None
        self.changed_by(username)

    def resume(self, username: str | None) -> None:
        """Fire again from the next time due after now (fires missed while paused are not made up)."""
        self.enabled = True
        self.next_run_at = self.next_after(utcnow())
        self.changed_by(username)


class ScheduleRun(db.Model):
    """One fire of a schedule: the job it started, or why it started none."""

    __tablename__ = "schedule_runs"
    __table_args__ = (Index("ix_schedule_runs_schedule_id_id", "schedule_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    trigger: Mapped[str] = mapped_column(String(120))
    outcome: Mapped[str] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
