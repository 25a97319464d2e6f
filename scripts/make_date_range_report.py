"""Write a synthetic Date Range Transaction report (deterministic per seed) for load tests and benchmarks.

    python scripts/make_date_range_report.py bench-data/date-range-1m.csv --rows 1000000 --seed 1

The rows follow the 2024+ US layout: a preamble of quoted notes, a quoted header, then orders,
refunds, fees and transfers whose money columns add up to their ``total``, as Amazon's do.
"""

import argparse
import csv
import io
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import BinaryIO

PREAMBLE = (
    "Includes Amazon Marketplace, Fulfillment by Amazon (FBA), and Amazon Webstore transactions",
    "All amounts in USD, unless specified",
    "Definitions:",
    "Sales tax collected: Includes sales tax collected from buyers for product sales, shipping, and gift wrap.",
    "Selling fees: Includes variable closing fees and referral fees.",
    "Other transaction fees: Includes shipping chargebacks, shipping holdbacks, per-item fees  and sales tax collection fees.",
    'Other: Includes non-order transaction amounts. For more details, see the "Type" and "Description" columns for each order ID.',
)
HEADER = (
    "date/time",
    "settlement id",
    "type",
    "order id",
    "sku",
    "description",
    "quantity",
    "marketplace",
    "account type",
    "fulfillment",
    "order city",
    "order state",
    "order postal",
    "tax collection model",
    "product sales",
    "product sales tax",
    "shipping credits",
    "shipping credits tax",
    "gift wrap credits",
    "giftwrap credits tax",
    "Regulatory Fee",
    "Tax On Regulatory Fee",
    "promotional rebates",
    "promotional rebates tax",
    "marketplace withheld tax",
    "selling fees",
    "fba fees",
    "other transaction fees",
    "other",
    "total",
    "Transaction Status",
    "Transaction Release Date",
)
MONEY_START = HEADER.index("product sales")
# (state, city, ZIP, weight, tax rate in basis points)
PLACES = (
    ("CA", "LOS ANGELES", "90012", 12, 950),
    ("TX", "AUSTIN", "78701", 9, 825),
    ("NY", "BROOKLYN", "11201", 7, 888),
    ("FL", "MIAMI", "33101", 7, 700),
    ("WA", "BAINBRIDGE ISLAND", "98110-1523", 3, 1010),
    ("IL", "CHICAGO", "60601", 4, 1025),
    ("PA", "PITTSBURGH", "15201", 4, 700),
    ("OH", "COLUMBUS", "43004", 4, 750),
    ("GA", "ATLANTA", "30301", 3, 890),
    ("NC", "RALEIGH", "27601", 3, 725),
    ("MI", "DETROIT", "48201", 3, 600),
    ("NJ", "NEWARK", "07102", 3, 663),
    ("VA", "RICHMOND", "23219", 3, 600),
    ("MA", "BOSTON", "02108", 2, 625),
    ("AZ", "PHOENIX", "85001", 2, 860),
    ("CO", "DENVER", "80202", 2, 881),
    ("OR", "PORTLAND", "97201", 1, 0),
    ("DC", "WASHINGTON", "20001", 1, 600),
    ("MT", "BILLINGS", "59101", 1, 0),
    ("NH", "CONCORD", "03301", 1, 0),
)
ADJECTIVES = ("Paperless", "Heavy-Duty", "Compact", "Deluxe", "Classic", "Ultra", "Eco", "Pro")
NOUNS = ("Drywall Joint Tape", "Cable Organizer", "Kitchen Scale", "Desk Lamp", "Hose Nozzle", "Tool Bag")


@dataclass
class Generated:
    """What was written, so a test can compare a reader's result with the truth."""

    rows: int = 0
    bytes_written: int = 0
    total: int = 0
    state_totals: dict[str, int] = field(default_factory=dict)
    order_rows: int = 0


@lru_cache(maxsize=1 << 16)
def money(cents: int) -> str:
    """Cents as Amazon writes them: '0', '57.96', '-8.69'; large transfers with thousands separators."""
    if cents == 0:
        return "0"
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{part:02d}" if whole >= 1000 else f"{sign}{whole}.{part:02d}"


def stamps(start: datetime, days: int) -> list[str]:
    """'Jun 1, 2026 ' for each day from ``start``: the date part of the report's timestamps."""
    return [f"{day:%b} {day.day}, {day.year} " for day in (start + timedelta(days=n) for n in range(days))]


def clock(seconds: int) -> str:
    """'12:38:23 AM PDT' for a second of the day (the report's 12-hour clock)."""
    hour, rest = divmod(seconds, 3600)
    return f"{hour % 12 or 12}:{rest // 60:02d}:{rest % 60:02d} {'AM' if hour < 12 else 'PM'} PDT"


