"""Operator actions on a job from its page: cancel, retry failed, re-run, download the results."""

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from webapp import audit
from webapp.extensions import db
from webapp.jobs import control
from webapp.jobs.export import csv_response
from webapp.plurals import counted
from webapp.views.job_fragments import forget_shared, render_actions, render_rows, render_summary
from webapp.web.htmx import is_htmx
from webapp.web.list_filters import audit_filter
from webapp.web.lookups import job_or_404
from webapp.web.paging import page_number

bp = Blueprint("job_actions", __name__)

AUDIT_PER_PAGE = 100


def back_to_job(job_id: int) -> Response:
    """Redirect to the job page (Post/Redirect/Get)."""
    return redirect(url_for("jobs.detail", job_id=job_id))


def answer(job_id: int, message: str, category: str) -> Response | str:
    """What an action answers: to htmx (the page's buttons), the job's buttons in place with its
    summary and rows out of band and the message, all read after the action committed, so the page
    shows its effect at once ("cancelling", not "running" until the next poll); to a plain form
    post, the job page (Post/Redirect/Get)."""
    if not is_htmx():
        flash(message, category)
        return back_to_job(job_id)
    forget_shared(job_id)
    db.session.expire_all()
    job = job_or_404(job_id)
    flashes = render_template("_flashes.html", messages=[(category, message)], out_of_band=True)
    return render_actions(job) + render_summary(job, out_of_band=True) + render_rows(job, out_of_band=True) + flashes


@bp.post("/jobs/<int:job_id>/cancel")
@login_required
def cancel(job_id: int) -> Response | str:
    """Cancel the job: records not started never start; running steps finish."""
    try:
        job = control.cancel_job(job_id, current_user)
    except control.ControlError as exc:
        return answer(job_id, str(exc), "error")
    finishing = "; steps already running finish first" if job.cancelling else ""
    return answer(job_id, f"Job #{job.id} cancelled: records not started will not run{finishing}.", "success")


@bp.post("/jobs/<int:job_id>/retry-failed")
@login_required
def retry_failed(job_id: int) -> Response | str:
    """Run the job's failed records again."""
    try:
        count = control.retry_failed(job_id, current_user)
    except control.ControlError as exc:
        return answer(job_id, str(exc), "error")
    return answer(job_id, f"{counted(count, 'failed record')} sent again.", "success")


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
    """Render the audit trail: who did what, when (newest first, filtered by operator, action, job and days, paginated)."""
    page, chosen = page_number(), audit_filter()
    events, has_more = audit.events(chosen, page, AUDIT_PER_PAGE)
    actors, actions = audit.choices()
    return render_template("jobs/audit.html", events=events, page=page, has_more=has_more, filter=chosen, actors=actors, actions=actions)
