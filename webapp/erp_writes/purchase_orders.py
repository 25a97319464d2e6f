"""Purchase orders: validate the ERP's document, write the PO idempotently."""

import re
from datetime import date
from typing import Any

from sqlalchemy import Row

from webapp.erp_client import PermanentError
from webapp.erp_writes.upsert import insert_ignoring_duplicates, insert_or_find_id
from webapp.erp_writes.written import Unwritable, Written
from webapp.extensions import execute_core
from webapp.models import PurchaseOrder, PurchaseOrderLine

CURRENCY = re.compile(r"^[A-Z]{3}$")


def validate_po(po_number: str, data: Any) -> dict[str, Any]:
    """Check the ERP's PO document; raise PermanentError naming what is wrong."""
    if not isinstance(data, dict):
        raise PermanentError(f"the ERP sent {po_number} as {type(data).__name__}, not an object")
    if data.get("po_number") != po_number:
        raise PermanentError(f"the ERP answered for {po_number} with PO {data.get('po_number')!r}")
    supplier = data.get("supplier") or {}
    if not supplier.get("code") or not supplier.get("name"):
        raise PermanentError(f"{po_number} has no supplier code or name")
    if not CURRENCY.match(str(data.get("currency", ""))):
        raise PermanentError(f"{po_number} has an invalid currency {data.get('currency')!r}")
    try:
        date.fromisoformat(str(data.get("order_date")))
    except ValueError:
        raise PermanentError(f"{po_number} has an invalid order date {data.get('order_date')!r}") from None
    lines = data.get("lines")
    if not isinstance(lines, list) or not lines:
        raise PermanentError(f"{po_number} has no lines")
    for index, line in enumerate(lines, start=1):
        validate_line(po_number, index, line)
    total = sum(line["quantity"] * line["unit_price_cents"] for line in lines)
    if data.get("total_cents") != total:
        raise PermanentError(f"{po_number}: total {data.get('total_cents')!r} is not the sum of its lines ({total})")
    return data


def validate_line(po_number: str, index: int, line: Any) -> None:
    """Check one PO line: integer quantity and price in cents, a SKU, a line number."""
    if not isinstance(line, dict):
        raise PermanentError(f"{po_number} line {index} is not an object")
    for field in ("line_no", "quantity", "unit_price_cents"):
        value = line.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise PermanentError(f"{po_number} line {index}: {field} must be a whole number ≥ 0, got {value!r}")
    if line["quantity"] == 0:
        raise PermanentError(f"{po_number} line {index}: quantity is 0")
    if not line.get("sku"):
        raise PermanentError(f"{po_number} line {index} has no SKU")


def write_purchase_order(data: dict[str, Any], job_id: int) -> int:
    """Insert the PO header and lines unless they exist; return the PO's id. Caller commits."""
    po_number = data["po_number"]
    header = {
        "po_number": po_number,
        "supplier_code": data["supplier"]["code"],
        "supplier_name": data["supplier"]["name"][:200],
        "currency": data["currency"],
        "order_date": date.fromisoformat(data["order_date"]),
        "total_cents": data["total_cents"],
        "job_id": job_id,
    }
    po_id = insert_or_find_id(PurchaseOrder, header, "po_number")
    rows = [
        {
            "purchase_order_id": po_id,
            "line_no": line["line_no"],
            "sku": str(line["sku"])[:64],
            "description": str(line.get("description", ""))[:255],
            "quantity": line["quantity"],
            "unit_price_cents": line["unit_price_cents"],
        }
        for line in data["lines"]
    ]
    execute_core(insert_ignoring_duplicates(PurchaseOrderLine, index_elements=["purchase_order_id", "line_no"]), rows)
    return po_id


def write_record(record: Row, job_id: int) -> Written:
    """Write the PO the record fetched; raise Unwritable if it fetched nothing. Caller commits."""
    if not record.payload:
        raise Unwritable("no ERP data was fetched for this purchase order")
    return Written(str(write_purchase_order(record.payload, job_id)))
