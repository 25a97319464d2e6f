"""The sales ledger: every report transaction reaches the ERP once, whichever file brings it.

An upload's reader stages one row per order transaction (``recon_transactions``). Writing a
(settlement, state) claims its staged transactions in ``erp_sales_order_transactions``, whose key
is (settlement and state, transaction hash, occurrence): an INSERT … ON CONFLICT DO NOTHING, so a
transaction that any import wrote before is skipped; writers of one (settlement, state) take turns
on its row in ``erp_settlement_states``, so a concurrent import claims after this one commits. The sales order is then made of exactly the
transactions this import claimed, so its header equals its lines, and the ERP's documents of a
(settlement, state) add up to the distinct transactions of every file confirmed.

Identical rows of one file are numbered by line (their occurrence), so a file with three
identical rows after one with two writes one more.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db, execute_core, on_postgresql
from webapp.models import SalesOrder, SalesOrderLine, SettlementState
from webapp.recon.model import TAX_BUCKETS
from webapp.recon.transactions import STAGED_COLUMNS

LINE_SUM = "product_sales + shipping + gift_wrap + promotions"
TAX_SUM = " + ".join(TAX_BUCKETS)
NUMBERED = """
    SELECT r.*, row_number() OVER (PARTITION BY settlement_id, state, txn_hash ORDER BY line) - 1 AS occurrence
    FROM recon_transactions r WHERE import_id = :import_id {only_group}
"""
GROUP = "AND settlement_id = :settlement_id AND state = :state"


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


COLUMNS = ("import_id", *STAGED_COLUMNS)


@contextmanager
def staging(import_id: int) -> Iterator[Callable[[list[tuple]], None]]:
    """A function that stages batches of the reader's rows (webapp.recon.transactions) for an upload.

    On PostgreSQL the rows stream through one COPY on a connection of their own, committed when
    the block ends: the server inserts them while the reader reads on, instead of the reader
    waiting at each batch (the session meanwhile commits the progress). On SQLite, whose writers
    take turns, each batch is inserted in the session's transaction.
    """
    if not on_postgresql():
        marks = ", ".join("?" * len(COLUMNS))
        insert = f"INSERT INTO recon_transactions ({', '.join(COLUMNS)}) VALUES ({marks})"
        yield lambda rows: db.session.connection().exec_driver_sql(insert, [(import_id, *row) for row in rows])
        return
    connection = db.engine.raw_connection()
    try:
        with connection.driver_connection.cursor() as cursor, \
                cursor.copy(f"COPY recon_transactions ({', '.join(COLUMNS)}) FROM STDIN") as copy:

            def write(rows: list[tuple]) -> None:
                for row in rows:
                    copy.write_row((import_id, *row))

            yield write
        connection.commit()
    finally:
        connection.close()  # back to the pool; rolled back if the COPY did not end


def clear(import_id: int) -> None:
    """Drop an upload's staged rows (before reading it again, or once they can never be written)."""
    db.session.execute(text("DELETE FROM recon_transactions WHERE import_id = :import_id"), {"import_id": import_id})


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
    sql = f"""
        WITH t AS ({NUMBERED.format(only_group=GROUP)})
        SELECT l.sales_order_id IS NOT NULL AS imported, so.job_id, count(*),
               count(DISTINCT CASE WHEN NOT t.refund THEN t.order_key END),
               count(DISTINCT CASE WHEN t.refund THEN t.order_key END),
               sum(t.product_sales), sum({TAX_SUM}), sum(t.total), sum({LINE_SUM} + {TAX_SUM})
        FROM t
        JOIN erp_settlement_states k ON k.settlement_id = :settlement_id AND k.state = :state
        LEFT JOIN erp_sales_order_transactions l
               ON l.settlement_state_id = k.id AND l.txn_hash = t.txn_hash AND l.occurrence = t.occurrence
        LEFT JOIN erp_sales_orders so ON so.id = l.sales_order_id
        GROUP BY l.sales_order_id IS NOT NULL, so.job_id
    """
    found = Comparison()
    params = {"import_id": import_id, "settlement_id": settlement_id, "state": state}
    for imported, job_id, *numbers in db.session.execute(text(sql), params):
        add(found.imported if imported else found.new, numbers)
        if imported and job_id is not None and job_id not in found.jobs:
            found.jobs.append(job_id)
    return found


def add(figures: Figures, numbers: Any) -> None:
    """Add a result row's counts and sums (in Figures' field order) to ``figures``."""
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
               CASE WHEN NOT EXISTS (SELECT 1 FROM erp_sales_order_transactions l WHERE l.sales_order_id = so.id)
                    THEN 'before' ELSE u.report_kind END
        FROM erp_sales_orders so LEFT JOIN recon_imports u ON u.job_id = so.job_id
        WHERE so.settlement_id = :settlement_id AND so.state = :state
          AND (u.report_kind IS NULL OR u.report_kind <> :kind
               OR NOT EXISTS (SELECT 1 FROM erp_sales_order_transactions l WHERE l.sales_order_id = so.id))
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
    """The id of the (settlement, state), made on first use; its row stays locked until the caller commits."""
    table = SettlementState.__table__
    insert = postgresql.insert if on_postgresql() else sqlite.insert
    upsert = insert(table).values(settlement_id=settlement_id, state=state)
    upsert = upsert.on_conflict_do_update(index_elements=["settlement_id", "state"], set_={"state": state})
    return int(execute_core(upsert.returning(table.c.id)).scalar_one())


