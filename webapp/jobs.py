"""Job pages: launch, detail, the live summary and rows fragments, record detail."""

from dataclasses import dataclass

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp import reconcile
from webapp.extensions import db
from webapp.keyfile import ParsedKeys, parse_key_csv, parse_key_text
from webapp.kinds import BILLS_OF_MATERIALS, KINDS, PURCHASE_ORDERS, RECONCILIATION, JobKind
from webapp.launch import launch_job
from webapp.models import RECORD_STATES, AuditEvent, Job, JobRecord, Product, ReconImport, TaskRun, utcnow
from webapp.progress import record_rows, summarize

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

ALLOWED_UPLOADS = (".csv", ".txt")


def page_arg() -> int:
    """The ?page= argument, at least 1."""
    return max(1, request.args.get("page", 1, type=int) or 1)


def state_arg() -> str | None:
    """The ?state= filter if it names a record state."""
    state = request.args.get("state") or None
    return state if state in RECORD_STATES else None


def upload_errors(upload: object) -> list[str]:
    """Errors about the upload itself (wrong type), before reading it."""
    filename = getattr(upload, "filename", "") or ""
    if not filename.lower().endswith(ALLOWED_UPLOADS):
        return [f"{filename!r} is not a .csv file"]
    return []


def read_keys(kind: JobKind) -> tuple[ParsedKeys, str | None, str | None]:
    """The keys of a launch form: an uploaded CSV, else the text box; with the input's name and text."""
    upload = request.files.get("file")
    limit = current_app.config["MAX_JOB_RECORDS"]
    if upload is not None and upload.filename:
        errors = upload_errors(upload)
        if errors:
            return ParsedKeys(errors=errors), None, None
        raw = upload.read()
        parsed = parse_key_csv(raw, kind, limit)
        return parsed, upload.filename, raw.decode("utf-8-sig") if parsed.ok else None
    text = request.form.get("keys", "")
    if text.strip():
        return parse_key_text(text, kind, limit), "typed in the form", text
    return ParsedKeys(errors=[f"choose a CSV file of {kind.key_label}s to upload, or type them"]), None, None


def launch_from_form(kind: JobKind) -> Response | tuple[str, int]:
    """Start a job of ``kind`` from the launch form; on bad input re-render the form with the errors (400)."""
    parsed, input_name, input_text = read_keys(kind)
    if parsed.ok:
        job = launch_job(kind.name, "upload", parsed.keys, current_user, input_name=input_name, input_text=input_text)
        flash(f"Job #{job.id} started with {job.total} {kind.noun_plural}.", "success")
        return redirect(url_for("jobs.detail", job_id=job.id))
    from webapp.dashboard import render_index

    return render_index(upload_errors=parsed.errors, failed_kind=kind.name), 400


@bp.post("/purchase-orders")
@login_required
def launch_upload() -> Response | tuple[str, int]:
    """Start a PO job from an uploaded CSV of PO numbers."""
    return launch_from_form(PURCHASE_ORDERS)


@bp.post("/bills-of-materials")
@login_required
def launch_boms() -> Response | tuple[str, int]:
    """Start a BOM job from an uploaded CSV or typed list of product codes."""
    return launch_from_form(BILLS_OF_MATERIALS)


@bp.post("/purchase-orders/pending")
@login_required
def launch_pending() -> Response:
    """Start a PO job for every purchase order the ERP lists as pending."""
    job = launch_job(PURCHASE_ORDERS.name, "pending", [], current_user, input_name="pending POs from the ERP")
    flash(f"Job #{job.id} started: pulling the ERP's pending purchase orders.", "success")
    return redirect(url_for("jobs.detail", job_id=job.id))


@bp.post("/reconciliation")
@login_required
def launch_recon() -> Response | tuple[str, int]:
    """Save a reconciliation report (and its orders report) and start reading it in a worker."""
    request.max_content_length = current_app.config["RECON_MAX_UPLOAD_BYTES"]
    try:
        job = reconcile.launch_reconciliation(request.files.get("file"), request.files.get("orders"), current_user)
    except reconcile.ReconError as exc:
        db.session.rollback()
        from webapp.dashboard import render_index

        return render_index(upload_errors=[str(exc)], failed_kind="reconciliation"), 400
    flash(f"Job #{job.id}: reading {job.input_name}. Nothing is written until you confirm the preview.", "success")
    return redirect(url_for("jobs.detail", job_id=job.id))


