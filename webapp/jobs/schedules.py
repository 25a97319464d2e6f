"""Schedules as operators write them: checked the same way from the page and the API, saved, and told in words."""

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Schedule
from webapp.models.schedules import SCHEDULED_JOBS, CronError, parse_cron
from webapp.plurals import counted

DAY_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
MONTH_NAMES = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


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


def describe_cron(text: str) -> str:
    """A cron expression in words, e.g. 'at 06:30 on Mon–Fri (UTC)'; '' if it is not valid."""
    try:
        schedule = parse_cron(text)
    except CronError:
        return ""
    minute, hour, day, month, weekday = text.split()
    if hour == "*":
        step = re.fullmatch(r"\*/(\d+)", minute)
        when = (
            "every minute"
            if minute == "*"
            else f"every {counted(int(step[1]), 'minute')}"
            if step
            else f"every hour at minute{'s' if len(schedule.minute) > 1 else ''} {spans(schedule.minute)}"
        )
    else:
        times = [f"{h:02d}:{m:02d}" for h in sorted(schedule.hour) for m in sorted(schedule.minute)]
        when = "at " + ", ".join(times) if len(times) <= 4 else f"at minutes {spans(schedule.minute)} past hours {spans(schedule.hour)}"
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


def field_text(data: Mapping[str, Any], field: str) -> str:
    """A submitted field as text ('' when it is missing or not text, which validate() then refuses)."""
    value = data.get(field, "")
    return value if isinstance(value, str) else ""


def validate(data: Mapping[str, Any], schedule: Schedule | None) -> tuple[dict[str, str], dict[str, str]]:
    """A schedule's name, job and cron, tidied, and what is wrong with each (field → message naming it).

    :param data: the submitted fields (a form or a JSON object).
    :param schedule: the schedule being edited (its own name is no clash), or None for a new one.
    """
    values = {
        "name": field_text(data, "name").strip(),
        "job_kind": field_text(data, "job_kind"),
        "cron": " ".join(field_text(data, "cron").split()),
    }
    errors: dict[str, str] = {}
    name, cron = values["name"], values["cron"]
    if not name or len(name) > 80:
        errors["name"] = "name: give the schedule a name of 1 to 80 characters"
    elif db.session.execute(db.select(Schedule.id).where(Schedule.name == name, Schedule.id != (schedule.id if schedule else -1))).first():
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


def saved(values: dict[str, str], errors: dict[str, str]) -> bool:
    """Commit; a name taken by a concurrent save becomes a form error instead of a 500."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        errors["name"] = f"name: a schedule named {values['name']!r} already exists"
        return False
    return True
