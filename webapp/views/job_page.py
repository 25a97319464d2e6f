"""Job pages: launch, detail, the live summary and rows fragments, record detail."""

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.exceptions import HTTPException

from webapp.extensions import db
from webapp.jobs.dispatch_status import queued_dispatch
from webapp.jobs.flow import job_window
from webapp.jobs.kinds import BILLS_OF_MATERIALS, KINDS, PURCHASE_ORDERS, RECONCILIATION, JobKind
from webapp.jobs.launch import launch_job
from webapp.jobs.progress import summarize
from webapp.jobs.rounds import job_history, round_of_runs
from webapp.jobs.step_history import ERROR_STATES
from webapp.models import AuditEvent, Product, TaskRun
from webapp.plurals import counted
from webapp.reconciliation import imports as reconcile
from webapp.views.index_page import render_index
from webapp.views.job_fragments import job_or_404, recon_context, render_actions, render_summary, rows_context, shared_rows
from webapp.views.key_forms import read_keys
from webapp.web import lookups
from webapp.web.errors import render_error, too_large_message
from webapp.web.upload_limits import large_fields, large_upload

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


def launch_from_form(kind: JobKind) -> Response | tuple[str, int]:
    """Start a job of ``kind`` from the launch form. Keys given twice are a warning: the form comes
    back with "remove duplicates and start" (200); any other error refuses it (400). Either way the
    form keeps what the operator typed, with the errors under its card."""
    form = read_keys(kind)
    parsed = form.parsed
    if parsed.ok or form.remove_repeats:
        job = launch_job(kind.name, "upload", parsed.keys, current_user, input_name=form.input_name, input_text=form.input_text)
        removed = f" ({parsed.repeats} repeated removed)" if parsed.repeats else ""
        flash(f"Job #{job.id} started with {counted(job.total, kind.noun, kind.noun_plural)}{removed}.", "success")
        return redirect(url_for("jobs.detail", job_id=job.id))
    page = render_index(upload_errors=parsed.errors, failed_kind=kind.name, kept=form.kept, repeats=parsed.only_repeats)
    return page, 200 if parsed.only_repeats else 400


LAUNCH_FORMS = {
    "jobs.launch_upload": PURCHASE_ORDERS.name,
    "jobs.launch_boms": BILLS_OF_MATERIALS.name,
    "jobs.launch_recon": RECONCILIATION.name,
}


@bp.errorhandler(413)
def too_large(exc: HTTPException) -> tuple[Response | str, int]:
    """A launch form's body over its limit: the dashboard again with the limit under that form's
    card, not a page of its own (anyone not logged in gets the plain error page)."""
    kind = LAUNCH_FORMS.get(request.endpoint or "")
    if kind is None or not current_user.is_authenticated:
        return render_error(413, "File too large", too_large_message())
    return render_index(upload_errors=[too_large_message()], failed_kind=kind), 413


@bp.post("/purchase-orders")
@large_fields
@login_required
def launch_upload() -> Response | tuple[str, int]:
    """Start a PO job from an uploaded CSV of PO numbers."""
    return launch_from_form(PURCHASE_ORDERS)


@bp.post("/bills-of-materials")
@large_fields
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
        history=job_history(job),
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
        return rows_html + render_summary(job, out_of_band=True) + render_actions(job, out_of_band=True)
    return rows_html + current_app.extensions["fragment_cache"].get_or_render(
        ("summary", job_id), lambda: render_summary(job_or_404(job_id), out_of_band=True)
    )


@bp.get("/<int:job_id>/records/<int:record_id>")
@login_required
def record(job_id: int, record_id: int) -> str:
    """Render one record: its outcome and every task run with its traceback."""
    record = lookups.record_or_404(job_id, record_id)
    runs = list(db.session.execute(db.select(TaskRun).where(TaskRun.record_id == record.id).order_by(TaskRun.id)).scalars())
    errors = [run for run in runs if run.state in ERROR_STATES and run.error]
    product = None
    if record.job.kind == BILLS_OF_MATERIALS.name and record.erp_ref:
        product = db.session.get(Product, int(record.erp_ref))
    return render_template(
        "jobs/record.html",
        job=record.job,
        record=record,
        runs=runs,
        errors=errors,
        rounds=round_of_runs(record.job, [run.id for run in errors]),
        kind=KINDS[record.job.kind],
        product=product,
    )
