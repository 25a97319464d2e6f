"""The kinds of job Celeriac runs: their labels, record keys and the steps of each record."""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One task of a record's chain, as the job page shows it."""

    task_name: str
    label: str


@dataclass(frozen=True)
class JobKind:
    """What the pages, the API and the input readers need to know about a kind of job."""

    name: str
    label: str
    noun_plural: str
    key_label: str
    key_column: str
    key_pattern: re.Pattern[str]
    key_example: str
    header_names: frozenset[str]
    steps: tuple[Step, ...]
    erp_endpoint: str
    erp_label: str

    @property
    def noun(self) -> str:
        """One of what the kind makes ("purchase order"), for "1 purchase order" beside "2 purchase orders"."""
        return self.noun_plural.removesuffix("s")

    def key_problem(self, value: str) -> str | None:
        """Why ``value`` is not a key of this kind, or None if it is one."""
        if len(value) <= 64 and self.key_pattern.fullmatch(value):  # fullmatch: `$` alone lets a final newline through
            return None
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"{shown!r} is not a {self.key_label} (expected e.g. {self.key_example})"


PURCHASE_ORDERS = JobKind(
    name="purchase_orders",
    label="Purchase orders",
    noun_plural="purchase orders",
    key_label="PO number",
    key_column="po_number",
    key_pattern=re.compile(r"^PO-\d{6}$"),
    key_example="PO-100042",
    header_names=frozenset({"po_number", "po", "po_no", "purchase_order", "purchase_order_number"}),
    steps=(Step("tasks.workflows.fetch_po", "fetch"), Step("tasks.workflows.make_po", "make PO")),
    erp_endpoint="erp.purchase_order",
    erp_label="PO",
)

BILLS_OF_MATERIALS = JobKind(
    name="bills_of_materials",
    label="Bills of materials",
    noun_plural="products",
    key_label="product code",
    key_column="product_code",
    key_pattern=re.compile(r"^P-\d{5}$"),
    key_example="P-10042",
    header_names=frozenset({"product_code", "product", "code", "item_code", "sku"}),
    steps=(
        Step("tasks.workflows.fetch_bom", "fetch"),
        Step("tasks.workflows.make_product", "make product"),
        Step("tasks.workflows.make_component", "make components"),
    ),
    erp_endpoint="erp.product",
    erp_label="product",
)

RECONCILIATION = JobKind(
    name="reconciliation",
    label="Reconciliation",
    noun_plural="sales orders",
    key_label="settlement/state",
    key_column="settlement_state",
    key_pattern=re.compile(r"^\d{1,20}/[A-Z]{2}$"),
    key_example="28471003921/CA",
    header_names=frozenset(),
    steps=(Step("tasks.workflows.write_sales_order", "write sales order"),),
    erp_endpoint="erp.sales_order",
    erp_label="sales order",
)

KINDS: dict[str, JobKind] = {kind.name: kind for kind in (PURCHASE_ORDERS, BILLS_OF_MATERIALS, RECONCILIATION)}

DISPATCH_TASK = "tasks.workflows.dispatch_job"


@dataclass(frozen=True)
class Listing:
    """Where a job whose keys come from the ERP at dispatch time finds them, and what they are in words."""

    path: str
    field: str
    what: str


# Jobs whose keys the dispatch task asks the ERP for: (kind, source) → the listing.
LISTINGS: dict[tuple[str, str], Listing] = {
    ("purchase_orders", "pending"): Listing("/purchase-orders?status=pending", "purchase_orders", "pending purchase orders"),
    ("bills_of_materials", "erp_products"): Listing("/products", "products", "products with a bill of materials"),
}
