"""The Date Range Transaction report (CSV): its preamble and columns, and the loop over its rows.

One row per transaction, money spread over columns, with `order state`. The per-row work is in
``date_range_rows``: together they pass the size a module should have, and the columns are what a
new report version changes, the rows what the speed of the reader depends on.
"""

import csv
import re
import sys
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

from webapp.reconciliation.reader import model as m
from webapp.reconciliation.reader.date_range_rows import DateRangeRows
from webapp.reconciliation.reader.detect import Detected, header_key, lacking
from webapp.reconciliation.reader.model import RowError
from webapp.reconciliation.reader.reading import Context
from webapp.reconciliation.reader.two_cores.halves import start_second_half
from webapp.reconciliation.reader.two_cores.helper import SecondHalf

CURRENCY_NOTE = re.compile(r"all amounts in ([a-z]{3})\b", re.IGNORECASE)
END = sys.maxsize  # a line number no record reaches
MONEY = {
    "productsales": m.PRODUCT_SALES, "productsalestax": m.PRODUCT_TAX, "shippingcredits": m.SHIPPING,
    "shippingcreditstax": m.SHIPPING_TAX, "giftwrapcredits": m.GIFT_WRAP, "giftwrapcreditstax": m.GIFT_WRAP_TAX,
    "regulatoryfee": m.REGULATORY_FEE, "taxonregulatoryfee": m.REGULATORY_FEE_TAX,
    "promotionalrebates": m.PROMOTIONS, "promotionalrebatestax": m.PROMOTION_TAX,
    "marketplacewithheldtax": m.WITHHELD_TAX, "salestaxcollected": m.SALES_TAX,
    "marketplacefacilitatortax": m.WITHHELD_TAX, "sellingfees": m.SELLING_FEES, "fbafees": m.FBA_FEES,
    "othertransactionfees": m.OTHER_FEES, "other": m.OTHER,
}
REQUIRED_NAMES = ("date/time", "settlement id", "type", "order id", "sku", "quantity", "marketplace", "order state",
                  "product sales", "total")  # as the report spells them, for messages
REQUIRED = tuple(header_key(name) for name in REQUIRED_NAMES)
TEXT_COLUMNS = {"description", "accounttype", "fulfillment", "ordercity", "orderpostal", "taxcollectionmodel",
                "transactionstatus", "transactionreleasedate"}
ALIASES = {"amazonorderid": "orderid"}


def read_date_range(head: list[str], rest: Iterator[str], found: Detected, ctx: Context,
                    path: str | Path | None = None) -> None:
    """Read the report whose header ``detect`` found on line ``found.line`` of ``head``.

    :param path: the file on disk, when it is one: a large file's later part is then read by a helper process.
    """
    for number, line in enumerate(head[: found.line - 1], 1):
        note = CURRENCY_NOTE.search(line)
        if note and note.group(1).upper() != "USD":
            ctx.agg.error(number, f"the report says amounts are in {note.group(1).upper()}; "
                          "only US marketplace reports in USD are accepted")
    reader = csv.reader(chain(head[found.line :], rest), strict=True)
    rows = rows_for(found, ctx)
    half = start_second_half(path, found, ctx, rows) if path is not None else None
    try:
        read_rows(reader, rows, found.line, half)
    finally:
        if half is not None:
            half.close()
            half.remove_staged()
    rows.finish(found.line)


def rows_for(found: Detected, ctx: Context, kind: type[DateRangeRows] = DateRangeRows) -> DateRangeRows:
    """The per-row work of the report whose header is ``found``, with its columns looked up once."""
    return kind(found, ctx, columns(found, ctx), money_columns(found.header))


def read_rows(reader: "csv._reader", rows: DateRangeRows, offset: int, half: SecondHalf | None = None) -> None:
    """Feed every CSV row to ``rows`` with its first physical line; CSV syntax errors are recorded.

    With ``half``, records ending past the line it names next are reported to it (a few per chunk
    read); when the helper's sums stand in for the rest of the file, reading stops there.
    """
    add, error, width, ctx = rows.add, rows.agg.error, rows.width, rows.ctx
    summary, last = rows.agg.summary, 0
    stop = -1 if half is not None else END
    while True:
        try:
            for cells in reader:
                line = offset + last + 1
                last = reader.line_num
                if last > stop:
                    stop = next_stop(half, line, offset + last) - offset
                    if stop < 0:
                        return
                if len(cells) != width:
                    rows.odd_row(cells, line)
                    continue
                summary.rows += 1
                if summary.rows % ctx.every == 0 and ctx.progress is not None:
                    ctx.progress(summary.rows, ctx.source.bytes_read)
                try:
                    add(cells, line)
                except RowError as exc:
                    error(line, str(exc))
            return
        except csv.Error as exc:
            line, last = offset + last + 1, reader.line_num
            if last > stop:
                stop = next_stop(half, line, offset + last) - offset
                if stop < 0:
                    return
            error(line, csv_problem(exc))


def next_stop(half: SecondHalf | None, first: int, end: int) -> int:
    """The line after which ``read_rows`` reports to ``half`` again; -1 to stop reading (see ``SecondHalf.passed``)."""
    if half is None:
        return END
    line = half.passed(first, end)
    return -1 if line is None else line


def csv_problem(exc: csv.Error) -> str:
    """A CSV syntax error in words."""
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quoted field is not closed before the end of the file (the file is truncated)"
    if "field larger than field limit" in text:
        return "a field is larger than 128 KB: a quote is probably not closed"
    return f"the CSV quoting is broken ({text})"


def columns(found: Detected, ctx: Context) -> dict[str, int]:
    """Header key → column index; missing required columns raise, unknown ones are noted."""
    col: dict[str, int] = {}
    for index, name in enumerate(found.header):
        key = ALIASES.get(header_key(name), header_key(name))
        if key not in col:
            col[key] = index
        if key not in MONEY and key not in TEXT_COLUMNS and key not in REQUIRED:
            ctx.agg.note(f"column:{key}", found.line, f"column {name.strip()!r} is not known and was ignored: every "
                         "row's total is checked against the known amount columns, so totals are unaffected")
    missing = [name for key, name in zip(REQUIRED, REQUIRED_NAMES, strict=True) if key not in col]
    if missing:
        raise m.ReportError(found.line, lacking(missing))
    return col


def money_columns(header: list[str]) -> list[tuple[str, str, str]]:
    """(key, bucket, column name) of each money column except total, in header order."""
    seen: set[str] = set()
    result = []
    for name in header:
        key = header_key(name)
        if key in MONEY and key not in seen:
            seen.add(key)
            result.append((key, MONEY[key], name.strip()))
    return result
