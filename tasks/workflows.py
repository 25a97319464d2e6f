"""Celery entry points (thin): dispatch a job's canvas, its per-record steps, finalize, beat tasks.

Header tasks never raise into the chord (see tasks.base.RecordTask): a record that fails for good
is marked failed in SQL and its chain returns an outcome, so the chord body (finalize) always fires.

Of a record's chain only the last step stores its result in Redis (the record's outcome, kept
``result_expires``): the task view counts a chord's group with it (GroupResult), and a redelivered
copy of a step that already succeeded is skipped (``worker_deduplicate_successful_tasks``). The
other steps ignore theirs (``ignore_result``): each next step is immutable and reads the record,
so a stored copy would be a write per step that nobody reads. A step that fails on an unexpected
error keeps that failure and its traceback in Redis (tasks.base.keep_failure). The task log in SQL
says how each run ended.
"""

import traceback
import uuid
from functools import partial
from typing import Any

from celery import Task, chain, chord, group, shared_task
from celery.exceptions import Retry
from celery.signals import beat_init
from flask import current_app
from sqlalchemy.exc import OperationalError

from tasks import jobs, orphans, runlog, runlog_cleanup, sweeper, window
from tasks.base import RecordTask, backoff_seconds
from tasks.steps import fetch_document, write_to_erp
from webapp.erp_client import PermanentError, TransientError, get_json
from webapp.erp_listing import ListingUnusable, read_listing
from webapp.erp_writes import boms, purchase_orders, sales_orders
from webapp.extensions import db
from webapp.jobs import outbox
from webapp.jobs.kinds import KINDS, LISTINGS, Listing
from webapp.jobs.launch import add_listed_records
from webapp.models import Job, JobStatus, ReconImport
from webapp.reconciliation import files as recon_files
from webapp.reconciliation import previews

# Job-level tasks ride out a database outage by retrying (the record steps do it in RecordTask).
DB_OUTAGE = {"autoretry_for": (OperationalError,), "retry_backoff": 2, "retry_backoff_max": 30, "max_retries": 60}


@shared_task(bind=True, max_retries=None, autoretry_for=(OperationalError,), retry_backoff=2, retry_backoff_max=30)
def dispatch_job(self: Task, job_id: int) -> dict[str, Any]:
    """Make the job's records and start it: its first window of chord(group(chain(fetch → make)
    per record) → next_window) batches (tasks.window sends the rest as records finish)."""
    job = db.session.get(Job, job_id)
    if job is None or job.status != JobStatus.QUEUED or job.cancel_requested_at is not None:
        return {"job": job_id, "dispatched": False}
    if add_listed_records(job):
        db.session.commit()  # the records exist from here on; a cancel waiting for them goes first
    listing = LISTINGS.get((job.kind, job.source))
    if listing is not None and job.total == 0 and not add_erp_listed_records(self, job, listing):
        return {"job": job_id, "dispatched": False}
    if not jobs.has_unfinished(job_id):  # nothing left to do (e.g. every record was already final): close the job now
        jobs.start_running(job_id)
        db.session.commit()
        return {"job": job_id, "dispatched": False, "finalized": jobs.finalize(job_id)["status"]}
    started = jobs.start_running(job_id, dispatch_task_id=self.request.id)
    db.session.commit()
    if not started:  # cancelled while the dispatch made its records or asked the ERP
        return {"job": job_id, "dispatched": False}
    try:
        sent = window.top_up(job_id, send_batch)
    except Exception as exc:  # publish failed: try the whole dispatch again
        db.session.execute(db.update(Job).where(Job.id == job_id, Job.status == JobStatus.RUNNING).values(status=JobStatus.QUEUED))
        db.session.commit()
        raise retry_dispatch(
            self, f"could not send its records to the workers ({type(exc).__name__})", backoff_seconds(self.request.retries), exc
        ) from None
    return {"job": job_id, "dispatched": True, "records": sent.sent}


