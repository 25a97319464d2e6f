"""Tasks of the orchestration benchmark, loaded by its workers through CELERY_EXTRA_IMPORTS.

The baseline is the canvas the Celery tutorials teach: chord(group(chain(fetch.si(i), make.s()))
→ finalize.s()), with bodies that do nothing, on the same queues and workers as Celeriac's steps.
The I/O section's ceiling is the BOM job's shape, chain(GET from the ERP → make → make), with
bodies that only make the HTTP call: what any canvas of that shape can reach on the machine.

With BENCH_NO_IO=1 the workers also swap Celeriac's two I/O calls for in-process stand-ins: the
ERP fetch answers from the sandbox's data without HTTP, and the PO write returns an id without
touching the ERP tables. Everything else a step does (record states, task runs, the cancel
check, the chord) is the real code, so the difference to the baseline is Celeriac's own cost.
"""

import os
from typing import Any

from celery import shared_task


@shared_task(name="bench.plain_fetch")
def plain_fetch(record_id: int) -> dict[str, Any]:
    """Baseline fetch: return a small document at once."""
    return {"record": record_id, "po_number": f"PO-{100_000 + record_id}"}


@shared_task(name="bench.plain_make")
def plain_make(document: dict[str, Any]) -> dict[str, Any]:
    """Baseline make: take the fetched document and report success."""
    return {"record": document["record"], "ok": True}


@shared_task(name="bench.plain_erp_fetch")
def plain_erp_fetch(url: str) -> dict[str, Any]:
    """Ceiling fetch: GET the document from the sandbox ERP on Celeriac's keep-alive session per
    thread (webapp.erp_client.session), and nothing else (no SQL, no validation)."""
    from webapp.erp_client import session

    response = session().get(url, timeout=10)
    response.raise_for_status()
    return {"record": url.rsplit("/", 1)[-1], "ok": True}


@shared_task(name="bench.plain_finalize")
def plain_finalize(outcomes: list[dict[str, Any]]) -> int:
    """Baseline chord body: count the successes."""
    return sum(1 for outcome in outcomes if outcome["ok"])


def sandbox_document(path: str, what: str) -> Any:
    """The ERP's answer for ``path`` straight from the sandbox data (no HTTP). A PO number beyond
    the sandbox's 2,000 gets the document of one it has, under its own number, so that jobs of any
    size can be measured."""
    from webapp.sandbox import data

    key = path.rsplit("/", 1)[-1]
    if not path.startswith("/purchase-orders/"):
        return data.bill_of_materials(key)
    document = data.purchase_order(key)
    if document is None and data.po_index(key) is None and data.PO_PATTERN.fullmatch(key):
        document = dict(data.purchase_order(f"PO-{data.PO_FIRST + int(key[3:]) % data.PO_COUNT}"), po_number=key)
    return document


def no_write(document: dict[str, Any], job_id: int) -> int:
    """Stand-in for the PO write: an id derived from the PO number, nothing written."""
    return int(document["po_number"][3:])


if os.environ.get("BENCH_NO_IO") == "1":
    import tasks.steps
    import webapp.erp_writes.purchase_orders

    tasks.steps.get_json = sandbox_document
    webapp.erp_writes.purchase_orders.write_purchase_order = no_write
