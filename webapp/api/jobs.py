"""The JSON API, token-authenticated (Authorization: Bearer), mirroring the dashboard."""

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from webapp.api import reconciliation as recon_api
from webapp.api.responses import iso, job_json, refuse
from webapp.extensions import db
from webapp.jobs import control
from webapp.jobs.dispatch_status import dispatch_views
from webapp.jobs.export import csv_response
from webapp.jobs.flow import job_windows
from webapp.jobs.keyfile import ParsedKeys, parse_key_csv
from webapp.jobs.kinds import KINDS, RECONCILIATION
from webapp.jobs.launch import launch_job
from webapp.jobs.listing import filtered_jobs, status_counts
from webapp.jobs.progress import record_rows, state_counts
from webapp.jobs.rounds import rounds_of
from webapp.models import RECORD_STATES, Job
from webapp.reconciliation import imports as reconcile
from webapp.storage.names import name_problem
from webapp.web.list_filters import job_filter
from webapp.web.lookups import job_or_404
from webapp.web.paging import page_number, page_size

bp = Blueprint("jobs", __name__)


@bp.post("/jobs")
def create_job() -> tuple[Response, int]:
    """Start a job from an uploaded file (multipart: kind, file [, orders]) or JSON {kind, keys} / {kind, source: pending}."""
    recon_api.lift_upload_limit()
    body = request.get_json(silent=True) if request.is_json else None
    data = body if isinstance(body, dict) else request.form
    kind = data.get("kind")
    if kind == RECONCILIATION.name:
        return start_reconciliation()
    recon_api.keep_small_limit()
    if kind not in KINDS:
        return refuse(400, f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}")
    upload = request.files.get("file")
    if upload is not None:
        if problem := name_problem(upload.filename or ""):
            return refuse(400, "the file was not accepted", details=[problem])
        raw = upload.read()
        parsed = parse_key_csv(raw, KINDS[kind], current_app.config["MAX_JOB_RECORDS"])
        if not parsed.ok:
            return refuse(400, "the file was not accepted", details=parsed.errors)
        job = launch_job(kind, "upload", parsed.keys, g.api_operator, upload.filename, raw.decode("utf-8-sig"))
    elif data.get("source") == "pending" and kind == "purchase_orders":
        job = launch_job(kind, "pending", [], g.api_operator, "pending POs from the ERP")
    else:
        keys, errors = keys_from_json(data.get("keys"), kind)
        if errors:
            return refuse(400, "the keys were not accepted", details=errors)
        job = launch_job(kind, "api", keys, g.api_operator, "keys sent to the API")
    return jsonify(job_json(job)), 202


def start_reconciliation() -> tuple[Response, int]:
    """Start reading an uploaded report (multipart file, and orders for a V2 file); 400 in words if refused."""
    try:
        job = recon_api.launch(g.api_operator)
    except reconcile.ReconError as exc:
        db.session.rollback()
        return refuse(400, str(exc))
    return jsonify(job_json(job) | recon_api.details(job)), 202


def keys_from_json(keys: Any, kind: str) -> tuple[list[str], list[str]]:
    """Validate a JSON list of keys; errors name the item's position."""
    job_kind = KINDS[kind]
    if not isinstance(keys, list) or not keys:
        return [], [f"send 'keys' as a non-empty list of {job_kind.key_label}s, or a 'file'"]
    parsed = ParsedKeys()
    for index, key in enumerate(keys, start=1):
        parsed.add(key if isinstance(key, str) else repr(key), index, job_kind, where="item")
    parsed.check_size(current_app.config["MAX_JOB_RECORDS"], job_kind.key_label)
    return parsed.keys, parsed.errors