def add_erp_listed_records(task: Task, job: Job, listing: Listing) -> bool:
    """Make the records of the keys the ERP lists for the job; False when that failed the job instead
    (an answer unusable, or listing nothing). A transient failure retries the dispatch."""
    try:
        listed = read_listing(get_json(listing.path, listing.what), listing.field, KINDS[job.kind], current_app.config["MAX_JOB_RECORDS"])
    except TransientError as exc:
        raise retry_dispatch(task, exc.reason, backoff_seconds(task.request.retries, exc.retry_after)) from None
    except (PermanentError, ListingUnusable) as exc:
        jobs.fail_job(job, f"could not list {listing.what}: {exc}")
        return False
    if not listed.keys:
        jobs.fail_job(job, f"the ERP lists no {listing.what}")
        return False
    jobs.add_records(job, listed.keys)
    jobs.fail_listed(job.id, listed.problems)
    return True


def retry_dispatch(task: Task, reason: str, countdown: float, exc: Exception | None = None) -> Retry:
    """Schedule the dispatch again, with the reason and the time it is due on its task run (the job page shows them)."""
    runlog.note(task.request.id, error=reason, retry_at=runlog.retry_time(countdown))
    return task.retry(countdown=countdown, exc=exc)


def record_chain(kind: str, job_id: int, record_id: int) -> Any:
    """The chain of one record: fetch → make (POs) or fetch → make product → make components (BOMs)."""
    steps = {
        "purchase_orders": (fetch_po, make_po),
        "bills_of_materials": (fetch_bom, make_product, make_component),
        "reconciliation": (write_sales_order,),
    }[kind]
    return chain(*(step.si(job_id=job_id, record_id=record_id) for step in steps))


def apply_canvas(kind: str, job_id: int, record_ids: list[int], group_id: str | None = None, chord_id: str | None = None) -> None:
    """Publish chord(group(record chain per record) → next_window); only ids travel."""
    header = group([record_chain(kind, job_id, r) for r in record_ids])
    body = next_window.si(job_id=job_id).set(task_id=chord_id or str(uuid.uuid4()))
    # chord() keeps a group's tasks, not its options: the header's group id is the chord's own
    # task_id option (a group's task_id would be replaced by a new id, unknown to jobs.group_id).
    canvas = chord(header, body, task_id=group_id) if group_id else chord(header, body)
    canvas.apply_async(task_id=body.id)


def send_batch(kind: str, job_id: int, batch: window.Batch) -> None:
    """Publish one batch of a job's records (tasks.window decides which)."""
    apply_canvas(kind, job_id, batch.record_ids, group_id=batch.group_id, chord_id=batch.chord_id)


@shared_task(bind=True, base=RecordTask, max_retries=None, ignore_result=True)
def fetch_po(self: Task, job_id: int, record_id: int) -> dict[str, Any]:
    """Fetch one purchase order from the ERP."""
    return self.run_step(job_id, record_id, partial(fetch_document, self, "/purchase-orders/{}", purchase_orders.validate_po))


@shared_task(bind=True, base=RecordTask, max_retries=None, ignore_result=True)
def fetch_bom(self: Task, job_id: int, record_id: int) -> dict[str, Any]:
    """Fetch one bill of materials from the ERP."""
    return self.run_step(job_id, record_id, partial(fetch_document, self, "/boms/{}", boms.validate_bom))


@shared_task(bind=True, base=RecordTask, writes_erp=True)
def make_po(self: Task, job_id: int, record_id: int) -> dict[str, Any]:
    """Write the fetched PO into the ERP tables; running it twice leaves one PO."""
    return self.run_step(job_id, record_id, partial(write_to_erp, purchase_orders.write_record))


@shared_task(bind=True, base=RecordTask, writes_erp=True, ignore_result=True)
def make_product(self: Task, job_id: int, record_id: int) -> dict[str, Any]:
    """Write the product of the fetched BOM; keep its id on the record for the next step."""
    return self.run_step(job_id, record_id, partial(write_to_erp, boms.write_product_record))


@shared_task(bind=True, base=RecordTask, writes_erp=True)
def make_component(self: Task, job_id: int, record_id: int) -> dict[str, Any]:
    """Write the product's components; running it twice leaves each (product, component) once."""
    return self.run_step(job_id, record_id, partial(write_to_erp, boms.write_components_record))


