"""What a reconciliation file reads into: per-(settlement, state) orders, totals, errors and warnings."""

from dataclasses import dataclass, field
from datetime import date

DATE_RANGE = "date_range"
SETTLEMENT_V2 = "settlement_v2"
ORDERS = "orders"
SETTLEMENT_V1 = "settlement_v1"

# Money buckets shared by both report families, so the ERP write needs no per-format code.
PRODUCT_SALES = "product_sales"
SHIPPING = "shipping"
GIFT_WRAP = "gift_wrap"
PROMOTIONS = "promotions"
REGULATORY_FEE = "regulatory_fee"
SALES_TAX = "sales_tax"
PRODUCT_TAX = "product_tax"
SHIPPING_TAX = "shipping_tax"
GIFT_WRAP_TAX = "gift_wrap_tax"
PROMOTION_TAX = "promotion_tax"
REGULATORY_FEE_TAX = "regulatory_fee_tax"
WITHHELD_TAX = "withheld_tax"
SELLING_FEES = "selling_fees"
FBA_FEES = "fba_fees"
OTHER_FEES = "other_fees"
OTHER = "other"

BUCKETS = (
    PRODUCT_SALES, SHIPPING, GIFT_WRAP, PROMOTIONS, REGULATORY_FEE,
    SALES_TAX, PRODUCT_TAX, SHIPPING_TAX, GIFT_WRAP_TAX, PROMOTION_TAX, REGULATORY_FEE_TAX, WITHHELD_TAX,
    SELLING_FEES, FBA_FEES, OTHER_FEES, OTHER,
)
TAX_BUCKETS = (SALES_TAX, PRODUCT_TAX, SHIPPING_TAX, GIFT_WRAP_TAX, PROMOTION_TAX, REGULATORY_FEE_TAX, WITHHELD_TAX)
LINE_BUCKETS = (PRODUCT_SALES, SHIPPING, GIFT_WRAP, PROMOTIONS)
BUCKET_INDEX = {name: index for index, name in enumerate(BUCKETS)}

UNKNOWN_STATE = "UNKNOWN"


class ReportError(Exception):
    """A problem that stops reading the file at once (wrong format, undecodable bytes)."""

    def __init__(self, line: int | None, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.kind = kind


class RowError(Exception):
    """A problem with one row: recorded as an error with the row's line, then reading goes on."""


@dataclass(frozen=True)
class Problem:
    """An error or warning, with the physical line (1-based) it was found on when there is one."""

    line: int | None
    message: str
    source: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else ""
        if self.source:
            where = f"{self.source} {where}".strip()
        return f"{where}: {self.message}" if where else self.message


@dataclass(slots=True)
class SkuLine:
    """One SKU of one state's order: net units and the line-level money, in cents."""

    quantity: int = 0
    product_sales: int = 0
    shipping: int = 0
    gift_wrap: int = 0
    promotions: int = 0


@dataclass
class StateOrder:
    """Everything one ERP sales order needs: one (settlement, state) with its SKU lines and tax."""

    settlement_id: str
    state: str
    orders: int = 0
    refunds: int = 0
    rows: int = 0
    amounts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    lines: dict[str, SkuLine] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Net proceeds of the order rows in cents (what the rows' totals add up to)."""
        return sum(self.amounts.values())

    @property
    def tax(self) -> dict[str, int]:
        """The tax buckets only, in cents, for the ERP's tax lines."""
        return {name: self.amounts[name] for name in TAX_BUCKETS}


@dataclass
class StateTotals:
    """One state's figures over every settlement of the file."""

    orders: int = 0
    refunds: int = 0
    rows: int = 0
    total: int = 0
    amounts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))


@dataclass
class Settlement:
    """A settlement id seen in the file, its period and (V2) the summary row's total."""

    settlement_id: str
    start: date | None = None
    end: date | None = None
    deposit_date: date | None = None
    currency: str = "USD"
    total_amount: int | None = None
    summary_line: int | None = None
    rows: int = 0
    detail_sum: int = 0


@dataclass
class OtherTotal:
    """Rows that are not sales order lines (transfers, fees, non-US rows), kept and totalled."""

    rows: int = 0
    total: int = 0


@dataclass
class ReportSummary:
    """The preview of one upload: what was read, the aggregates, and why it cannot be confirmed."""

    kind: str = ""
    encoding: str = ""
    rows: int = 0
    bytes_read: int = 0
    sha256: str | None = None
    settlements: dict[str, Settlement] = field(default_factory=dict)
    state_orders: dict[tuple[str, str], StateOrder] = field(default_factory=dict)
    other: dict[str, OtherTotal] = field(default_factory=dict)
    excluded: OtherTotal = field(default_factory=OtherTotal)
    total: int = 0
    unknown_states: dict[str, int] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    error_count: int = 0
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file can be confirmed: it was read to the end without a single error."""
        return self.error_count == 0 and not self.errors

    def per_state(self) -> dict[str, StateTotals]:
        """Orders and totals per state in cents, summed over the file's settlements."""
        result: dict[str, StateTotals] = {}
        for (_, state), order in sorted(self.state_orders.items()):
            totals = result.setdefault(state, StateTotals())
            totals.orders += order.orders
            totals.refunds += order.refunds
            totals.rows += order.rows
            totals.total += order.total
            for name, cents in order.amounts.items():
                totals.amounts[name] += cents
        return result