@bp.post("/<int:job_id>/confirm")
@login_required
def confirm_recon(job_id: int) -> Response:
    """Confirm a reconciliation preview: write one sales order per (settlement, state)."""
    try:
        job = reconcile.confirm(job_id, current_user)
        flash(f"Confirmed: writing {job.total} sales orders.", "success")
    except reconcile.ReconError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("jobs.detail", job_id=job_id))


def recon_context(job: Job) -> dict[str, object]:
    """The upload of a reconciliation job, its reading speed, and an earlier import of the same file."""
    if job.kind != RECONCILIATION.name:
        return {"upload": None}
    upload = db.session.execute(db.select(ReconImport).filter_by(job_id=job.id)).scalar_one_or_none()
    if upload is None:
        return {"upload": None}
    return {"upload": upload, "reading": reading_speed(upload), "earlier": reconcile.earlier_import(upload)}


@dataclass
class Reading:
    """Rows per second and seconds left while a file is read."""

    rate: float | None
    eta: int | None


def reading_speed(upload: ReconImport) -> Reading:
    """Rate from rows read since reading started; ETA from the bytes still to read."""
    if upload.read_started_at is None or upload.read_finished_at is not None or not upload.bytes_read:
        return Reading(None, None)
    elapsed = (utcnow() - upload.read_started_at).total_seconds()
    if elapsed <= 0:
        return Reading(None, None)
    byte_rate = upload.bytes_read / elapsed
    return Reading(upload.rows_read / elapsed, int((upload.size_bytes - upload.bytes_read) / byte_rate))


@bp.get("/<int:job_id>")
@login_required
def detail(job_id: int) -> str:
    """Render the job page: summary and the first page of record rows."""
    job = db.get_or_404(Job, job_id)
    events = db.session.execute(
        db.select(AuditEvent).where(AuditEvent.job_id == job.id).order_by(AuditEvent.id.desc()).limit(50)
    ).scalars().all()
    return render_template("jobs/detail.html", job=job, kind=KINDS[job.kind], summary=summarize(job), events=events,
                           **rows_context(job), **recon_context(job))


@bp.get("/<int:job_id>/summary")
@login_required
def summary(job_id: int) -> str:
    """Render the summary fragment (polled while the job is active).

    While the job runs, its counts are shared by every viewer for a second (webapp.fragment_cache);
    once it has ended they are read fresh, so the last render, which stops the polling, is exact.
    """
    job = db.get_or_404(Job, job_id)
    if job.is_active:
        counts = current_app.extensions["fragment_cache"].get_or_render(("summary", job_id), lambda: summarize(job))
    else:
        counts = summarize(job)
    return render_template("jobs/_summary.html", job=job, summary=counts, **recon_context(job))


@bp.get("/<int:job_id>/rows")
@login_required
def rows(job_id: int) -> str:
    """Render the record rows fragment for ?page= and ?state= (polled while the job is active).

    The same for every operator, so viewers share one render a second (webapp.fragment_cache).
    """

    def render() -> str:
        job = db.get_or_404(Job, job_id)
        return render_template("jobs/_rows.html", job=job, kind=KINDS[job.kind], **rows_context(job))

    return current_app.extensions["fragment_cache"].get_or_render(("rows", job_id, page_arg(), state_arg()), render)


def rows_context(job: Job) -> dict[str, object]:
    """Template variables of the rows fragment and of the page that includes it."""
    per_page = current_app.config["RECORDS_PER_PAGE"]
    page, state = page_arg(), state_arg()
    rows, matching = record_rows(job, page, per_page, state)
    pages = max(1, -(-matching // per_page))
    return {"rows": rows, "page": page, "pages": pages, "state": state, "matching": matching, "states": RECORD_STATES}


@bp.get("/<int:job_id>/records/<int:record_id>")
@login_required
def record(job_id: int, record_id: int) -> str:
    """Render one record: its outcome and every task run with its traceback."""
    record = db.get_or_404(JobRecord, record_id)
    if record.job_id != job_id:
        abort(404)
    runs = db.session.execute(db.select(TaskRun).where(TaskRun.record_id == record.id).order_by(TaskRun.id)).scalars()
    product = None
    if record.job.kind == BILLS_OF_MATERIALS.name and record.erp_ref:
        product = db.session.get(Product, int(record.erp_ref))
    return render_template("jobs/record.html", job=record.job, record=record, runs=list(runs),
                           kind=KINDS[record.job.kind], product=product)