@shared_task(bind=True, base=RecordTask, writes_erp=True)
def write_sales_order(self: Task, job_id: int, record_id: int) -> dict[str, Any]:
    """Write the transactions of one (settlement, state) that the ERP lacks as one sales order; twice writes once."""
    return self.run_step(job_id, record_id, partial(write_to_erp, sales_orders.write_record))


@shared_task(bind=True, **DB_OUTAGE)
def read_report(self: Task, job_id: int) -> dict[str, Any]:
    """Read a reconciliation upload (streamed, with progress) into its preview; nothing is written to the ERP."""
    job = db.session.get(Job, job_id)
    upload = db.session.execute(db.select(ReconImport).filter_by(job_id=job_id)).scalar_one_or_none()
    if job is None or upload is None or job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        return {"job": job_id, "read": False}
    if upload.read_finished_at is not None:
        # Read already: this message came again (a redelivery, or the sweeper re-sending a queued
        # job's messages once it was confirmed). Reading again would put a confirmed job, queued
        # or writing, back to awaiting confirmation.
        return {"job": job_id, "read": False}
    try:
        summary = previews.read_upload(job, upload)
    except OperationalError:
        raise
    except Exception as exc:  # a reader bug must end the job visibly, not leave it running
        db.session.rollback()
        runlog.note(traceback=traceback.format_exc())
        job = db.session.get(Job, job_id, populate_existing=True)
        if job.status != JobStatus.CANCELLED:  # cancelled while its file was copied: the cancel deleted it
            jobs.fail_job(job, f"internal error while reading the file: {type(exc).__name__}: {exc}")
        recon_files.delete_job_files(job_id)
        db.session.commit()
        return {"job": job_id, "read": False}
    return {"job": job_id, "read": True, "rows": summary.rows, "ok": summary.ok}


@shared_task(**DB_OUTAGE)
def next_window(job_id: int) -> dict[str, Any]:
    """Chord body of each batch: send the job's next records, or close the job when all are final."""
    done = window.top_up(job_id, send_batch)
    return {"job": job_id, "sent": done.sent, "in_flight": done.in_flight, "status": done.finalized}


@shared_task(**DB_OUTAGE)
def finalize_job(job_id: int) -> dict[str, Any]:
    """Set the job's terminal status from its records' outcomes (the chord body of canvases sent
    before flow control; kept so their messages still run)."""
    return jobs.finalize(job_id)


@shared_task(**DB_OUTAGE)
def sweep() -> dict[str, Any]:
    """Beat: send again what the broker lost (Redis or RabbitMQ, tasks.sweeper), close jobs whose chord callback
    never came, and runs nothing closed."""
    with sweeper.sweep_lock() as mine:
        if not mine:
            return {"skipped": "another sweep is running"}
        resent = sweeper.resend_lost_dispatches()
        lost = sweeper.lost_records(sweeper.stalled_records())
        for job_id, record_ids in lost.items():
            kind = sweeper.mark_swept(job_id, len(record_ids))
            apply_canvas(kind, job_id, record_ids)
        restored = orphans.restore_orphaned_messages()
        topped = {job_id: done.sent for job_id in window.running_job_ids() if (done := window.top_up(job_id, send_batch)).sent}
        return {
            "dispatch_resent": resent,
            "records_resent": lost,
            "messages_restored": restored,
            "topped_up": topped,
            "finalized": jobs.finalize_stalled(),
            "runs_closed": runlog_cleanup.close_stale_runs(sweeper.stuck_after()),
        }


@shared_task(**DB_OUTAGE)
def purge_uploads() -> list[int]:
    """Beat: delete the stored files of reconciliation jobs that finished more than UPLOAD_RETENTION_DAYS ago."""
    return recon_files.purge_expired(current_app.config["UPLOAD_RETENTION_DAYS"])


@beat_init.connect
def purge_when_beat_starts(**_: Any) -> None:
    """Send one purge as beat starts. Its hourly entry first falls due an hour after a start, so a
    beat restarted more often (deploys, or a throw-away disk that loses its schedule file) would
    never purge."""
    purge_uploads.delay()


@shared_task(ignore_result=True)
def relay_outbox() -> int:
    """Beat: publish outbox messages the request's fast path could not send (every 2 s by default: a stored
    result per run would be the result backend's largest use, and nobody reads it)."""
    return outbox.relay()
