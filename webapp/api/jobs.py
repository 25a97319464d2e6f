"""The JSON API, token-authenticated (Authorization: Bearer), mirroring the dashboard."""

from typing import Any

from flask import Blueprint, Response, abort, current_app, g, jsonify, request, url_for
from sqlalchemy.orm import selectinload

from webapp import audit
from webapp.jobs import control
from webapp.api import reconciliation as recon_api
from webapp.reconciliation import imports as reconcile
from webapp.views.auth import operator_from_bearer
from webapp.jobs.dispatch_status import DispatchView, dispatch_views
from webapp.extensions import db
from webapp.jobs.flow import job_window
from webapp.jobs.kinds import KINDS, RECONCILIATION
from webapp.jobs.launch import launch_job
from webapp.models import JOB_STATUSES, RECORD_STATES, AuditEvent, Job
from webapp.jobs.keyfile import ParsedKeys, parse_key_csv
from webapp.web.paging import page_number, page_size
from webapp.jobs.progress import record_rows, state_counts, summarize
from webapp.sandbox import chaos

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.before_request
def require_token() -> None:
    """Every API call needs a valid bearer token (sets g.api_operator)."""
    operator_from_bearer()


def refuse(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """A JSON error with a message an operator can act on."""
    return jsonify(error=message, **extra), status


def job_json(job: Job, counts: dict[str, int] | None = None, dispatches: dict[int, DispatchView] | None = None) -> dict[str, Any]:
    """A job as the API shows it: status, counts by state, its dispatch step, timestamps (``counts``
    and ``dispatches`` if already read for a page of jobs)."""
    summary = summarize(job, counts)
    dispatch = (dispatch_views([job]) if dispatches is None else dispatches).get(job.id)
    return {
        "id": job.id, "kind": job.kind, "source": job.source, "status": job.status, "total": summary.total,
        "done": summary.done, "counts": summary.counts, "error": job.error, "input_name": job.input_name,
        "created_by": job.created_by.username if job.created_by else None,
        "created_at": iso(job.created_at), "started_at": iso(job.started_at), "finished_at": iso(job.finished_at),
        "group_id": job.group_id, "chord_id": job.chord_id,
        "window": window.as_json() if (window := job_window(job)) else None,
        "dispatch": dispatch.as_json(iso) if dispatch else None,
        "url": url_for("jobs.detail", job_id=job.id, _external=True),
    }


def iso(value: Any) -> str | None:
    """An ISO 8601 UTC timestamp, or None."""
    return value.isoformat() + "Z" if value else None


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
    """Jobs, newest first, paginated (?page=, ?per_page= up to 100, ?status=)."""
    page = page_number()
    per_page = page_size(25, 100)
    query = db.select(Job).order_by(Job.id.desc())
    status = request.args.get("status")
    if status in JOB_STATUSES:
        query = query.where(Job.status == status)
    jobs = db.session.execute(
        query.options(selectinload(Job.created_by)).offset((page - 1) * per_page).limit(per_page)
    ).scalars().all()
    counts, dispatches = state_counts([job.id for job in jobs]), dispatch_views(list(jobs))
    return jsonify(page=page, per_page=per_page, jobs=[job_json(job, counts[job.id], dispatches) for job in jobs])


@bp.get("/jobs/<int:job_id>")
def get_job(job_id: int) -> Response:
    """One job: status, counts by state, timestamps (and a reconciliation's upload and preview)."""
    job = db.get_or_404(Job, job_id)
    return jsonify(job_json(job) | recon_api.details(job))


@bp.get("/jobs/<int:job_id>/records")
def get_records(job_id: int) -> Response:
    """A page of the job's records with steps, attempts, error and ERP id (?page=, ?per_page=, ?state=)."""
    job = db.get_or_404(Job, job_id)
    page = page_number()
    per_page = page_size(100, 500)
    state = request.args.get("state") if request.args.get("state") in RECORD_STATES else None
    rows, matching = record_rows(job, page, per_page, state)
    records = [
        {
            "id": row.record.id, "seq": row.record.seq, "key": row.record.key, "state": row.record.state,
            "status": row.state_class, "status_text": row.status,
            "attempts": row.attempts, "error": row.record.error, "erp_ref": row.record.erp_ref,
            "retry_at": iso(row.record.retry_at),
            "steps": [{"step": s.label, "state": s.state, "runs": s.runs} for s in row.steps],
        }
        for row in rows
    ]
    return jsonify(job=job_id, page=page, per_page=per_page, total=matching, records=records)


@bp.post("/jobs/<int:job_id>/cancel")
def cancel_job(job_id: int) -> tuple[Response, int]:
    """Cancel a running job (records not started never start)."""
    db.get_or_404(Job, job_id)
    try:
        return jsonify(job_json(control.cancel_job(job_id, g.api_operator))), 200
    except control.ControlError as exc:
        return refuse(409, str(exc))


@bp.post("/jobs/<int:job_id>/confirm")
def confirm_job(job_id: int) -> tuple[Response, int]:
    """Confirm a reconciliation preview: write one sales order per (settlement, state); 409 with the reason if not."""
    db.get_or_404(Job, job_id)
    try:
        job = reconcile.confirm(job_id, g.api_operator)
    except reconcile.ReconError as exc:
        db.session.rollback()
        return refuse(409, str(exc))
    return jsonify(job_json(job) | recon_api.details(job)), 202


@bp.post("/jobs/<int:job_id>/retry-failed")
def retry_failed(job_id: int) -> tuple[Response, int]:
    """Run a finished job's failed records again; answers with how many."""
    db.get_or_404(Job, job_id)
    try:
        count = control.retry_failed(job_id, g.api_operator)
    except control.ControlError as exc:
        return refuse(409, str(exc))
    return jsonify(job=job_json(db.session.get(Job, job_id)), retried=count), 202


@bp.post("/jobs/<int:job_id>/rerun")
def rerun_job(job_id: int) -> tuple[Response, int]:
    """Start a new job from a finished job's stored input."""
    db.get_or_404(Job, job_id)
    try:
        return jsonify(job_json(control.rerun_job(job_id, g.api_operator))), 202
    except control.ControlError as exc:
        return refuse(409, str(exc))


@bp.get("/jobs/<int:job_id>/records.csv")
def export_records(job_id: int) -> Response:
    """The job's records and outcomes as CSV."""
    from webapp.views.job_actions import csv_response

    return csv_response(db.get_or_404(Job, job_id))


@bp.get("/audit")
def audit_events() -> Response:
    """The audit trail, newest first (?job= to filter, ?page=)."""
    page = page_number()
    query = db.select(AuditEvent).order_by(AuditEvent.id.desc())
    if request.args.get("job", type=int):
        query = query.where(AuditEvent.job_id == request.args.get("job", type=int))
    events = db.session.execute(query.offset((page - 1) * 100).limit(100)).scalars().all()
    return jsonify(page=page, events=[
        {"at": iso(e.at), "actor": e.actor, "action": e.action, "job": e.job_id, "detail": e.detail} for e in events
    ])


def require_sandbox() -> None:
    """Answer 404 where the sandbox ERP is not enabled: there are no chaos settings to read or change."""
    if not current_app.config["SANDBOX_ENABLED"]:
        abort(404)


@bp.get("/sandbox/settings")
def get_sandbox_settings() -> Response:
    """The sandbox ERP's chaos settings."""
    require_sandbox()
    return jsonify(chaos.settings_dict(chaos.load_settings()))


@bp.put("/sandbox/settings")
def put_sandbox_settings() -> tuple[Response, int]:
    """Change the sandbox ERP's chaos settings (JSON body with any of the fields)."""
    require_sandbox()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return refuse(400, "send a JSON object with the settings to change")
    settings, errors = chaos.update_settings(body, g.api_operator.username)
    if errors or settings is None:
        return refuse(400, "the settings were not accepted", details=errors)
    audit.record("sandbox_change", "sandbox settings changed: " + ", ".join(f"{k}={body[k]}" for k in sorted(body)), actor=g.api_operator)
    db.session.commit()
    return jsonify(chaos.settings_dict(settings)), 200
