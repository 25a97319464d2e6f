"""Jinja filters for times, durations and status labels (all times shown in UTC)."""

from datetime import datetime

from flask import Flask

from webapp.plurals import counted, noun_for


def when(value: datetime | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM:SS UTC'."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def hms(value: datetime | None) -> str:
    """A time of day as HH:MM:SS (UTC)."""
    return value.strftime("%H:%M:%S") if value else ""


def duration(seconds: float | int | None) -> str:
    """Seconds as '45 s', '3 min 20 s' or '2 h 5 min'."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def status_label(status: str) -> str:
    """'completed_with_failures' → 'completed with failures'."""
    return status.replace("_", " ")


def cents(value: int | None) -> str:
    """Integer cents as '1,234.56' ('-12.30' for negatives)."""
    if value is None:
        return ""
    sign = "-" if value < 0 else ""
    whole, part = divmod(abs(int(value)), 100)
    return f"{sign}{whole:,}.{part:02d}"


def register(app: Flask) -> None:
    """Make the filters available to every template."""
    for function in (when, hms, duration, status_label, cents, counted, noun_for):
        app.add_template_filter(function)
