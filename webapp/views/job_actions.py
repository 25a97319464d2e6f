"""Operator actions on a job from its page: cancel, retry failed, re-run, download the results."""

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from webapp.extensions import db
from webapp.jobs import control
from webapp.jobs.export import csv_response
from webapp.models import AuditEvent
from webapp.plurals import counted
from webapp.web.lookups import job_or_404
from webapp.web.paging import page_number

bp = Blueprint("job_actions", __name__)


def back_to_job(job_id: int) -> Response:
    """Redirect to the job page (Post/Redirect/Get)."""
    return redirect(url_for("jobs.detail", job_id=job_id))


@bp.post("/jobs/<int:job_id>/cancel")
@login_required
def cancel(job_id: int) -> Response:
    """Cancel the job: records not started never start; running steps finish."""
    try:
        job = control.cancel_job(job_id, current_user)
        flash(f"Job #{job.id} cancelled: records not started will not run.", "success")
    except control.ControlError as exc:
        flash(str(exc), "error")
    return back_to_job(job_id)


@bp.post("/jobs/<int:job_id>/retry-failed")
@login_required
def retry_failed(job_id: int) -> Response:
    """Run the job's failed records again."""
    try:
        count = control.retry_failed(job_id, current_user)
        flash(f"{counted(count, 'failed record')} sent again.", "success")
    except control.ControlError as exc:
        flash(str(exc), "error")
    return back_to_job(job_id)


@bp.post("/jobs/<int:job_id>/rerun")
@login_required
def rerun(job_id: int) -> Response:
    """Start a new job from this job's stored input."""
    try:
        job = control.rerun_job(job_id, current_user)
    except control.ControlError as exc:
        flash(str(exc), "error")
        return back_to_job(job_id)
    flash(f"Job #{job.id} started as a re-run of job #{job_id}.", "success")
    return back_to_job(job.id)


@bp.get("/jobs/<int:job_id>/records.csv")
@login_required
def download(job_id: int) -> Response:
    """Download the job's records and outcomes as CSV."""
    return csv_response(job_or_404(job_id))


@bp.get("/audit")
@login_required
def audit_log() -> str:
    """Render the audit trail: who did what, when (newest first, paginated)."""
    page = page_number()
    events = db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id.desc()).offset((page - 1) * 100).limit(101)).scalars().all()
    return render_template("jobs/audit.html", events=events[:100], page=page, has_more=len(events) > 100)
