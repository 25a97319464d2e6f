"""The settlement flat file V2 (TSV): a summary row, then one row per money component; no ship-to state."""

from collections.abc import Iterator
from itertools import chain
from operator import itemgetter

from webapp.reconciliation.reader import model as m
from webapp.reconciliation.reader.amounts import AmountError, format_cents, to_quantity
from webapp.reconciliation.reader.dates import settlement_day
from webapp.reconciliation.reader.detect import Detected, header_key, lacking
from webapp.reconciliation.reader.ids import ORDER_ID, US_MARKETPLACES, check_settlement_id, note_non_order_id, order_key, remembered_sku
from webapp.reconciliation.reader.model import RowError
from webapp.reconciliation.reader.orders import ShipStates
from webapp.reconciliation.reader.reading import Context
from webapp.reconciliation.reader.states import FOREIGN
from webapp.reconciliation.reader.transactions import identity, single

REQUIRED_NAMES = ("settlement-id", "settlement-start-date", "settlement-end-date", "deposit-date", "total-amount",
                  "currency", "transaction-type", "order-id", "marketplace-name", "amount-type", "amount-description",
                  "amount", "sku", "quantity-purchased")  # as the report spells them, for messages
REQUIRED = tuple(header_key(name) for name in REQUIRED_NAMES)
# What identifies a money component in the report itself (its amount is added as cents, so that
# "1,000.00" and "1000.00" are one amount); the optional columns only where the file has them.
IDENTITY = ("settlementid", "transactiontype", "orderid", "adjustmentid", "posteddatetime", "posteddate",
            "orderitemcode", "sku", "amounttype", "amountdescription")
# The (amount-type, amount-description) pairs Amazon writes, by the money bucket each goes to.
PAIRS_BY_BUCKET = {
    m.PRODUCT_SALES: [("itemprice", "principal")],
    m.SHIPPING: [("itemprice", "shipping")],
    m.GIFT_WRAP: [("itemprice", "giftwrap")],
    m.PRODUCT_TAX: [("itemprice", "tax")],
    m.SHIPPING_TAX: [("itemprice", "shippingtax")],
    m.GIFT_WRAP_TAX: [("itemprice", "giftwraptax")],
    m.PROMOTIONS: [("promotion", "principal"), ("promotion", "shipping")],
    m.OTHER: [("itemprice", "goodwill"), ("itemprice", "restockingfee")],
    m.SELLING_FEES: [("itemfees", fee) for fee in (
        "commission", "variableclosingfee", "fixedclosingfee", "refundcommission", "digitalservicesfee")],
    m.FBA_FEES: [("itemfees", "fbaperunitfulfillmentfee"), ("itemfees", "fbaperorderfulfillmentfee"),
                 ("itemfees", "fbaweightbasedfee"), ("shipment-fees", "fbaperorderfulfillmentfee"),
                 ("shipment-fees", "fbatransportationfee"), ("shipmentfees", "fbaperorderfulfillmentfee"),
                 ("shipmentfees", "fbatransportationfee")],
    m.OTHER_FEES: [("itemfees", fee) for fee in (
        "shippingchargeback", "giftwrapchargeback", "shippinghb", "salestaxcollectionfee")],
    m.WITHHELD_TAX: [("itemwithheldtax", "marketplacefacilitatortax-" + part) for part in (
        "principal", "shipping", "giftwrap", "other")],
}
# Lower-cased (amount-type, amount-description) → bucket, for the components of order rows.
ORDER_AMOUNTS = {pair: bucket for bucket, pairs in PAIRS_BY_BUCKET.items() for pair in pairs}
OTHER_TRANSACTION = {
    "current reserve amount", "previous reserve amount balance", "subscription fee", "storage fee",
    "storagerenewalbilling", "disposalcomplete", "removalcomplete", "refund reimbursal", "reversal_reimbursement",
    "warehouse_damage", "warehouse_lost", "shippingservices", "shipping label purchase", "fbainboundtransportationfee",
}
OTHER_AMOUNT_TYPES = {"fba inventory reimbursement", "cost of advertising", "couponredemptionfee", "lightningdealfee",
                      "vine enrollment fee", "inbound defect fee"}


def read_settlement(head: list[str], rest: Iterator[str], found: Detected, ctx: Context, ship: ShipStates | None) -> None:
    """Read a V2 file whose header ``detect`` found; order rows get their state from ``ship``."""
    rows = SettlementRows(found, ctx, ship)
    for number, line in enumerate(chain(head[found.line :], rest), found.line + 1):
        rows.row(line, number)
    rows.finish(found.line)


