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

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from tasks import ledger_store
from tasks.ledger_sums import Tally, sort_out
from webapp.extensions import db, execute_core, on_postgresql
from webapp.models import SalesOrder, SalesOrderLine, SettlementState
from webapp.reconciliation.reader.model import TAX_BUCKETS

staging, clear = ledger_store.staging, ledger_store.clear  # the read step's, named where the ledger is


@dataclass
class Figures:
    """Rows and money (cents) of some transactions of one (settlement, state)."""

    rows: int = 0
    orders: int = 0
    refunds: int = 0
    product_sales: int = 0
    tax: int = 0
    total: int = 0  # net proceeds, fees included
    order_total: int = 0  # what a sales order of them totals: SKU lines and tax

    def as_json(self) -> dict[str, int]:
        """The figures as stored in the preview."""
        return dict(vars(self))


@dataclass
class Comparison:
    """One (settlement, state) of an upload against the ERP: what is new, what is there already and by which jobs."""

    new: Figures = field(default_factory=Figures)
    imported: Figures = field(default_factory=Figures)
    jobs: list[int] = field(default_factory=list)
    blocked: str | None = None  # why none of it may be written (see ``blocking_orders``)


def compare(import_id: int, kind: str, fresh: dict[tuple[str, str], Figures]) -> dict[tuple[str, str], Comparison]:
    """Each (settlement, state) of the upload (a report of ``kind``): its transactions not yet in the ERP, and those that are.

    ``fresh`` holds the reader's figures of every (settlement, state): those the ERP has never had
    sales for are new as a whole, which is most of every import; only the others are looked up.
    """
    known = settlement_states({settlement_id for settlement_id, _ in fresh})
    result: dict[tuple[str, str], Comparison] = {}
    for group, figures in fresh.items():
        result[group] = compare_group(import_id, *group) if group in known else Comparison(new=figures)
        order_id, job_id, reason = next(iter(blocking_orders(*group, kind)), (None, None, None))
        if reason is not None:
            found = result[group]
            add(found.imported, vars(found.new).values())
            found.new, found.blocked = Figures(), reason
            if job_id is not None and job_id not in found.jobs:
                found.jobs.append(job_id)
    return result


def settlement_states(settlement_ids: set[str]) -> set[tuple[str, str]]:
    """The (settlement, state)s of these settlements that the ERP has had sales for."""
    table = SettlementState.__table__
    query = db.select(table.c.settlement_id, table.c.state).where(table.c.settlement_id.in_(sorted(settlement_ids)))
    return {(settlement_id, state) for settlement_id, state in db.session.execute(query)}


def compare_group(import_id: int, settlement_id: str, state: str) -> Comparison:
    """One (settlement, state) of the upload against the transactions the ERP holds of it."""
    table = SettlementState.__table__
    key = db.session.execute(db.select(table.c.id).filter_by(settlement_id=settlement_id, state=state)).scalar()
    held = ledger_store.held_keys(key)
    new, old = Tally(), Tally()
    _, known = sort_out(import_id, settlement_id, state, everything(held), new, old)
    holders = [order_id for order_id, keys in sorted(held.items()) if not keys.isdisjoint(known)]
    jobs: list[int] = []
    if holders:
        query = db.select(SalesOrder.id, SalesOrder.job_id).where(SalesOrder.id.in_(holders)).order_by(SalesOrder.id)
        for _, job_id in db.session.execute(query):
            if job_id is not None and job_id not in jobs:
                jobs.append(job_id)
    return Comparison(new=Figures(**new.figures()), imported=Figures(**old.figures()), jobs=jobs)


def everything(held: dict[int, set[bytes]]) -> set[bytes]:
    """The keys of every sales order of ``held`` together."""
    if len(held) == 1:
        return next(iter(held.values()))
    return set().union(*held.values())


def add(figures: Figures, numbers: Any) -> None:
    """Add counts and sums (in Figures' field order) to ``figures``."""
    for name, number in zip(vars(figures), numbers, strict=True):
        setattr(figures, name, getattr(figures, name) + int(number or 0))


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
    keys, _ = sort_out(import_id, settlement_id, state, everything(ledger_store.held_keys(key)), claimed)
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
    ledger_store.save_keys(key, order_id, keys)
    return order_id, f"{len(keys):,} transaction{'s' if len(keys) != 1 else ''} written"


def order_lines(claimed: Tally) -> list[dict[str, Any]]:
    """A sales order's lines: one per SKU (in SKU order), then one per kind of tax that is not zero."""
    lines = [{"line_type": "sku", "code": sku[:64], "quantity": units, "amount_cents": cents}
             for sku, (units, cents) in sorted(claimed.skus.items())]
    return lines + [{"line_type": "tax", "code": bucket, "quantity": 0, "amount_cents": cents}
                    for bucket, cents in zip(TAX_BUCKETS, claimed.tax, strict=True) if cents]
