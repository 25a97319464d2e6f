"""Reconciliation jobs in the JSON API: the upload's size limit, its launch, and its preview as data.

The checks and the launch are webapp/reconciliation/imports.py's, the same as the dashboard's; this module only
reads the request and turns the stored preview into what API clients get.
"""

import os
import re
from typing import Any

from flask import abort, current_app, request
from werkzeug.datastructures import FileStorage

from webapp.api.responses import iso
from webapp.extensions import db
from webapp.jobs.kinds import RECONCILIATION
from webapp.models import Job, Operator, ReconImport
from webapp.reconciliation import imports as reconcile
from webapp.reconciliation.reader.model import PRODUCT_SALES, TAX_BUCKETS
from webapp.reconciliation.reading import reading_speed

MULTIPART = "multipart/form-data"
PROBLEM_TEXT = re.compile(r"^(?:(?P<source>.+?) )?line (?P<line>\d+): (?P<message>.*)$", re.DOTALL)


def lift_upload_limit() -> None:
    """Let a multipart body grow to RECON_MAX_UPLOAD_BYTES: its kind is only known once it is parsed."""
    if request.mimetype == MULTIPART:
        request.max_content_length = current_app.config["RECON_MAX_UPLOAD_BYTES"]


def keep_small_limit() -> None:
    """Every kind but a reconciliation keeps MAX_CONTENT_LENGTH: answer 413 for a larger body."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.max_content_length == limit or limit is None:
        return
    request.max_content_length = limit  # the 413 page names this limit
    if body_size() > limit:
        abort(413)


def body_size() -> int:
    """Bytes of the request body: its Content-Length, or (chunked) the size of its parsed files."""
    if request.content_length is not None:
        return request.content_length
    return sum(file_size(upload) for upload in request.files.values())


def file_size(upload: FileStorage) -> int:
    """The size of a parsed upload, its stream left at the start."""
    size = upload.stream.seek(0, os.SEEK_END)
    upload.stream.seek(0)
    return size


def launch(operator: Operator) -> Job:
    """Save the multipart ``file`` (and ``orders``) and start reading them; ReconError in words if it cannot."""
    if request.mimetype != MULTIPART:
        raise reconcile.ReconError("a reconciliation reads a report: upload it as multipart 'file' (and 'orders' "
                                   "for a settlement V2 file) instead of sending 'keys'")
    return reconcile.launch_reconciliation(request.files.get("file"), request.files.get("orders"), operator)


def details(job: Job) -> dict[str, Any]:
    """``{"reconciliation": ...}`` for a reconciliation job with its upload, else nothing."""
    if job.kind != RECONCILIATION.name:
        return {}
    upload = db.session.execute(db.select(ReconImport).filter_by(job_id=job.id)).scalar_one_or_none()
    return {"reconciliation": upload_json(upload)} if upload is not None else {}


def upload_json(upload: ReconImport) -> dict[str, Any]:
    """The upload, how far its reading got, and its preview (empty lists until it is read)."""
    preview = upload.preview or {}
    earlier = reconcile.earlier_import(upload)
    return {
        "filename": upload.filename, "orders_filename": upload.orders_filename, "report_kind": upload.report_kind,
        "encoding": upload.encoding, "sha256": upload.sha256, **reading_json(upload),
        "confirmed_at": iso(upload.confirmed_at), "confirmed_by": upload.confirmed_by,
        "already_imported": {"job_id": earlier.job_id, "confirmed_at": iso(earlier.confirmed_at),
                             "confirmed_by": earlier.confirmed_by} if earlier else None,
        "nothing_new": preview.get("nothing_new"), "imported_jobs": preview.get("imported_jobs"),
        "total": preview.get("total"),
        "settlements": preview.get("settlements", []), "states": preview.get("states", []),
        "orders": [order_json(order) for order in preview.get("orders", [])],
        "other": preview.get("other", []), "excluded": preview.get("excluded"),
        "errors": problems(preview, "errors"), "warnings": problems(preview, "warnings"),
        "error_count": upload.error_count,
    }


def reading_json(upload: ReconImport) -> dict[str, Any]:
    """Rows and bytes read of the file's size; while reading, the percentage, rate and seconds left."""
    reading = upload.read_started_at is not None and upload.read_finished_at is None
    speed = reading_speed(upload)
    percent = min(100, upload.bytes_read * 100 // upload.size_bytes) if upload.size_bytes else 100
    return {
        "rows_read": upload.rows_read, "bytes_read": upload.bytes_read, "size_bytes": upload.size_bytes,
        "reading": reading, "read_percent": percent if upload.read_started_at else 0,
        "rows_per_second": round(speed.rate, 1) if speed.rate is not None else None, "eta_seconds": speed.eta,
        "read_started_at": iso(upload.read_started_at), "read_finished_at": iso(upload.read_finished_at),
    }


def order_json(order: dict[str, Any]) -> dict[str, Any]:
    """One (settlement, state) sales order of the preview: counts and cents, and new vs imported when known."""
    amounts = order.get("amounts", {})
    return {
        "settlement_id": order["settlement_id"], "state": order["state"], "rows": order.get("rows"),
        "orders": order["orders"], "refunds": order["refunds"], "product_sales": amounts.get(PRODUCT_SALES, 0),
        "tax": sum(amounts.get(bucket, 0) for bucket in TAX_BUCKETS), "total": sum(amounts.values()),
        "amounts": amounts, "new": order.get("new"), "imported": order.get("imported"), "blocked": order.get("blocked"),
    }


def problems(preview: dict[str, Any], which: str) -> list[dict[str, Any]]:
    """The preview's errors or warnings as {line, source, message} (parsed from the text for older previews)."""
    if "problems" in preview:
        return preview["problems"].get(which, [])
    return [problem_from_text(text) for text in preview.get(which, [])]


def problem_from_text(text: str) -> dict[str, Any]:
    """An error or warning stored as text ("source line N: message") as data."""
    match = PROBLEM_TEXT.match(text)
    if match is None:
        return {"line": None, "source": "", "message": text}
    return {"line": int(match["line"]), "source": match["source"] or "", "message": match["message"]}
