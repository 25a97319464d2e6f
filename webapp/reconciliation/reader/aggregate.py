"""Adding rows up into a ReportSummary, for either report family, without keeping the rows."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress

from webapp.reconciliation.reader.amounts import format_cents
from webapp.reconciliation.reader.model import (
    BUCKETS,
    LINE_BUCKETS,
    UNKNOWN_STATE,
    OtherTotal,
    Problem,
    ReportSummary,
    Settlement,
    SkuLine,
    StateOrder,
)
from webapp.reconciliation.reader.states import FOREIGN, MILITARY, TERRITORY, StateValue

MAX_PROBLEMS = 100


@dataclass
class Note:
    """A warning that can occur on many rows: shown once, with a count, a total and its first line."""

    message: str
    line: int | None
    count: int = 0
    cents: int = 0
    source: str | None = None  # the file it is about, when not the aggregator's


@dataclass
class Acc:
    """Running sums of one (settlement, state); plain lists and sets, because this runs once per row.

    Each SKU's list holds the amounts in layout order, then the net units; the state's
    amounts are the sum of its SKU tuples, worked out once at the end.
    """

    lines: dict[str, list[int]] = field(default_factory=dict)
    orders: set[int] = field(default_factory=set)
    refunds: set[int] = field(default_factory=set)
    rows: int = 0


class Aggregator:
    """Collects order rows, other rows, errors and counted warnings into a ReportSummary."""

    acc_type: type[Acc] = Acc

    def __init__(self, summary: ReportSummary, *, lenient_states: bool = False, source: str = "") -> None:
        self.summary = summary
        self.lenient_states = lenient_states
        self.source = source
        self.notes: dict[str, Note] = {}
        self.accs: dict[tuple[str, str], Acc] = {}
        self.use_layout(list(BUCKETS))

    def error(self, line: int | None, message: str, source: str | None = None) -> None:
        """Record an error; past MAX_PROBLEMS only count it."""
        self.summary.error_count += 1
        if len(self.summary.errors) < MAX_PROBLEMS:
            self.summary.errors.append(Problem(line, message, self.source if source is None else source))

    def note(self, key: str, line: int | None, message: str, cents: int = 0, source: str | None = None) -> None:
        """Count a warning under ``key``; the message and line of its first occurrence are kept."""
        note = self.notes.get(key)
        if note is None:
            note = self.notes[key] = Note(message, line, source=source)
        note.count += 1
        note.cents += cents

    def settlement(self, settlement_id: str) -> Settlement:
        """The Settlement record for an id, created on first sight."""
        found = self.summary.settlements.get(settlement_id)
        if found is None:
            found = self.summary.settlements[settlement_id] = Settlement(settlement_id)
        return found

    def state_code(self, value: StateValue, line: int, what: str) -> str | None:
        """The state bucket for a row, or None when the row stays out of the state aggregation."""
        if value.code:
            if value.kind in (TERRITORY, MILITARY):
                message = (f"{value.kind} {value.code}: its rows make their own {value.code} order, as the file gives "
                           "them (totals unaffected); flagged for review")
                self.note(f"{value.kind}:{value.code}", line, message)
            return value.code
        if value.kind == FOREIGN:
            self.note(f"foreign:{value.raw}", line, f"{what} {value.raw!r} is outside the US: left out of the state "
                      "orders and counted in the excluded total, so the US state totals are unaffected")
            return None
        self.summary.unknown_states[value.raw] = self.summary.unknown_states.get(value.raw, 0) + 1
        if self.lenient_states:
            self.note(f"unknown:{value.raw}", line, f"{what} {value.raw!r} is not a US state: counted in an UNKNOWN "
                      "order (lenient states); the file total is unaffected, but no state's total includes it")
            return UNKNOWN_STATE
        shown = "blank" if not value.raw.strip() else f"{value.raw!r} is not a US state"
        self.error(line, f"{what} {shown} (order rows need a US ship-to state)")
        return None

    def use_layout(self, layout: list[str]) -> None:
        """Name the bucket of each slot of the amount vectors that ``order_row`` receives."""
        self.layout = layout
        self.slots = range(len(layout))

    def order_row(self, key: tuple[str, str], order: int, refund: bool, sku: str, units: int,
                  values: Sequence[int]) -> Acc:
        """Add one order row: signed units, and ``values``, its amounts in layout order; returns its Acc."""
        acc = self.accs.get(key)
        if acc is None:
            acc = self.accs[key] = self.acc_type()
        self.acc_row(acc, order, refund, sku, units, values)
        return acc

    def acc_row(self, acc: Acc, order: int, refund: bool, sku: str, units: int, values: Sequence[int]) -> None:
        """``order_row`` for a caller that already holds the row's Acc."""
        acc.rows += 1
        (acc.refunds if refund else acc.orders).add(order)
        line = acc.lines.get(sku)
        if line is None:
            acc.lines[sku] = [*values, units]
            return
        for slot in compress(self.slots, values):  # most amounts are zero: add only the others
            line[slot] += values[slot]
        line[-1] += units

    def order_amount(self, key: tuple[str, str], order: int, refund: bool, sku: str, units: int,
                     slot: int, cents: int) -> None:
        """Add one order row that carries a single amount, in layout slot ``slot``."""
        values = [0] * len(self.layout)
        values[slot] = cents
        self.order_row(key, order, refund, sku, units, values)

    def other_row(self, label: str, cents: int) -> None:
        """Add a row that is not a sales order line to the totals of its kind."""
        other = self.summary.other.get(label)
        if other is None:
            other = self.summary.other[label] = OtherTotal()
        other.rows += 1
        other.total += cents

    def excluded_row(self, cents: int) -> None:
        """Add a non-US row: kept in the file total, left out of the state orders."""
        self.summary.excluded.rows += 1
        self.summary.excluded.total += cents

    def finish(self) -> None:
        """Turn running sums into StateOrders and notes into warnings."""
        for (settlement_id, state), acc in sorted(self.accs.items()):
            order = StateOrder(settlement_id, state, len(acc.orders), len(acc.refunds), acc.rows)
            for sku, values in sorted(acc.lines.items()):
                line = order.lines[sku] = SkuLine(quantity=values[-1])
                for name, cents in zip(self.layout, values, strict=False):
                    order.amounts[name] += cents
                    if name in LINE_BUCKETS:
                        setattr(line, name, getattr(line, name) + cents)
            self.summary.state_orders[(settlement_id, state)] = order
        self.accs.clear()
        for note in self.notes.values():
            rows = f"{note.count:,} row" + ("" if note.count == 1 else "s")
            extra = f" ({rows}" + (f", {format_cents(note.cents)}" if note.cents else "") + ")"
            if note.line is None:  # about the whole file: no rows to count
                extra = ""
            source = self.source if note.source is None else note.source
            self.summary.warnings.append(Problem(note.line, note.message + extra, source))
