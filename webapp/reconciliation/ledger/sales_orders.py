"""The sales ledger: every report transaction reaches the ERP once, whichever file brings it.

An upload's reader stages its order transactions packed, a few thousand per chunk row of
``recon_transaction_chunks``. Writing a (settlement, state) locks its row in
``erp_settlement_states`` (writers of one (settlement, state) take turns: a concurrent import
waits for this one to commit), reads the keys of its transactions the ERP holds
(``erp_ledger_chunks``), and writes a sales order of exactly the staged transactions whose keys
are not among them, recording their keys with it. So its header equals its lines, and the ERP's
documents of a (settlement, state) add up to the distinct transactions of every file confirmed.
A (settlement, state) the ERP has nothing of, the common case, is written from its chunks whole.

Identical rows of one file are numbered in file order (their occurrence), so a file with three
identical rows after one with two writes one more.
"""

from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db, execute_core, on_postgresql
from webapp.models import SalesOrder, SalesOrderLine, SettlementState
from webapp.reconciliation.ledger import store
from webapp.reconciliation.ledger.sums import Tally, sort_out
from webapp.reconciliation.reader.model import TAX_BUCKETS


def everything(held: dict[int, set[bytes]]) -> set[bytes]:
    """The keys of every sales order of ``held`` together."""
    if len(held) == 1:
        return next(iter(held.values()))
    return set().union(*held.values())


def blocking_orders(settlement_id: str, state: str, kind: str) -> list[tuple[int, int | None, str]]:
    """(sales order, job, why) of the (settlement, state)'s sales orders whose transactions a ``kind`` report cannot name.

    A sales order written before transactions were tracked holds transactions nobody can name
    any more; one imported from the other report format names them differently (a Date Range row
    is a whole transaction, a settlement V2 row one of its amounts). Writing that (settlement,
    state) again from this report could count them twice, so it is not written.
    """
    sql = """
        SELECT so.id, so.job_id,
               CASE WHEN NOT EXISTS (SELECT 1 FROM erp_ledger_chunks l WHERE l.sales_order_id = so.id)
                    THEN 'before' ELSE u.report_kind END
        FROM erp_sales_orders so LEFT JOIN recon_imports u ON u.job_id = so.job_id
        WHERE so.settlement_id = :settlement_id AND so.state = :state
          AND (u.report_kind IS NULL OR u.report_kind <> :kind
               OR NOT EXISTS (SELECT 1 FROM erp_ledger_chunks l WHERE l.sales_order_id = so.id))
        ORDER BY so.id
    """
    rows = db.session.execute(text(sql), {"settlement_id": settlement_id, "state": state, "kind": kind})
    return [(order_id, job_id, blocking_words(order_id, job_id, why)) for order_id, job_id, why in rows]


def blocking_words(order_id: int, job_id: int | None, why: str | None) -> str:
    """Why a sales order stops its (settlement, state) from being written, in words."""
    by = f" by job #{job_id}" if job_id is not None else ""
    if why == "before" or why is None:
        return f"sales order #{order_id} was written{by} before transactions were tracked"
    label = {"date_range": "Date Range report", "settlement_v2": "settlement V2 file"}.get(why, why)
    return (f"sales order #{order_id} was imported{by} from a {label}, whose transactions this report "
            "cannot be matched against")


def settlement_state_id(settlement_id: str, state: str) -> int:
    """The id of the (settlement, state), made on first use, its row locked until the caller commits.

    On PostgreSQL the upsert locks the row as an UPDATE would (a second writer waits here until
    the first commits, then reads the keys it wrote); SQLite's single writer serialises the rest.
    """
    table = SettlementState.__table__
    insert = postgresql.insert if on_postgresql() else sqlite.insert
    upsert = insert(table).values(settlement_id=settlement_id, state=state)
    upsert = upsert.on_conflict_do_update(index_elements=["settlement_id", "state"], set_={"state": state})
    return int(execute_core(upsert.returning(table.c.id)).scalar_one())


def write(import_id: int, kind: str, settlement_id: str, state: str, currency: str, job_id: int) -> tuple[int | None, str]:
    """Write the upload's transactions of one (settlement, state) that the ERP lacks, as one sales order.

    Returns the sales order's id (None when nothing was new) and what was written, in words.
    The caller commits: the keys, the order and the record's outcome are one transaction.
    """
    key = settlement_state_id(settlement_id, state)
    blocking = [row for row in blocking_orders(settlement_id, state, kind) if row[1] != job_id]
    if blocking:
        return None, f"nothing written: {blocking[0][2]}"
    done = db.session.execute(db.select(SalesOrder.id).filter_by(settlement_id=settlement_id, state=state, job_id=job_id)).scalar()
    if done is not None:
        return done, "written before"
    claimed = Tally()
    keys, _ = sort_out(import_id, settlement_id, state, everything(store.held_keys(key)), claimed)
    if not keys:
        return None, "nothing new: every transaction is already in the ERP"
    lines = order_lines(claimed)
    order_id = execute_core(SalesOrder.__table__.insert().values(
        settlement_id=settlement_id, state=state, currency=currency, orders=len(claimed.orders),
        total_cents=sum(line["amount_cents"] for line in lines), job_id=job_id,
    ).returning(SalesOrder.__table__.c.id)).scalar_one()
    for number, line in enumerate(lines, start=1):
        line.update(line_no=number, sales_order_id=order_id)
    execute_core(SalesOrderLine.__table__.insert(), lines)
    store.save_keys(key, order_id, keys)
    return order_id, f"{len(keys):,} transaction{'s' if len(keys) != 1 else ''} written"


def order_lines(claimed: Tally) -> list[dict[str, Any]]:
    """A sales order's lines: one per SKU (in SKU order), then one per kind of tax that is not zero."""
    lines = [{"line_type": "sku", "code": sku[:64], "quantity": units, "amount_cents": cents}
             for sku, (units, cents) in sorted(claimed.skus.items())]
    return lines + [{"line_type": "tax", "code": bucket, "quantity": 0, "amount_cents": cents}
                    for bucket, cents in zip(TAX_BUCKETS, claimed.tax, strict=True) if cents]
