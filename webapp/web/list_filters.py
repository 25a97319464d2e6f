"""The filters of the jobs list and the audit trail, read from the URL one way for pages and API.

A value that names nothing (an unknown status or kind, an operator who does not exist, a date
that is not one) is answered with a 400 that says which argument and what it takes: an empty
list would look like "no such jobs" when the question itself was wrong.
"""

import re
from datetime import date
from typing import NoReturn

from flask import abort, request

from webapp.audit import AuditFilter
from webapp.jobs.kinds import KINDS
from webapp.jobs.listing import JobFilter, operator_id
from webapp.models import JOB_STATUSES

WORD = re.compile(r"[a-z_]{1,40}")
LONGEST_NAME = 80  # an operator's username, an audit event's actor


def refuse(name: str, value: str, expected: str) -> NoReturn:
    """Abort with a 400 naming the argument, the value (cut short) and what it takes."""
    abort(400, description=f"{name}: {value[:40]!r} is not {expected}.")


def argument(name: str) -> str | None:
    """The stripped ?name= argument, or None when missing or empty."""
    value = request.args.get(name, "").strip()
    return value or None


def job_filter() -> JobFilter:
    """?status=, ?kind= and ?operator= (a username) of the jobs list."""
    status, kind, operator = argument("status"), argument("kind"), argument("operator")
    if status and status not in JOB_STATUSES:
        refuse("status", status, f"a job status; one of {', '.join(JOB_STATUSES)}")
    if kind and kind not in KINDS:
        refuse("kind", kind, f"a kind of job; one of {', '.join(KINDS)}")
    found = None
    if operator:
        found = operator_id(operator) if len(operator) <= LONGEST_NAME else None
        if found is None:
            refuse("operator", operator, "the username of an operator")
    return JobFilter(status, kind, operator, found)


def day(name: str) -> date | None:
    """The ?name= argument as a date (YYYY-MM-DD), None when missing; 400 when not a date."""
    value = argument(name)
    if value is None:
        return None
    try:
        parsed = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        parsed = None
    if parsed is None:
        refuse(name, value, "a date (YYYY-MM-DD)")
    return parsed


def audit_filter() -> AuditFilter:
    """?operator=, ?action=, ?job=, ?since= and ?until= (days, UTC, inclusive) of the audit trail."""
    actor, action, job = argument("operator"), argument("action"), argument("job")
    if actor and len(actor) > LONGEST_NAME:
        refuse("operator", actor, f"a name (at most {LONGEST_NAME} characters)")
    if action and not WORD.fullmatch(action):
        refuse("action", action, "an action (lower-case words joined by _, e.g. retry_failed)")
    if job and not (job.isdigit() and 0 < int(job) < 2**63):
        refuse("job", job, "a job number")
    since, until = day("since"), day("until")
    if since and until and since > until:
        abort(400, description=f"since ({since}) is after until ({until}): the range holds no day.")
    return AuditFilter(actor, action, int(job) if job else None, since, until)
