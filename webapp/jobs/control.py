"""Operator control over a job: cancel it, retry its failed records, re-run it.

Each action is one transaction that also writes its audit event; work to send goes through
the outbox like a launch.
"""

from datetime import datetime

from webapp import audit
from webapp.extensions import db
from webapp.jobs import outbox, rounds
from webapp.jobs.keyfile import parse_key_csv, parse_key_text
from webapp.jobs.kinds import DISPATCH_TASK, KINDS, RECONCILIATION
from webapp.jobs.launch import add_listed_records, launch_job
from webapp.jobs.progress import state_counts
from webapp.models import TERMINAL_RECORD_STATES, Job, JobRecord, JobStatus, Operator, RecordState, locked_job, utcnow
from webapp.plurals import counted
from webapp.reconciliation import files as recon_files

NOT_STARTED = (RecordState.PENDING, RecordState.RETRYING)


class ControlError(Exception):
    """The action does not apply to the job in its current state (shown to the operator)."""


def lock_job(job_id: int) -> Job:
    """The job row, locked on PostgreSQL so a cancel and a write step never interleave."""
    job = locked_job(job_id, refresh=True)
    if job is None:
        raise ControlError(f"job #{job_id} does not exist")
    return job


def cancel_job(job_id: int, operator: Operator | None) -> Job:
    """Set the job's cancel flag: records that wrote nothing are cancelled now, running steps and
    partly written records finish.

    The flag is authoritative: every step checks it before writing, under the same row lock, so
    once this commits no ERP write of a record that wrote nothing can follow. A record whose first
    write committed (its erp_ref set) is never cancelled: cancelled means none of it is in the ERP.
    """
    job = lock_job(job_id)
    if not job.is_active and job.status != JobStatus.AWAITING_CONFIRMATION:
        raise ControlError(f"job #{job.id} is {job.status.replace('_', ' ')}: there is nothing to cancel")
    add_listed_records(job)  # a job cancelled before its dispatch still shows (and can re-run) its keys
    now = utcnow()
    job.cancel_requested_at = now
    job.cancelled_by = audit.actor_name(operator)
    not_started = (JobRecord.job_id == job.id, JobRecord.state.in_(NOT_STARTED))
    count = db.session.execute(
        db.update(JobRecord)
        .where(*not_started, JobRecord.erp_ref.is_(None))
        .values(state=RecordState.CANCELLED, error=f"cancelled by {job.cancelled_by}", retry_at=None, finished_at=now)
    ).rowcount
    fail_stranded(job, now)
    running = unfinished_count(job.id)
    if job.status in (JobStatus.QUEUED, JobStatus.AWAITING_CONFIRMATION) or running == 0:
        job.status = JobStatus.CANCELLED
        job.finished_at = now
        if job.kind == RECONCILIATION.name:
            recon_files.delete_job_files(job.id)  # discarded: nothing will be written from its file
    audit.record("cancel", f"cancelled {counted(count, 'record')} not started; {counted(running, 'record')} will finish", job, operator)
    db.session.commit()
    return job


def fail_stranded(job: Job, now: datetime) -> None:
    """Fail again the partly written records (a retry of failed records) that a cancel catches
    before they were sent: after a cancel nothing more of the job is sent (tasks.window), so no
    step will run them, and cancelled would claim nothing of them is in the ERP."""
    db.session.execute(
        db.update(JobRecord)
        .where(
            JobRecord.job_id == job.id, JobRecord.state.in_(NOT_STARTED), JobRecord.erp_ref.is_not(None), JobRecord.seq > job.sent_through
        )
        .values(
            state=RecordState.FAILED,
            error=f"cancelled by {job.cancelled_by} before its remaining steps ran",
            retry_at=None,
            finished_at=now,
        )
    )


def unfinished_count(job_id: int) -> int:
    """Records of the job without a final outcome: running steps, and partly written records that finish."""
    return db.session.execute(
        db.select(db.func.count()).select_from(JobRecord).where(JobRecord.job_id == job_id, JobRecord.state.not_in(TERMINAL_RECORD_STATES))
    ).scalar_one()


def retry_failed(job_id: int, operator: Operator | None) -> int:
    """Run the failed records again as new attempts of the same job; return how many."""
    job = lock_job(job_id)
    if not job.has_failures:
        raise ControlError(f"job #{job.id} is {job.status.replace('_', ' ')}: only a job that ended with failures can retry them")
    counts = state_counts([job.id])[job.id]  # as the round ended: read before its failed records are reset
    # A reconciliation record's payload is what it writes (its upload and settlement), not a fetched document.
    refetch = {} if job.kind == RECONCILIATION.name else {"payload": None}
    count = db.session.execute(
        db.update(JobRecord)
        .where(JobRecord.job_id == job.id, JobRecord.state == RecordState.FAILED)
        .values(state=RecordState.PENDING, retry_at=None, finished_at=None, **refetch)
    ).rowcount
    if count == 0 and job.source not in ("pending", "erp_products"):
        raise ControlError(f"job #{job.id} has no failed records to retry")
    rounds.end_round(job, counts, audit.actor_name(operator))
    job.status = JobStatus.QUEUED
    job.finished_at = None
    job.error = None
    job.sent_through = 0  # the retried records are sent again from the first, a window at a time
    outbox.add(DISPATCH_TASK, job_id=job.id)
    audit.record("retry_failed", f"{counted(count, 'failed record')} sent again", job, operator)
    db.session.commit()
    outbox.relay_quietly_pending(job.id)
    return count


def stored_keys(job: Job) -> list[str]:
    """The keys of a job as its stored input gives them (re-parsed), else as its records hold them."""
    kind = KINDS[job.kind]
    if job.input_text and job.source == "upload":
        typed = job.input_name == "typed in the form"
        parsed = parse_key_text(job.input_text, kind, 10**9) if typed else parse_key_csv(job.input_text.encode(), kind, 10**9)
        if parsed.ok:
            return parsed.keys
    return list(db.session.execute(db.select(JobRecord.key).where(JobRecord.job_id == job.id).order_by(JobRecord.seq)).scalars())


def can_rerun(job: Job) -> bool:
    """True for a job whose input can start a new job: not a reconciliation, whose records are
    made from its upload's preview (its keys alone would write nothing)."""
    return job.kind != RECONCILIATION.name


def rerun_job(job_id: int, operator: Operator | None) -> Job:
    """Start a new job with the same kind and input as a finished one."""
    job = db.session.get(Job, job_id)
    if job is None:
        raise ControlError(f"job #{job_id} does not exist")
    if job.is_active:
        raise ControlError(f"job #{job.id} is still {job.status}: cancel it or wait for it to finish before re-running")
    if not can_rerun(job):
        raise ControlError(f"job #{job.id} is a reconciliation: to run it again, upload its report again")
    keys = [] if job.source in ("pending", "erp_products") else stored_keys(job)
    return launch_job(job.kind, job.source, keys, operator, input_name=job.input_name, input_text=job.input_text, rerun_of=job)