@bp.get("/jobs")
def list_jobs() -> Response:
    """Jobs, newest first, paginated (?page=, ?per_page= up to 100), filtered (?status=, ?kind=, ?operator=),
    with the jobs per status under the kind and operator filters."""
    page, per_page, chosen = page_number(), page_size(25, 100), job_filter()
    jobs, has_more = filtered_jobs(chosen, page, per_page)
    counts, dispatches, windows = state_counts([job.id for job in jobs]), dispatch_views(jobs), job_windows(jobs)
    rounds = rounds_of([job.id for job in jobs])
    return jsonify(
        page=page,
        per_page=per_page,
        has_more=has_more,
        filters=chosen.args(),
        status_counts=status_counts(chosen),
        jobs=[job_json(job, counts[job.id], dispatches, windows, rounds) for job in jobs],
    )


@bp.get("/jobs/<int:job_id>")
def get_job(job_id: int) -> Response:
    """One job: status, counts by state, timestamps (and a reconciliation's upload and preview)."""
    job = job_or_404(job_id)
    return jsonify(job_json(job) | recon_api.details(job))


@bp.get("/jobs/<int:job_id>/records")
def get_records(job_id: int) -> Response:
    """A page of the job's records with steps, attempts, error and ERP id (?page=, ?per_page=, ?state=)."""
    job = job_or_404(job_id)
    page = page_number()
    per_page = page_size(100, 500)
    state = request.args.get("state") if request.args.get("state") in RECORD_STATES else None
    rows, matching = record_rows(job, page, per_page, state)
    records = [
        {
            "id": row.record.id,
            "seq": row.record.seq,
            "key": row.record.key,
            "state": row.record.state,
            "status": row.state_class,
            "status_text": row.status,
            "attempts": row.attempts,
            "error": row.record.error,
            "error_text": row.error_text,
            "past_errors": len(row.history.errors),
            "erp_ref": row.record.erp_ref,
            "retry_at": iso(row.record.retry_at),
            "steps": [
                {"step": s.label, "state": s.state, "runs": s.runs, "tries": s.tries, "label": label}
                for s, label in zip(row.steps, row.step_labels)
            ],
        }
        for row in rows
    ]
    return jsonify(job=job_id, page=page, per_page=per_page, total=matching, records=records)


@bp.post("/jobs/<int:job_id>/cancel")
def cancel_job(job_id: int) -> tuple[Response, int]:
    """Cancel a running job (records not started never start)."""
    job_or_404(job_id)
    try:
        return jsonify(job_json(control.cancel_job(job_id, g.api_operator))), 200
    except control.ControlError as exc:
        return refuse(409, str(exc))


@bp.post("/jobs/<int:job_id>/confirm")
def confirm_job(job_id: int) -> tuple[Response, int]:
    """Confirm a reconciliation preview: write one sales order per (settlement, state); 409 with the reason if not."""
    job_or_404(job_id)
    try:
        job = reconcile.confirm(job_id, g.api_operator)
    except reconcile.ReconError as exc:
        db.session.rollback()
        return refuse(409, str(exc))
    return jsonify(job_json(job) | recon_api.details(job)), 202


@bp.post("/jobs/<int:job_id>/retry-failed")
def retry_failed(job_id: int) -> tuple[Response, int]:
    """Run a finished job's failed records again; answers with how many."""
    job_or_404(job_id)
    try:
        count = control.retry_failed(job_id, g.api_operator)
    except control.ControlError as exc:
        return refuse(409, str(exc))
    return jsonify(job=job_json(db.session.get(Job, job_id)), retried=count), 202


@bp.post("/jobs/<int:job_id>/rerun")
def rerun_job(job_id: int) -> tuple[Response, int]:
    """Start a new job from a finished job's stored input."""
    job_or_404(job_id)
    try:
        return jsonify(job_json(control.rerun_job(job_id, g.api_operator))), 202
    except control.ControlError as exc:
        return refuse(409, str(exc))


@bp.get("/jobs/<int:job_id>/records.csv")
def export_records(job_id: int) -> Response:
    """The job's records and outcomes as CSV."""
    return csv_response(job_or_404(job_id))
