"""The JSON API of the workers page and of search (bearer token, like the rest of /api)."""

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from webapp.api.responses import iso, job_json, plain, refuse
from webapp.jobs.search import PER_PAGE, search_all
from webapp.models import RECORD_STATES, JobRecord, TaskRun
from webapp.monitoring.throughput import snapshot
from webapp.web.paging import page_number

bp = Blueprint("ops", __name__, url_prefix="/ops")


@bp.get("/workers")
def workers() -> Response:
    """Workers with their heartbeat status, the broker and its queues, per-minute throughput and the ERP's health."""
    snap = snapshot()
    return jsonify(
        generated_at=iso(snap.now),
        redis_error=snap.live.error,
        broker=snap.live.broker,
        broker_name=snap.live.broker_name,
        broker_error=snap.live.broker_error,
        queue_source=snap.live.source,
        workers=[plain(worker) | {"age_seconds": round(worker.age_seconds, 1)} for worker in snap.live.workers],
        queues=[plain(queue) for queue in snap.live.queues],
        unacked=snap.live.unacked,  # null where the broker cannot tell (RabbitMQ without its management API)
        scheduled=snap.live.scheduled,
        throughput={
            "finished": snap.finished,
            "failed": snap.failed,
            "failure_rate": snap.failure_rate,
            "minutes": [plain(minute) for minute in snap.minutes],
        },
        erp=plain(snap.erp) | {"error_rate": snap.erp.error_rate, "status": snap.erp.status},
    )


@bp.get("/search")
def search() -> Response | tuple[Response, int]:
    """Jobs, task runs and records matching ?q= (key, job id, task id) and/or ?state=; ?page= of 50 records."""
    state = request.args.get("state") or None
    if state is not None and state not in RECORD_STATES:
        return refuse(400, f"unknown state {state!r}; expected one of: {', '.join(RECORD_STATES)}")
    page = page_number()
    results = search_all(request.args.get("q", ""), state, page)
    if not results.searched:
        return refuse(400, "send ?q= (a PO number, product code, order id, job id or task id) and/or ?state=")
    return jsonify(
        q=results.query,
        state=state,
        page=page,
        per_page=PER_PAGE,
        has_more=results.has_more,
        jobs=[job_json(job) for job in results.jobs],
        task_runs=[run_json(run) for run in results.runs],
        records=[record_json(record) for record in results.records],
    )


def record_json(record: JobRecord) -> dict[str, Any]:
    """A matching record with links to its page and its job."""
    return {
        "id": record.id,
        "job_id": record.job_id,
        "job_kind": record.job.kind,
        "key": record.key,
        "state": record.state,
        "error": record.error,
        "erp_ref": record.erp_ref,
        "url": url_for("jobs.record", job_id=record.job_id, record_id=record.id, _external=True),
        "job_url": url_for("jobs.detail", job_id=record.job_id, _external=True),
    }


def run_json(run: TaskRun) -> dict[str, Any]:
    """One execution of the searched task id."""
    url = None
    if run.job_id is not None and run.record_id is not None:
        url = url_for("jobs.record", job_id=run.job_id, record_id=run.record_id, _external=True)
    elif run.job_id is not None:
        url = url_for("jobs.detail", job_id=run.job_id, _external=True)
    return {
        "task_id": run.task_id,
        "task_name": run.task_name,
        "state": run.state,
        "attempt": run.attempt,
        "job_id": run.job_id,
        "record_id": run.record_id,
        "queue": run.queue,
        "worker": run.worker,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "error": run.error,
        "url": url,
    }
