"""Job pages: launch, detail, the live summary and rows fragments, record detail."""

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.extensions import db
from webapp.jobs.dispatch_status import queued_dispatch
from webapp.jobs.flow import job_window
from webapp.jobs.kinds import BILLS_OF_MATERIALS, KINDS, PURCHASE_ORDERS, RECONCILIATION, JobKind
from webapp.jobs.launch import launch_job
from webapp.jobs.progress import record_rows, summarize
from webapp.models import RECORD_STATES, AuditEvent, Job, Product, ReconImport, TaskRun
from webapp.plurals import counted
from webapp.reconciliation import imports as reconcile
from webapp.reconciliation.reading import reading_speed
from webapp.views.index_page import render_index
from webapp.views.key_forms import read_keys
from webapp.web import lookups
from webapp.web.paging import page_number
from webapp.web.upload_limits import large_upload

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


def state_arg() -> str | None:
    """The ?state= filter if it names a record state."""
    state = request.args.get("state") or None
    return state if state in RECORD_STATES else None


def launch_from_form(kind: JobKind) -> Response | tuple[str, int]:
    """Start a job of ``kind`` from the launch form; on bad input re-render the form with the errors (400)."""
    parsed, input_name, input_text = read_keys(kind)
    if parsed.ok:
        job = launch_job(kind.name, "upload", parsed.keys, current_user, input_name=input_name, input_text=input_text)
        flash(f"Job #{job.id} started with {counted(job.total, kind.noun, kind.noun_plural)}.", "success")
        return redirect(url_for("jobs.detail", job_id=job.id))
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
@large_upload("RECON_MAX_UPLOAD_BYTES")
@login_required
def launch_recon() -> Response | tuple[str, int]:
    """Save a reconciliation report (and its orders report) and start reading it in a worker."""
    try:
        job = reconcile.launch_reconciliation(request.files.get("file"), request.files.get("orders"), current_user)
    except reconcile.ReconError as exc:
        db.session.rollback()
        return render_index(upload_errors=[str(exc)], failed_kind="reconciliation"), 400
    flash(f"Job #{job.id}: reading {job.input_name}. Nothing is written until you confirm the preview.", "success")
    return created(url_for("jobs.detail", job_id=job.id))


def created(url: str) -> Response:
    """Post/Redirect/Get for a plain form; 201 with Location for the upload script (static/js/upload.js),
    whose XMLHttpRequest would follow a redirect itself and use up the flash meant for the job page."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return Response(status=201, headers={"Location": url})
    return redirect(url)


@bp.post("/<int:job_id>/confirm")
@login_required
def confirm_recon(job_id: int) -> Response:
    """Confirm a reconciliation preview: write one sales order per (settlement, state)."""
    try:
        job = reconcile.confirm(job_id, current_user)
        flash(f"Confirmed: writing {counted(job.total, 'sales order')} of the transactions the ERP lacks.", "success")
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


@bp.get("/<int:job_id>")
@login_required
def detail(job_id: int) -> str:
    """Render the job page: summary and the first page of record rows."""
    job = lookups.job_or_404(job_id)
    events = (
        db.session.execute(db.select(AuditEvent).where(AuditEvent.job_id == job.id).order_by(AuditEvent.id.desc()).limit(50))
        .scalars()
        .all()
    )
    return render_template(
        "jobs/detail.html",
        job=job,
        kind=KINDS[job.kind],
        summary=summarize(job),
        events=events,
        dispatch=queued_dispatch(job),
        window=job_window(job),
        **rows_context(job),
        **recon_context(job),
    )


@bp.get("/<int:job_id>/summary")
@login_required
def summary(job_id: int) -> str:
    """Render the summary fragment alone (always read fresh)."""
    job = lookups.job_or_404(job_id)
    return render_summary(job)


@bp.get("/<int:job_id>/rows")
@login_required
def rows(job_id: int) -> str:
    """Render the record rows fragment for ?page= and ?state= alone."""
    return shared_rows(job_id)[1]


@bp.get("/<int:job_id>/live")
@login_required
def live(job_id: int) -> str:
    """What the job page polls every second while the job is active: the rows fragment, with the
    summary swapped in out of band. One request per open page and second, not one per fragment:
    each request costs the web process its session and operator reads whatever it renders.

    While the rows still poll, both renders are shared by every viewer for a second
    (webapp.web.fragment_cache): neither holds anything of the viewer's own. Once the rows have
    stopped polling (the job has ended) the summary is rendered fresh, so the last response is
    exact (a shared summary could be older than the rows and show the job still running after
    the page stopped polling), and so are the job's buttons, which change then: their forms
    carry the viewer's own CSRF token.
    """
    polling, rows_html = shared_rows(job_id)
    if not polling:
        job = job_or_404(job_id)
        actions = render_template("jobs/_actions.html", job=job, out_of_band=True)
        return rows_html + render_summary(job, out_of_band=True) + actions
    return rows_html + current_app.extensions["fragment_cache"].get_or_render(
        ("summary", job_id), lambda: render_summary(job_or_404(job_id), out_of_band=True)
    )


def job_or_404(job_id: int) -> Job:
    """The job, read once per request however many of the request's renders need it (the session
    keeps no loaded object that nothing references, so a second get() would query again)."""
    read: dict[int, Job] = g.setdefault("jobs_read", {})
    if job_id not in read:
        read[job_id] = lookups.job_or_404(job_id)
    return read[job_id]


def render_summary(job: Job, out_of_band: bool = False) -> str:
    """The summary fragment, read fresh."""
    return render_template(
        "jobs/_summary.html",
        job=job,
        summary=summarize(job),
        out_of_band=out_of_band,
        dispatch=queued_dispatch(job),
        window=job_window(job),
        **recon_context(job),
    )


def shared_rows(job_id: int) -> tuple[bool, str]:
    """(whether it still polls, the rows fragment) for ?page= and ?state=; the same for every
    operator, so viewers share one render a second (webapp.web.fragment_cache)."""

    def render() -> tuple[bool, str]:
        job = job_or_404(job_id)
        return job.is_active, render_template("jobs/_rows.html", job=job, kind=KINDS[job.kind], **rows_context(job))

    return current_app.extensions["fragment_cache"].get_or_render(("rows", job_id, page_number(), state_arg()), render)


def rows_context(job: Job) -> dict[str, object]:
    """Template variables of the rows fragment and of the page that includes it."""
    per_page = current_app.config["RECORDS_PER_PAGE"]
    page, state = page_number(), state_arg()
    rows, matching = record_rows(job, page, per_page, state)
    pages = max(1, -(-matching // per_page))
    return {"rows": rows, "page": page, "pages": pages, "state": state, "matching": matching, "states": RECORD_STATES}


@bp.get("/<int:job_id>/records/<int:record_id>")
@login_required
def record(job_id: int, record_id: int) -> str:
    """Render one record: its outcome and every task run with its traceback."""
    record = lookups.record_or_404(job_id, record_id)
    runs = db.session.execute(db.select(TaskRun).where(TaskRun.record_id == record.id).order_by(TaskRun.id)).scalars()
    product = None
    if record.job.kind == BILLS_OF_MATERIALS.name and record.erp_ref:
        product = db.session.get(Product, int(record.erp_ref))
    return render_template("jobs/record.html", job=record.job, record=record, runs=list(runs), kind=KINDS[record.job.kind], product=product)
