"""Comparing an upload with the sales ledger, for its preview: per (settlement, state), what is new and what the ERP has."""

from dataclasses import dataclass, field
from typing import Any

from webapp.extensions import db
from webapp.models import SalesOrder, SettlementState
from webapp.reconciliation.ledger import store
from webapp.reconciliation.ledger.sales_orders import blocking_orders, everything
from webapp.reconciliation.ledger.sums import Tally, sort_out


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
    held = store.held_keys(key)
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


def add(figures: Figures, numbers: Any) -> None:
    """Add counts and sums (in Figures' field order) to ``figures``."""
    for name, number in zip(vars(figures), numbers, strict=True):
        setattr(figures, name, getattr(figures, name) + int(number or 0))
