"""Dates as Amazon writes them in each report; any other shape means a spreadsheet rewrote the cell."""

import re
from datetime import date

from webapp.reconciliation.reader.model import RowError

MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
DATE_EXAMPLE = "'Dec 1, 2017 12:38:23 AM PST'"
CLOCK = re.compile(r"\d{1,2}:\d\d:\d\d", re.ASCII)  # the 12-hour clock of 'Dec 1, 2017 12:38:23 AM PST'
MERIDIEM = frozenset({"am", "pm", "a.m.", "p.m."})  # Canadian exports write a.m. / p.m.
ZONE = re.compile(r"[A-Za-z]{2,5}\s*", re.ASCII)
# Amazon's V2 dates: '2026-06-16 00:00:00 UTC' (US), '2026-06-16T00:00:00+00:00' (API), or the day alone.
V2_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?: \d\d:\d\d:\d\d UTC|T\d\d:\d\d:\d\d(?:[+-]\d\d:?\d\d|Z))?", re.ASCII)


def parse_day(text: str) -> date | None:
    """'Dec 1, 2017' → date(2017, 12, 1); None when it is not that shape ('Jun 1, 26' is a spreadsheet's)."""
    parts = text.replace(",", " ").split()
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 2 or not parts[2].isdigit() or len(parts[2]) != 4:
        return None
    month = MONTHS.get(parts[0][:3].lower())
    try:
        return date(int(parts[2]), month, int(parts[1])) if month else None
    except ValueError:
        return None


def date_range_day(when: str) -> tuple[str, date]:
    """The date part and date of a Date Range `date/time` cell such as 'Dec 1, 2017 12:38:23 AM PST'."""
    parts = when.rsplit(" ", 3)
    day = None
    if len(parts) == 4 and CLOCK.fullmatch(parts[1]) and parts[2].lower() in MERIDIEM and ZONE.fullmatch(parts[3]):
        day = parse_day(parts[0])
    if day is None:
        raise RowError(f"date/time {when.strip()!r} is not a date like {DATE_EXAMPLE}, as Amazon writes it: a "
                       "spreadsheet probably reformatted it; download the original report again")
    return parts[0] + " ", day


def settlement_day(text: str, column: str) -> date:
    """The date of '2026-06-16 00:00:00 UTC' (V2) or '2026-06-16T00:00:00+00:00'; RowError names ``column``."""
    match = V2_DATE.fullmatch(text.strip())
    try:
        if match:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        pass
    raise RowError(f"{column} {text.strip()!r} is not a date like '2026-06-16 00:00:00 UTC', as Amazon writes it: "
                   "a spreadsheet probably reformatted it; download the original report again")
