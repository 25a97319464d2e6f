"""Sales orders: the transactions of a confirmed upload's (settlement, state) that the ERP lacks."""

from sqlalchemy import Row

from webapp.erp_writes.written import Unwritable, Written
from webapp.reconciliation.ledger import sales_orders


def write_record(record: Row, job_id: int) -> Written:
    """Write the transactions of the record's (settlement, state) that the ERP lacks, as one sales order. Caller commits."""
    payload = record.payload or {}
    if "import_id" not in payload:
        raise Unwritable("confirmed before transactions were tracked: upload the file again")
    order_id, words = sales_orders.write(payload["import_id"], payload["kind"], payload["settlement_id"], payload["state"],
                                         payload["currency"], job_id)
    if order_id is None:
        return Written(None, note=words)  # why nothing was written, on the row
    return Written(str(order_id))
