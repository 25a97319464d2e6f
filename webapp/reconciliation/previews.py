"""Reading a reconciliation upload in the worker, with progress, into its preview.

Reading happens in a worker, never in the request: the stored file is copied to the worker's
temporary directory (no disk is shared with the web process) and streamed once (constant memory),
progress (rows and bytes) is saved about twice a second for the job page, and the result is a
preview stored as JSON. Only the operator's confirmation turns it into records, one per
(settlement, state), each written as one ERP sales order (webapp.erp_writes.sales_orders).
"""

import time
from dataclasses import asdict
from typing import Any

from webapp.extensions import db
from webapp.models import Job, JobStatus, ReconImport, utcnow
from webapp.reconciliation import files as recon_files
from webapp.reconciliation.ledger import store
from webapp.reconciliation.ledger.comparison import Comparison, Figures, compare
from webapp.reconciliation.reader.model import LINE_BUCKETS, PRODUCT_SALES, TAX_BUCKETS, Problem, ReportSummary, StateOrder
from webapp.reconciliation.reader.read import preview

MAX_PROBLEMS_SHOWN = 200
PROGRESS_SECONDS = 0.5


def read_upload(job: Job, upload: ReconImport) -> ReportSummary:
    """Stream the upload through the reader, saving progress as it goes; store and return the summary."""
    upload.read_started_at = upload.read_started_at or utcnow()
    job.status = JobStatus.RUNNING
    job.started_at = job.started_at or utcnow()
    db.session.commit()
    last = [time.monotonic()]

    def progress(rows: int, bytes_read: int) -> None:
        if time.monotonic() - last[0] >= PROGRESS_SECONDS:
            db.session.execute(db.update(ReconImport).where(ReconImport.id == upload.id).values(rows_read=rows, bytes_read=bytes_read))
            db.session.commit()
            last[0] = time.monotonic()

    store.clear(upload.id)  # rows staged by a read that a crash cut short
    db.session.commit()
    with recon_files.local_files(upload) as (report_path, orders_path), store.staging(upload.id) as stage:
        summary = preview(report_path, orders_path, progress=progress, transactions=stage)
    store_preview(job, upload, summary)
    return summary


def store_preview(job: Job, upload: ReconImport, summary: ReportSummary) -> None:
    """Keep the preview; a file with errors fails the job (it can never be confirmed)."""
    upload = db.session.get(ReconImport, upload.id, populate_existing=True)
    upload.report_kind, upload.encoding = summary.kind, summary.encoding
    upload.rows_read, upload.bytes_read = summary.rows, summary.bytes_read
    upload.sha256 = summary.sha256  # None if the reader stopped before the end (the file cannot be confirmed then)
    upload.read_finished_at = utcnow()
    upload.ok = summary.ok
    upload.error_count = max(summary.error_count, len(summary.errors))
    upload.preview = preview_json(summary)
    if summary.ok and summary.state_orders:
        compared = compare(upload.id, summary.kind, {key: reader_figures(o) for key, o in summary.state_orders.items()})
        upload.preview = dict(upload.preview, **against_erp(upload.preview["orders"], compared))
        if upload.preview["nothing_new"]:
            job.status, job.finished_at = JobStatus.SUCCEEDED, utcnow()
        else:
            job.status = JobStatus.AWAITING_CONFIRMATION
    else:
        store.clear(upload.id)  # a file with errors is never written
        job.status = JobStatus.FAILED
        job.finished_at = utcnow()
        job.error = failure_words(summary)
        recon_files.delete_files(upload)  # nothing can be written from this file
    db.session.commit()


def reader_figures(order: StateOrder) -> Figures:
    """What the reader summed of one (settlement, state): the figures of its transactions when all are new."""
    tax = sum(order.amounts[bucket] for bucket in TAX_BUCKETS)
    return Figures(rows=order.rows, orders=order.orders, refunds=order.refunds,
                          product_sales=order.amounts[PRODUCT_SALES], tax=tax, total=order.total,
                          order_total=sum(order.amounts[bucket] for bucket in LINE_BUCKETS) + tax)


def against_erp(orders: list[dict[str, Any]], compared: dict[tuple[str, str], Comparison]) -> dict[str, Any]:
    """The preview's orders with what of each is new and what the ERP has already (by which jobs)."""
    jobs: set[int] = set()
    marked = []
    for order in orders:
        found = compared.get((order["settlement_id"], order["state"]), Comparison())
        jobs.update(found.jobs)
        marked.append(dict(order, new=found.new.as_json(), imported=dict(found.imported.as_json(), jobs=found.jobs),
                           blocked=found.blocked))
    return {"orders": marked, "nothing_new": not any(o["new"]["rows"] for o in marked), "imported_jobs": sorted(jobs),
            "blocked": [f"{o['settlement_id']}/{o['state']}: {o['blocked']}" for o in marked if o["blocked"]]}


def failure_words(summary: ReportSummary) -> str:
    """Why a file cannot be imported, in one sentence with its first error."""
    if summary.ok:
        return "the file holds no sales order rows to import"
    count = max(summary.error_count, len(summary.errors))
    first = str(summary.errors[0]) if summary.errors else ""
    return f"the file has {count} error{'s' if count != 1 else ''}, so nothing was written; first: {first}"


def preview_json(summary: ReportSummary) -> dict[str, Any]:
    """The preview as stored: totals per state and settlement, problems, and each state's order."""
    return {
        "kind": summary.kind,
        "rows": summary.rows,
        "bytes": summary.bytes_read,
        "total": summary.total,
        "settlements": [
            {"id": s.settlement_id, "start": str(s.start or ""), "end": str(s.end or ""), "currency": s.currency,
             "total_amount": s.total_amount, "detail_sum": s.detail_sum, "rows": s.rows}
            for s in summary.settlements.values()
        ],
        "states": [
            {"state": state, "orders": t.orders, "refunds": t.refunds, "rows": t.rows, "total": t.total,
             "sales": sum(t.amounts[b] for b in LINE_BUCKETS), "tax": sum(t.amounts[b] for b in TAX_BUCKETS)}
            for state, t in summary.per_state().items()
        ],
        "other": [{"label": label, "rows": o.rows, "total": o.total} for label, o in sorted(summary.other.items())],
        "excluded": {"rows": summary.excluded.rows, "total": summary.excluded.total},
        "unknown_states": summary.unknown_states,
        "errors": [str(p) for p in summary.errors[:MAX_PROBLEMS_SHOWN]],
        "error_count": max(summary.error_count, len(summary.errors)),
        "warnings": [str(p) for p in summary.warnings[:MAX_PROBLEMS_SHOWN]],
        "problems": {
            "errors": [problem_json(p) for p in summary.errors[:MAX_PROBLEMS_SHOWN]],
            "warnings": [problem_json(p) for p in summary.warnings[:MAX_PROBLEMS_SHOWN]],
        },
        "orders": [
            {"settlement_id": o.settlement_id, "state": o.state, "rows": o.rows, "orders": o.orders, "refunds": o.refunds,
             "total": o.total,
             "amounts": o.amounts, "lines": {sku: asdict(line) for sku, line in sorted(o.lines.items())}}
            for o in summary.state_orders.values()
        ],
    }


def problem_json(problem: Problem) -> dict[str, Any]:
    """An error or warning as data, for API clients that point at the line themselves."""
    return {"line": problem.line, "source": problem.source, "message": problem.message}
