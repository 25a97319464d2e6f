"""The per-row work of the Date Range report: checks, remembered repeats, and the row's place in the totals."""

from collections.abc import Sequence
from datetime import date
from operator import itemgetter

from webapp.reconciliation.reader import model as m
from webapp.reconciliation.reader.aggregate import Acc
from webapp.reconciliation.reader.amounts import PLAIN_AMOUNT, AmountError, format_cents, to_quantity
from webapp.reconciliation.reader.dates import date_range_day
from webapp.reconciliation.reader.detect import Detected
from webapp.reconciliation.reader.ids import ORDER_ID, check_settlement_id, note_non_order_id, order_key, remembered_sku, us_marketplace
from webapp.reconciliation.reader.model import RowError
from webapp.reconciliation.reader.reading import Context
from webapp.reconciliation.reader.states import FOREIGN, STATE, StateValue, remembered_state
from webapp.reconciliation.reader.transactions import identity, projector

ORDER, REFUND, OTHER, HEADER = "order", "refund", "other", "header"
FIELDS = ("datetime", "settlementid", "type", "orderid", "sku", "quantity", "marketplace", "orderstate")
KNOWN_FIELDS = ("settlementid", "type", "marketplace", "orderstate", "quantity")
KNOWN_TYPES = {
    "transfer", "service fee", "fba inventory fee", "adjustment", "fba customer return fee", "chargeback refund",
    "a-to-z guarantee claim", "liquidations", "liquidations adjustments", "deal fee", "lightning deal fee",
    "amazon fees", "shipping services", "fee adjustment", "debt", "safe-t reimbursement", "order_retrocharge",
    "refund_retrocharge", "coupon redemption fee", "vine enrollment fee", "tax withholding", "others",
}
KNOWN_LIMIT = 1 << 12


