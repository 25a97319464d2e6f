"""Small report files for the reconciliation tests, written from the column specs by hand."""

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

from scripts.make_date_range_report import HEADER, PREAMBLE, write_report

CORPUS = Path(__file__).resolve().parent

DR_PREAMBLE, DR_HEADER = PREAMBLE, HEADER  # the report as sellers download it (the benchmark generator's)
DR_MONEY = DR_HEADER[DR_HEADER.index("product sales") : DR_HEADER.index("total")]
DR_HEADER_LINE = len(DR_PREAMBLE) + 1  # the header's physical line; the first row is the next one

V2_HEADER = (
    "settlement-id",
    "settlement-start-date",
    "settlement-end-date",
    "deposit-date",
    "total-amount",
    "currency",
    "transaction-type",
    "order-id",
    "merchant-order-id",
    "adjustment-id",
    "shipment-id",
    "marketplace-name",
    "amount-type",
    "amount-description",
    "amount",
    "fulfillment-id",
    "posted-date",
    "posted-date-time",
    "order-item-code",
    "merchant-order-item-id",
    "merchant-adjustment-item-id",
    "sku",
    "quantity-purchased",
    "promotion-id",
)
ORDERS_HEADER = ("amazon-order-id", "shipment-id", "sku", "quantity-shipped", "ship-city", "ship-state", "ship-postal-code", "ship-country")


def quoted(cells: list[str] | tuple[str, ...]) -> str:
    """A CSV line with every cell quoted, as the Date Range report writes them."""
    return ",".join('"' + cell.replace('"', '""') + '"' for cell in cells)


def dr_row(
    kind: str = "Order",
    order_id: str = "113-0013318-7697855",
    *,
    sku: str = "MKP-FDW8652-U",
    quantity: str = "1",
    state: str = "WA",
    marketplace: str = "amazon.com",
    settlement: str = "6503097031",
    when: str = "Jun 1, 2026 12:38:23 AM PDT",
    description: str = "Drywall Joint Tape, Pack of 10",
    total: str | None = None,
    **money: str,
) -> list[str]:
    """One Date Range row; ``money`` overrides columns by name with '_' for ' ' (product_sales='57.96')."""
    amounts = {name: "0" for name in DR_MONEY}
    for key, value in money.items():
        amounts[key.replace("_", " ")] = value
    if total is None:
        total = str(sum((Decimal(value.replace(",", "") or "0") for value in amounts.values()), Decimal(0)))
    city, postal = ("BAINBRIDGE ISLAND", "98110-1523") if order_id else ("", "")
    return [
        when,
        settlement,
        kind,
        order_id,
        sku,
        description,
        quantity,
        marketplace,
        "Standard Orders",
        "Amazon",
        city,
        state,
        postal,
        "MarketplaceFacilitator",
        *amounts.values(),
        total,
        "Released",
        "Jun 8, 2026 1:00:00 AM PDT",
    ]


def dr_file(
    rows: list[list[str]],
    *,
    preamble: tuple[str, ...] = DR_PREAMBLE,
    header: tuple[str, ...] = DR_HEADER,
    newline: str = "\n",
    delimiter: str = ",",
) -> str:
    """A whole Date Range report as text."""
    lines = [quoted([note]) for note in preamble] + [quoted(header)] + [quoted(row) for row in rows]
    return newline.join(line.replace('","', f'"{delimiter}"') for line in lines) + newline


def v2_summary(
    settlement: str = "28471003921", total: str = "0.00", currency: str = "USD", start: str = "2026-06-16 00:00:00 UTC"
) -> list[str]:
    """The summary row of a V2 file."""
    row = [""] * len(V2_HEADER)
    row[:6] = [settlement, start, "2026-06-30 23:59:59 UTC", "2026-07-02 00:00:00 UTC", total, currency]
    return row


def v2_row(
    kind: str = "Order",
    order_id: str = "114-8829371-4410258",
    amount_type: str = "ItemPrice",
    description: str = "Principal",
    amount: str = "10.00",
    *,
    sku: str = "NX-HD-1200",
    quantity: str = "1",
    settlement: str = "28471003921",
    marketplace: str = "Amazon.com",
    currency: str = "",
) -> list[str]:
    """One V2 detail row."""
    row = [""] * len(V2_HEADER)
    row[0], row[5], row[6], row[7], row[11] = settlement, currency, kind, order_id, marketplace
    row[12], row[13], row[14], row[17], row[21], row[22] = (amount_type, description, amount, "2026-06-17 08:14:22 UTC", sku, quantity)
    return row


def tsv(header: tuple[str, ...], rows: list[list[str]], newline: str = "\n") -> str:
    """Tab-separated text with a header line."""
    return newline.join("\t".join(row) for row in [list(header), *rows]) + newline


def orders_file(states: dict[str, str | tuple[str, str]]) -> bytes:
    """An orders report giving each order id its ship-state (or (ship-state, ship-country))."""
    rows = []
    for order_id, where in states.items():
        state, country = (where, "US") if isinstance(where, str) else where
        rows.append([order_id, "D1FyNyr6b", "NX-HD-1200", "1", "SEATTLE", state, "98101", country])
    return tsv(ORDERS_HEADER, rows).encode()


def content_hash(binary: BinaryIO, chunk_size: int = 1 << 20) -> str:
    """The SHA-256 of every byte from the current position on, read in chunks: what the reader must record."""
    digest = hashlib.sha256()
    while chunk := binary.read(chunk_size):
        digest.update(chunk)
    return digest.hexdigest()


def date_range_report(path: Path, rows: int, seed: int) -> Path:
    """A generated Date Range report of ``rows`` transactions at ``path`` (the benchmark's generator)."""
    with open(path, "wb") as out:
        write_report(out, rows, seed=seed)
    return path
