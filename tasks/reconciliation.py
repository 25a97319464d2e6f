"""Reconciliation steps as plain functions: read the upload with progress, keep its preview, write sales orders.

Reading happens in a worker, never in the request: the file is streamed once (constant memory),
progress (rows and bytes) is saved about twice a second for the job page, and the result is a
preview stored as JSON. Only the operator's confirmation turns it into records, one per
(settlement, state), each written as one ERP sales order.
"""

import time
from dataclasses import asdict
from typing import Any

from tasks.upsert import insert_ignoring_duplicates, insert_or_find_id
from webapp.extensions import db, execute_core
from webapp.models import Job, JobStatus, ReconImport, SalesOrder, SalesOrderLine, utcnow
from webapp.recon.model import LINE_BUCKETS, TAX_BUCKETS, Problem, ReportSummary
from webapp.recon.reader import preview

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

    summary = preview(upload.path, upload.orders_path, progress=progress)
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
        job.status = JobStatus.AWAITING_CONFIRMATION
    else:
        job.status = JobStatus.FAILED
        job.finished_at = utcnow()
        job.error = failure_words(summary)
    db.session.commit()


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
             "amounts": o.amounts, "lines": {sku: asdict(line) for sku, line in sorted(o.lines.items())}}
            for o in summary.state_orders.values()
        ],
    }


def problem_json(problem: Problem) -> dict[str, Any]:
    """An error or warning as data, for API clients that point at the line themselves."""
    return {"line": problem.line, "source": problem.source, "message": problem.message}


def sales_order_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The lines of one state's sales order: one per SKU (sales, shipping, wrap, promotions), then one per tax."""
    lines = []
    for sku, line in sorted(order["lines"].items()):
        amount = sum(line[bucket] for bucket in LINE_BUCKETS)
        lines.append({"line_type": "sku", "code": sku[:64], "quantity": line["quantity"], "amount_cents": amount})
    for bucket in TAX_BUCKETS:
        if order["amounts"].get(bucket):
            lines.append({"line_type": "tax", "code": bucket, "quantity": 0, "amount_cents": order["amounts"][bucket]})
    return [dict(line, line_no=number) for number, line in enumerate(lines, start=1)]


def write_sales_order(order: dict[str, Any], currency: str, job_id: int) -> int:
    """Insert the (settlement, state) sales order and its lines unless present; return its id. Caller commits."""
    lines = sales_order_lines(order)
    header = {"settlement_id": order["settlement_id"], "state": order["state"], "currency": currency, "orders": order["orders"],
              "total_cents": sum(line["amount_cents"] for line in lines), "job_id": job_id}
    order_id = insert_or_find_id(SalesOrder, header, "settlement_id", "state")
    if lines:
        execute_core(
            insert_ignoring_duplicates(SalesOrderLine, index_elements=["sales_order_id", "line_no"]),
            [dict(line, sales_order_id=order_id) for line in lines],
        )
    return order_id