class DateRangeRows:
    """Per-row work of the Date Range report; runs a million times, so lookups are prepared once."""

    def __init__(self, found: Detected, ctx: Context, col: dict[str, int], money: list[tuple[str, str, str]]) -> None:
        self.ctx, self.agg, self.width = ctx, ctx.agg, len(found.header)
        ctx.agg.use_layout([bucket for _, bucket, _ in money])
        self.names = [name for _, _, name in money]
        indexes = [col[key] for key, _, _ in money]
        self.money_cells = itemgetter(*indexes) if len(indexes) > 1 else lambda cells: (cells[indexes[0]],)
        self.total_index = col["total"]
        self.cache: dict[str, int] = {"": 0}
        self.marketplaces: dict[str, bool] = {}
        self.quantities: dict[str, int] = {}
        self.text_cells = itemgetter(*(col[key] for key in FIELDS))
        self.types: dict[str, str] = {}
        self.settlement_ids: set[str] = set()
        self.last: tuple[str, str, m.Settlement] = ("", "\n", m.Settlement(""))
        self.saw_us_orders = False
        self.first_excluded: int | None = None
        self.last_order: tuple[str, int] = ("\n", 0)  # no cell equals it: the first id is always checked
        self.states: dict[str, StateValue] = {}
        self.skus: dict[str, str] = {}  # sku cell → checked SKU: a catalogue's SKUs repeat on every page of orders
        self.order_row, self.acc_row = ctx.agg.order_row, ctx.agg.acc_row
        # (settlement id, type, marketplace, state, quantity) of plain order rows → (Acc, refund, signed units, key)
        self.known: dict[tuple[str, ...], tuple[Acc, bool, int, tuple[str, str]]] = {}
        self.known_cells = itemgetter(*(col[key] for key in KNOWN_FIELDS))
        self.order_cells = itemgetter(*(col[key] for key in ("datetime", "settlementid", "orderid", "sku")))
        self.types_text = itemgetter(col["type"])
        self.sink, self.project = ctx.sink, projector(ctx.agg.layout)
        self.description = itemgetter(col["description"]) if "description" in col else lambda cells: ""

    def odd_row(self, cells: list[str], line: int) -> None:
        """A row with the wrong field count: an error, unless it is blank (skipped)."""
        if any(cell.strip() for cell in cells):
            self.agg.error(line, f"expected {self.width} fields as in the header, found {len(cells)}")

    def add(self, cells: list[str], line: int) -> None:
        """Add a well-formed row to the totals; RowError says what is wrong with it.

        Runs once per row of files with millions of rows, so what repeats from row to row
        (the day, the order id, states, amounts) is remembered instead of parsed again. Order
        rows whose type, marketplace, state and quantity were all found plain before take a
        short path with the outcome of those checks remembered (``known``).
        """
        known = self.known.get(self.known_cells(cells))
        if known is None:
            self.add_checked(cells, line)
            return
        values, total = self.amounts(cells, line)
        when, settlement_id, order_id, sku = self.order_cells(cells)
        self.count(settlement_id, when, total)
        acc, refund, units, key = known
        if order_id != self.last_order[0]:
            if not ORDER_ID.fullmatch(order_id.strip()):
                self.other(REFUND if refund else ORDER, self.types_text(cells), order_id.strip(), line, total)
                return
            self.last_order = (order_id, order_key(order_id.strip()))
        name = self.skus.get(sku)
        name = remembered_sku(self.skus, sku) if name is None else name
        self.acc_row(acc, self.last_order[1], refund, name, units, values)
        if self.sink is not None:
            self.stage(key, cells, when, order_id, name, refund, units, values, total)

    def add_checked(self, cells: list[str], line: int) -> None:
        """``add`` with every check made; remembers the outcome for plain order rows."""
        when, settlement_id, type_text, order_id, sku, quantity, marketplace, state_text = self.text_cells(cells)
        kind = self.types.get(type_text) or self.type_of(type_text)
        if kind == HEADER:
            raise RowError("a second header line: two reports were pasted together; upload them separately")
        values, total = self.amounts(cells, line)
        self.count(settlement_id, when, total)
        if order_id != self.last_order[0]:
            if kind == OTHER or not ORDER_ID.fullmatch(order_id.strip()):
                self.other(kind, type_text, order_id.strip(), line, total)
                return
            self.last_order = (order_id, order_key(order_id.strip()))
        elif kind == OTHER:
            self.other(kind, type_text, order_id.strip(), line, total)
            return
        if not us_marketplace(self.marketplaces, marketplace):
            self.foreign_marketplace(marketplace, line, total)
            return
        value = self.states.get(state_text) or remembered_state(self.states, state_text)
        state = value.code if value.kind == STATE else self.agg.state_code(value, line, "order state")
        if state is None:
            if value.kind == FOREIGN:
                self.agg.excluded_row(total)
            return
        units = self.quantities.get(quantity)
        if units is None:
            units = self.units(quantity)
        self.saw_us_orders = True
        refund = kind == REFUND
        units = -units if refund else units
        name = self.skus.get(sku)
        name = remembered_sku(self.skus, sku) if name is None else name
        key = (settlement_id.strip(), state)
        acc = self.order_row(key, self.last_order[1], refund, name, units, values)
        if self.sink is not None:
            self.stage(key, cells, when, order_id, name, refund, units, values, total)
        if value.kind == STATE and len(self.known) < KNOWN_LIMIT:
            self.known[self.known_cells(cells)] = (acc, refund, units, key)

    def stage(self, key: tuple[str, str], cells: list[str], when: str, order_id: str, sku: str,
              refund: bool, units: int, values: Sequence[int], total: int) -> None:
        """Send the order row's identity and money to the ledger's sink (see ``transactions``)."""
        txn = identity(key[0], when.strip(), self.types_text(cells).strip().lower(), order_id.strip(), sku,
                       self.description(cells).strip(), str(units), str(total))
        self.sink.add(key, (txn, sku, self.last_order[1], refund, units, *self.project(values), total))

    def count(self, settlement_id: str, when: str, total: int) -> None:
        """Count the row in its settlement; a row of the same settlement and day as the last is not checked again."""
        last_id, prefix, settlement = self.last
        if settlement_id == last_id and when.startswith(prefix) and when.count(":") == 2:
            settlement.rows += 1
            settlement.detail_sum += total
        else:
            self.settle(settlement_id, when, total)

    def foreign_marketplace(self, marketplace: str, line: int, total: int) -> None:
        """An order row of another marketplace: noted, totalled, kept out of the state orders."""
        name = marketplace.strip()
        self.agg.note(f"marketplace:{name}", line, f"order rows of marketplace {name!r} are not US sales: left out "
                      "of the state orders and counted in the excluded total, so the US state totals are unaffected",
                      total)
        self.agg.excluded_row(total)
        self.first_excluded = self.first_excluded or line

    def amounts(self, cells: list[str], line: int) -> tuple[Sequence[int], int]:
        """The money cells in cents (layout order) and the row's total, checked against each other."""
        texts = self.money_cells(cells)
        try:
            # one C call looks up every cell seen before (itemgetter of one key returns no tuple)
            values = itemgetter(*texts)(self.cache) if len(texts) > 1 else (self.cache[texts[0]],)
        except KeyError:  # a value not seen before: parse each cell (the cache remembers them)
            values = [self.cache.get(text) for text in texts]
            for slot, cents in enumerate(values):
                if cents is None:
                    values[slot] = self.ctx.cents(texts[slot], self.names[slot], line, allow_blank=True,
                                                  cache=self.cache)
        added = sum(values)
        text = cells[self.total_index]
        if PLAIN_AMOUNT.fullmatch(text):
            total = int(text.replace(".", "", 1))
        else:
            total = self.ctx.cents(text, "total", line, allow_blank=False, cache=None)
        if added != total:
            raise RowError(f"the amounts add up to {format_cents(added)} but total says {format_cents(total)}")
        return values, total

    def units(self, text: str) -> int:
        """A quantity cell as units (remembered: there are few distinct ones)."""
        try:
            units = to_quantity(text)
        except AmountError as exc:
            raise RowError(str(exc)) from None
        if len(self.quantities) < 1000:
            self.quantities[text] = units
        return units

    def settle(self, raw_id: str, when: str, total: int) -> None:
        """Count the row in its settlement, whose period widens to the row's date."""
        if raw_id not in self.settlement_ids:
            check_settlement_id(raw_id)
            self.settlement_ids.add(raw_id)
        settlement = self.agg.settlement(raw_id.strip())
        settlement.rows += 1
        settlement.detail_sum += total
        prefix, day = self.day(when)
        self.last = (raw_id, prefix, settlement)
        if settlement.start is None or day < settlement.start:
            settlement.start = day
        if settlement.end is None or day > settlement.end:
            settlement.end = day

    def day(self, when: str) -> tuple[str, date]:
        """The date part and date of a `date/time` cell (a method, so that a later part can watch it fail)."""
        return date_range_day(when)

    def other(self, kind: str, type_text: str, order_id: str, line: int, total: int) -> None:
        """A row that is not a sales order line: kept in the non-order totals by its type (see ``note_non_order_id``)."""
        label = type_text.strip() or "(blank type)"
        noted = note_non_order_id(self.agg, label, order_id, kind != OTHER, line, total, "order id")
        if not noted and label.lower() in KNOWN_TYPES:
            self.agg.note(f"other:{label}", line, f"{label!r} rows are not sales orders: counted in the non-order "
                          "totals (totals unaffected)")
        elif not noted:
            self.agg.note(f"unknown:{label}", line, f"unknown transaction type {label!r}: counted in the non-order "
                          "totals; the state totals hold only Order and Refund rows, so they are unaffected")
        self.agg.other_row(label, total)

    def type_of(self, text: str) -> str:
        """ORDER, REFUND, HEADER or OTHER for a `type` cell (remembered per distinct value)."""
        kind = {"order": ORDER, "refund": REFUND, "type": HEADER}.get(text.strip().lower(), OTHER)
        if len(self.types) < 1000:
            self.types[text] = kind
        return kind

    def finish(self, header_line: int) -> None:
        """File-level checks once every row is read."""
        summary = self.agg.summary
        summary.total = sum(settlement.detail_sum for settlement in summary.settlements.values())
        if summary.rows == 0 and summary.error_count == 0:
            self.agg.error(header_line, "the header is not followed by any transaction rows")
        elif not self.saw_us_orders and self.first_excluded:
            self.agg.error(self.first_excluded, "the file has no US (amazon.com) order rows, only other "
                           "marketplaces' (as on this line): only US marketplace reports are accepted")
