"""Rows a URL names, or a 404 that says which one is missing (pages and the API alike)."""

from flask import abort

from webapp.extensions import db
from webapp.models import Job, JobRecord


def job_or_404(job_id: int) -> Job:
    """The job, or a 404 saying "Job #N does not exist." (a bare "Not Found" leaves the operator guessing)."""
    job = db.session.get(Job, job_id)
    if job is None:
        abort(404, description=f"Job #{job_id} does not exist.")
    return job


def record_or_404(job_id: int, record_id: int) -> JobRecord:
    """The job's record, or a 404 naming what is missing: the job, or the record in it."""
    record = db.session.get(JobRecord, record_id)
    if record is None or record.job_id != job_id:
        job_or_404(job_id)
        abort(404, description=f"Job #{job_id} has no record #{record_id}.")
    return record