def catalogue(rng: random.Random, size: int = 200) -> list[tuple[str, str, int]]:
    """SKUs with titles (commas and quotes included, as real titles have) and unit prices in cents."""
    items = []
    for number in range(size):
        title = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {number}, Pack of {rng.choice((1, 2, 10))}"
        if number % 17 == 0:
            title += ' (12" long)'
        items.append((f"MKP-{number:05d}-{rng.choice('ABCU')}", title, rng.randrange(499, 25_000)))
    return items


def order_cells(rng: random.Random, kind: str, item: tuple[str, str, int], place: tuple) -> tuple[list[int], list[str]]:
    """Money and text cells of one order or refund row; refunds mirror a sale with the signs turned."""
    sku, title, price = item
    state, city, postal, _, rate = place
    quantity = rng.choice((1, 1, 1, 2, 3))
    sales = price * quantity
    tax = sales * rate // 10_000
    shipping = rng.choice((0, 0, 0, 499))
    promo = -shipping if shipping and rng.random() < 0.5 else 0
    selling = -(sales + shipping) * 15 // 100
    fba = -rng.randrange(300, 900) * quantity
    values = [sales, tax, shipping, 0, 0, 0, 0, 0, promo, 0, -tax, selling, fba, 0, 0]
    if kind == "Refund":
        values = [-v for v in values]
        values[11] -= min(500, values[11] // 5)  # commission returned, less the refund administration fee
        values[12] = 0
    texts = [sku, title, str(quantity), "amazon.com", "Standard Orders", "Amazon", city, state, postal, "MarketplaceFacilitator"]
    return values, texts


def other_cells(rng: random.Random, kind: str) -> tuple[list[int], list[str]]:
    """Money and text cells of a fee, adjustment or transfer row (no order, no state)."""
    values = [0] * 15
    if kind == "Transfer":
        values[14] = -rng.randrange(100_000, 5_000_000)
        title = "To account ending in: 042"
    elif kind == "Adjustment":
        values[14] = rng.randrange(500, 5_000)
        title = "FBA Inventory Reimbursement - Damaged:Warehouse"
    else:
        values[13] = -rng.randrange(100, 20_000)
        title = "Cost of Advertising"
    return values, ["", title, "", "amazon.com", "Standard Orders", "", "", "", "", ""]


def write_report(out: BinaryIO, rows: int = 1_000_000, seed: int = 1, batch: int = 2_000) -> Generated:
    """Write ``rows`` transaction rows to ``out`` in batches (memory stays flat); return the totals written."""
    rng = random.Random(seed)
    items = catalogue(rng)
    weights = [place[3] for place in PLACES]
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for note in PREAMBLE:
        writer.writerow([note])
    writer.writerow(HEADER)
    result = Generated()
    days = stamps(datetime(2026, 6, 1), 28 + 8)
    step = 28 * 86_400 / max(rows, 1)
    order_id, items_left, place = "", 0, PLACES[0]
    for number in range(rows):
        day, second = divmod(5 + int(number * step), 86_400)
        time_of_day = clock(second)
        settlement = "24702193891" if day < 14 else "24702193892"
        draw = rng.random()
        kind = (
            "Order"
            if items_left or draw < 0.88
            else "Refund"
            if draw < 0.95
            else ("Service Fee" if draw < 0.985 else "Adjustment" if draw < 0.995 else "Transfer")
        )
        if kind in ("Order", "Refund"):
            if not items_left:
                order_id = f"{rng.randrange(111, 115)}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
                items_left = rng.choice((1, 1, 2, 3)) if kind == "Order" else 1
                place = rng.choices(PLACES, weights)[0]
            items_left -= 1
            values, texts = order_cells(rng, kind, rng.choice(items), place)
            result.order_rows += 1
            result.state_totals[place[0]] = result.state_totals.get(place[0], 0) + sum(values)
        else:
            values, texts = other_cells(rng, kind)
        row_order = order_id if kind in ("Order", "Refund") else ""
        total = sum(values)
        result.total += total
        writer.writerow(
            [
                days[day] + time_of_day,
                settlement,
                kind,
                row_order,
                *texts,
                *map(money, values),
                money(total),
                "Released",
                days[day + 7] + time_of_day,
            ]
        )
        if number % batch == batch - 1:
            result.bytes_written += flush(buffer, out)
    result.bytes_written += flush(buffer, out)
    result.rows = rows
    return result


def flush(buffer: io.StringIO, out: BinaryIO) -> int:
    """Move the buffered text to ``out`` as UTF-8; return the bytes written."""
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    out.write(data)
    return len(data)


def main(argv: list[str] | None = None) -> int:
    """Command line: write the report to a path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="where to write the CSV")
    parser.add_argument("--rows", type=int, default=1_000_000, help="transaction rows (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same file)")
    args = parser.parse_args(argv)
    with open(args.path, "wb") as out:
        made = write_report(out, args.rows, args.seed)
    print(f"{made.rows:,} rows, {made.bytes_written:,} bytes written to {args.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