class SettlementRows:
    """Per-row work of the V2 file, with column positions looked up once."""

    def __init__(self, found: Detected, ctx: Context, ship: ShipStates | None) -> None:
        self.ctx, self.agg, self.ship, self.width = ctx, ctx.agg, ship, len(found.header)
        self.col = {}
        for index, name in enumerate(found.header):
            self.col.setdefault(header_key(name), index)
        missing = [name for key, name in zip(REQUIRED, REQUIRED_NAMES, strict=True) if key not in self.col]
        if missing:
            raise m.ReportError(found.line, lacking(missing))
        self.pairs: dict[tuple[str, str], tuple[str, bool]] = {}
        self.cache: dict[str, int] = {}
        self.checked_ids: set[str] = set()
        self.no_summary: set[str] = set()
        named = [key for key in IDENTITY if key in self.col]
        self.identity_cells = itemgetter(*(self.col[key] for key in named))
        self.skus: dict[str, str] = {}  # sku cell → checked SKU
        self.posted = self.col.get("posteddatetime")  # not in every version of the file
        self.last_posted = ""  # an order's components share their posted-date-time: each value is checked once

    def row(self, line: str, number: int) -> None:
        """Split, validate and add one line, or record why not."""
        cells = line.rstrip("\r\n").split("\t")
        if len(cells) != self.width:
            if not line.strip():
                return
            if len(cells) == self.width - 1:
                cells.append("")  # a missing trailing empty field is common and harmless
            else:
                self.ctx.tick()
                self.agg.error(number, f"expected {self.width} tab-separated fields as in the header, "
                               f"found {len(cells)}")
                return
        self.ctx.tick()
        try:
            if cells[self.col["transactiontype"]] or cells[self.col["amounttype"]]:
                self.detail(cells, number)
            elif cells[self.col["settlementstartdate"]].strip():
                self.summary_row(cells, number)
            else:
                raise RowError("the row has neither a transaction type nor settlement dates")
        except RowError as exc:
            self.agg.error(number, str(exc))

    def summary_row(self, cells: list[str], number: int) -> None:
        """The settlement's summary: period, deposit date, total-amount and currency."""
        col = self.col
        settlement_id = check_settlement_id(cells[col["settlementid"]], "settlement-id")
        settlement = self.agg.settlement(settlement_id)
        if settlement.summary_line is not None:
            raise RowError(f"a second summary row for settlement {settlement_id} (the first is on line "
                           f"{settlement.summary_line})")
        if settlement.rows or settlement_id in self.no_summary:
            raise RowError(f"the summary row of settlement {settlement_id} comes after its detail rows")
        settlement.summary_line = number
        currency = cells[col["currency"]].strip().upper()
        settlement.currency = currency
        if currency != "USD":
            raise RowError(f"the settlement currency is {currency or 'blank'}; only US marketplace reports in USD "
                           "are accepted")
        settlement.start = settlement_day(cells[col["settlementstartdate"]], "settlement-start-date")
        settlement.end = settlement_day(cells[col["settlementenddate"]], "settlement-end-date")
        settlement.deposit_date = settlement_day(cells[col["depositdate"]], "deposit-date")
        settlement.total_amount = self.ctx.cents(cells[col["totalamount"]], "total-amount", number, allow_blank=False,
                                                 cache=None)

    def detail(self, cells: list[str], number: int) -> None:
        """One money component: checked, added to its settlement and to an order or the other totals."""
        col = self.col
        settlement = self.detail_settlement(cells[col["settlementid"]], cells[col["currency"]], number)
        text = cells[col["amount"]]
        cents = self.cache.get(text)
        if cents is None:
            cents = self.ctx.cents(text, "amount", number, allow_blank=False, cache=self.cache)
        settlement.rows += 1
        settlement.detail_sum += cents
        self.agg.summary.total += cents
        if self.posted is not None and cells[self.posted] != self.last_posted:
            if cells[self.posted].strip():
                settlement_day(cells[self.posted], "posted-date-time")
            self.last_posted = cells[self.posted]
        pair = (cells[col["amounttype"]].strip(), cells[col["amountdescription"]].strip())
        if not pair[0] or not pair[1]:
            raise RowError("amount-type and amount-description must both be filled in")
        bucket = self.bucket(pair, number, cents)
        kind = cells[col["transactiontype"]].strip()
        order_id = cells[col["orderid"]].strip()
        if kind.lower() not in ("order", "refund") or not ORDER_ID.fullmatch(order_id):
            self.other(kind, order_id, number, cents)
            return
        if cells[col["marketplacename"]].strip().lower() not in US_MARKETPLACES:
            name = cells[col["marketplacename"]].strip()
            self.agg.note(f"marketplace:{name}", number, f"order rows of marketplace {name!r} are not US sales: "
                          "left out of the state orders and counted in the excluded total, so the US state totals "
                          "are unaffected", cents)
            self.agg.excluded_row(cents)
            return
        self.order(cells, number, order_id, kind.lower() == "refund", bucket, cents)

    def other(self, kind: str, order_id: str, number: int, cents: int) -> None:
        """A component that is not part of a sales order: kept in the non-order totals by its transaction type."""
        note_non_order_id(self.agg, kind, order_id, kind.lower() in ("order", "refund"), number, cents, "order-id")
        self.agg.other_row(kind, cents)

    def order(self, cells: list[str], number: int, order_id: str, refund: bool, bucket: str, cents: int) -> None:
        """Add an order component to its (settlement, ship-to state) order."""
        key = order_key(order_id)
        state = self.ship.state_of(key, order_id, number, self.agg) if self.ship is not None else m.UNKNOWN_STATE
        if state is None:
            value = self.ship.states.get(key) if self.ship else None
            if value is not None and value.kind == FOREIGN:
                self.agg.excluded_row(cents)
            return
        units = 0
        if bucket == m.PRODUCT_SALES:
            try:
                units = to_quantity(cells[self.col["quantitypurchased"]])
            except AmountError as exc:
                raise RowError(f"quantity-purchased: {exc}") from None
        settlement_id = cells[self.col["settlementid"]].strip()
        text = cells[self.col["sku"]]
        sku = self.skus.get(text)
        sku = remembered_sku(self.skus, text) if sku is None else sku
        units = -units if refund else units
        self.agg.order_amount((settlement_id, state), key, refund, sku, units, m.BUCKET_INDEX[bucket], cents)
        if self.ctx.sink is not None:
            txn = identity(*(cell.strip() for cell in self.identity_cells(cells)), str(units), str(cents))
            self.ctx.sink.add((settlement_id, state), (txn, sku, key, refund, units, *single(bucket, cents), cents))

    def bucket(self, pair: tuple[str, str], number: int, cents: int) -> str:
        """The money bucket of an (amount-type, amount-description) pair; unknown pairs are noted and kept."""
        found = self.pairs.get(pair)
        if found is None:
            found = self.pairs[pair] = classify_pair(pair)
        bucket, known = found
        if not known:
            self.agg.note(f"pair:{pair}", number, f"unknown amount type {pair[0]} / {pair[1]}: counted under "
                          "other, in no sales or tax line; the totals include it, so they are unaffected", cents)
        return bucket

    def detail_settlement(self, raw_id: str, currency: str, number: int) -> m.Settlement:
        """The detail row's settlement, which must have had its summary row."""
        if raw_id not in self.checked_ids:
            check_settlement_id(raw_id, "settlement-id")
            self.checked_ids.add(raw_id)
        settlement = self.agg.settlement(raw_id.strip())
        if settlement.summary_line is None and settlement.settlement_id not in self.no_summary:
            self.no_summary.add(settlement.settlement_id)
            raise RowError(f"settlement {settlement.settlement_id} has no summary row before its detail rows")
        if currency.strip() and currency.strip().upper() != settlement.currency:
            raise RowError(f"currency {currency.strip()} differs from the settlement's {settlement.currency}: "
                           "mixed currencies")
        return settlement

    def finish(self, header_line: int) -> None:
        """Each settlement's detail rows must add up to its summary row's total-amount."""
        if self.agg.summary.rows == 0:
            self.agg.error(header_line, "the header is not followed by a summary row and transactions")
        for settlement in self.agg.summary.settlements.values():
            if settlement.total_amount is None:
                continue
            if settlement.rows == 0:
                self.agg.error(settlement.summary_line, f"settlement {settlement.settlement_id} has no detail rows")
            elif settlement.detail_sum != settlement.total_amount:
                self.agg.error(settlement.summary_line, f"settlement {settlement.settlement_id}: the detail rows "
                               f"add up to {format_cents(settlement.detail_sum)} but the summary row's total-amount "
                               f"is {format_cents(settlement.total_amount)}: the file is incomplete or was edited")


def classify_pair(pair: tuple[str, str]) -> tuple[str, bool]:
    """(bucket used on order rows, whether the pair is a known Amazon value)."""
    lowered = (pair[0].lower(), pair[1].lower())
    bucket = ORDER_AMOUNTS.get(lowered)
    if bucket is not None:
        return bucket, True
    known = lowered[0] in OTHER_AMOUNT_TYPES or (lowered[0] == "other-transaction" and lowered[1] in OTHER_TRANSACTION)
    return m.OTHER, known
