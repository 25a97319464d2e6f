"""What every API answer is made of: JSON errors an operator can act on, ISO timestamps, a job as JSON."""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from flask import Response, jsonify, url_for

from webapp.jobs.dispatch_status import DispatchView, dispatch_views
from webapp.jobs.flow import JobWindow, job_windows
from webapp.jobs.progress import summarize
from webapp.jobs.rounds import history_words, rounds_json, rounds_of
from webapp.models import Job, JobRound


def refuse(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """A JSON error with a message an operator can act on."""
    return jsonify(error=message, **extra), status


def job_json(
    job: Job,
    counts: dict[str, int] | None = None,
    dispatches: dict[int, DispatchView] | None = None,
    windows: dict[int, JobWindow] | None = None,
    rounds: dict[int, list[JobRound]] | None = None,
) -> dict[str, Any]:
    """A job as the API shows it: status, counts by state, its dispatch step and window, its rounds,
    timestamps (``counts``, ``dispatches``, ``windows`` and ``rounds`` if already read for a page of jobs)."""
    summary = summarize(job, counts)
    ended = (rounds_of([job.id]) if rounds is None else rounds).get(job.id, [])
    dispatch = (dispatch_views([job]) if dispatches is None else dispatches).get(job.id)
    window = (job_windows([job]) if windows is None else windows).get(job.id)
    return {
        "id": job.id,
        "kind": job.kind,
        "source": job.source,
        "status": job.status,
        "total": summary.total,
        "done": summary.done,
        "counts": summary.counts,
        "error": job.error,
        "input_name": job.input_name,
        "created_by": job.created_by.username if job.created_by else None,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "group_id": job.group_id,
        "chord_id": job.chord_id,
        "window": window.as_json() if window else None,
        "dispatch": dispatch.as_json(iso) if dispatch else None,
        "history": history_words(job, ended),
        "rounds": [{name: iso(v) if isinstance(v, datetime) else v for name, v in r.items()} for r in rounds_json(job, ended)],
        "url": url_for("jobs.detail", job_id=job.id, _external=True),
    }


def iso(value: Any) -> str | None:
    """An ISO 8601 UTC timestamp, or None."""
    return value.isoformat() + "Z" if value else None


def plain(item: Any) -> dict[str, Any]:
    """A dataclass as JSON-ready fields, timestamps in ISO 8601 UTC."""
    return {name: iso(value) if isinstance(value, datetime) else value for name, value in asdict(item).items()}