def write(import_id: int, kind: str, settlement_id: str, state: str, currency: str, job_id: int,
          rows: int) -> tuple[int | None, str]:
    """Write the upload's transactions of one (settlement, state) (``rows`` of them) that the ERP lacks, as one sales order.

    Returns the sales order's id (None when nothing was new) and what was written, in words.
    The caller commits: the claims, the order and the record's outcome are one transaction.
    """
    key = settlement_state_id(settlement_id, state)
    blocking = [row for row in blocking_orders(settlement_id, state, kind) if row[1] != job_id]
    if blocking:
        return None, f"nothing written: {blocking[0][2]}"
    done = db.session.execute(db.select(SalesOrder.id).filter_by(settlement_id=settlement_id, state=state, job_id=job_id)).scalar()
    if done is not None:
        return done, "written before"
    order_id = execute_core(SalesOrder.__table__.insert().values(
        settlement_id=settlement_id, state=state, currency=currency, orders=0, total_cents=0, job_id=job_id,
    ).returning(SalesOrder.__table__.c.id)).scalar_one()
    claimed = claim(import_id, settlement_id, state, key, order_id)
    if claimed == 0:
        execute_core(SalesOrder.__table__.delete().where(SalesOrder.__table__.c.id == order_id))
        return None, "nothing new: every transaction is already in the ERP"
    fill(import_id, settlement_id, state, key, order_id, whole=claimed == rows)
    return order_id, f"{claimed:,} transaction{'s' if claimed != 1 else ''} written"


def claim(import_id: int, settlement_id: str, state: str, key: int, order_id: int) -> int:
    """Claim the group's transactions that no sales order holds yet for ``order_id``; return how many.

    Writers of one (settlement, state) take turns on its row (``settlement_state_id``), so the
    unique key settles only what a lock cannot: nothing, unless a row was claimed outside ``write``.
    The numbering reads two columns, not the whole row, so its sort stays small.
    """
    sql = f"""
        INSERT INTO erp_sales_order_transactions (settlement_state_id, txn_hash, occurrence, sales_order_id)
        SELECT :key, txn_hash, row_number() OVER (PARTITION BY txn_hash ORDER BY line) - 1, :order_id
        FROM recon_transactions WHERE import_id = :import_id {GROUP}
        ON CONFLICT DO NOTHING
    """
    params = {"import_id": import_id, "settlement_id": settlement_id, "state": state, "key": key, "order_id": order_id}
    return db.session.execute(text(sql), params).rowcount


def fill(import_id: int, settlement_id: str, state: str, key: int, order_id: int, whole: bool) -> None:
    """Give the sales order its lines (one per SKU, then one per kind of tax) and header, from what it claimed.

    With ``whole``, it claimed every transaction of the (settlement, state): its rows are summed as
    they are, without looking each up in the ledger.
    """
    claimed = f"SELECT * FROM recon_transactions WHERE import_id = :import_id {GROUP}" if whole else f"""
        SELECT t.* FROM ({NUMBERED.format(only_group=GROUP)}) t
        JOIN erp_sales_order_transactions l
          ON l.settlement_state_id = :key AND l.txn_hash = t.txn_hash AND l.occurrence = t.occurrence
        WHERE l.sales_order_id = :order_id
    """
    params = {"import_id": import_id, "settlement_id": settlement_id, "state": state, "key": key, "order_id": order_id}
    skus = db.session.execute(text(f"SELECT sku, sum(units), sum({LINE_SUM}) FROM ({claimed}) c GROUP BY sku ORDER BY sku"), params)
    lines = [{"line_type": "sku", "code": sku[:64], "quantity": int(units), "amount_cents": int(cents)}
             for sku, units, cents in skus]
    taxes = ", ".join(f"sum({bucket})" for bucket in TAX_BUCKETS)
    head = db.session.execute(text(f"SELECT count(DISTINCT CASE WHEN NOT refund THEN order_key END), {taxes} FROM ({claimed}) c"),
                              params).one()
    lines += [{"line_type": "tax", "code": bucket, "quantity": 0, "amount_cents": int(cents)}
              for bucket, cents in zip(TAX_BUCKETS, head[1:], strict=True) if cents]
    for number, line in enumerate(lines, start=1):
        line.update(line_no=number, sales_order_id=order_id)
    if lines:
        execute_core(SalesOrderLine.__table__.insert(), lines)
    table = SalesOrder.__table__
    execute_core(table.update().where(table.c.id == order_id).values(
        orders=int(head[0]), total_cents=sum(line["amount_cents"] for line in lines)))

