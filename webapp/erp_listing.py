"""Reading the keys the ERP lists for a job: each checked like an uploaded key, the list capped.

The ERP is trusted no more than an uploaded file. A listed entry that is not a key of the job's
kind (``../../metrics?x=``, a number, an object) still becomes a record, failed at once with the
reason and never fetched, so the operator sees what the ERP sent. A listing that cannot become a
job at all (not a list, more than MAX_JOB_RECORDS entries) fails the job with that reason.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from webapp.erp_client import get_json
from webapp.jobs.kinds import JobKind, Listing

KEY_CHARS = 64  # the width of job_records.key


class ListingUnusable(Exception):
    """The ERP's listing as a whole cannot become a job; the message says why, in words."""


@dataclass
class ListedKeys:
    """A listing's keys in the ERP's order, each once, and why each bad one is not a key."""

    keys: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


def shown_key(entry: Any) -> str:
    """The entry as a record key: its text (JSON for anything not a string), cut to the column's width."""
    text = entry if isinstance(entry, str) else json.dumps(entry)
    return text if len(text) <= KEY_CHARS else text[: KEY_CHARS - 1] + "…"


def entry_problem(entry: Any, kind: JobKind) -> str | None:
    """Why a listed entry is not a key of ``kind`` (in words for the record's error), or None."""
    if not isinstance(entry, str):
        return f"not fetched: the ERP listed {shown_key(entry)}, which is not a {kind.key_label} (expected e.g. {kind.key_example})"
    problem = kind.key_problem(entry)
    return None if problem is None else f"not fetched: the ERP listed {problem}"


def read_listing(body: Any, field_name: str, kind: JobKind, max_records: int) -> ListedKeys:
    """The keys of the ERP's answer ``body`` (its list under ``field_name``); raise ListingUnusable."""
    entries = body.get(field_name) if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ListingUnusable(f"the ERP's answer has no list of {kind.noun_plural} (no {field_name!r} list)")
    if len(entries) > max_records:
        raise ListingUnusable(f"the ERP listed {len(entries):,} {kind.noun_plural}; the limit is {max_records:,} per job")
    listed = ListedKeys()
    seen: set[str] = set()
    for entry in entries:
        key = shown_key(entry)
        if key in seen:  # listed twice: one record, as for a file, but the ERP is not refused for it
            continue
        seen.add(key)
        listed.keys.append(key)
        problem = entry_problem(entry, kind)
        if problem is not None:
            listed.problems[key] = problem
    return listed


def listed_count(listing: Listing, kind: JobKind, max_records: int) -> int:
    """How many keys the ERP lists for ``listing`` now, counted as a job would take them (each
    once); raises the client's ErpError or ListingUnusable."""
    return len(read_listing(get_json(listing.path, listing.what), listing.field, kind, max_records).keys)
