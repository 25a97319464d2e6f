"""Which report an upload is, told from its content: file names and extensions lie (V2 files end in .csv)."""

import csv
import re
from dataclasses import dataclass

from webapp.reconciliation.reader.model import DATE_RANGE, ORDERS, SETTLEMENT_V1, SETTLEMENT_V2, ReportError

SCAN_LINES = 30
LABELS = {
    DATE_RANGE: "Date Range Transaction report",
    SETTLEMENT_V2: "settlement flat file V2",
    ORDERS: "orders report",
    SETTLEMENT_V1: "legacy settlement flat file (V1)",
}
NATIVE_DELIMITER = {DATE_RANGE: ",", SETTLEMENT_V2: "\t", ORDERS: "\t", SETTLEMENT_V1: "\t"}
DELIMITER_NAMES = {",": "commas", "\t": "tabs", ";": "semicolons"}
EXPECTED = (
    "expected a Date Range Transaction report (CSV whose header has date/time, settlement id, type … total), "
    "a settlement flat file V2 (tab-separated, header settlement-id … amount-type, amount-description, amount) "
    "or an orders report with ship-state (Amazon Fulfilled Shipments or All Orders)"
)
# First header cells of the Date Range report when Seller Central's language is not English.
LOCALISED_FIRST = {"dataora:", "dataora", "datumuhrzeit", "fechayhora", "fechahora", "dateheure", "datahora"}
SEPARATORS = re.compile(r"[\s/_\-]+")


@dataclass(frozen=True)
class Detected:
    """The report kind, the physical line of its header and the header's cells."""

    kind: str
    line: int
    delimiter: str
    header: list[str]


def header_key(name: str) -> str:
    """'Date/Time', 'date time' and 'date-time' all become 'datetime'; 'settlement-id' → 'settlementid'."""
    return SEPARATORS.sub("", name.strip().lower())


def lacking(names: list[str]) -> str:
    """'the header lacks the column 'order state'': missing columns as the report spells them."""
    quoted = [repr(name) for name in names]
    if len(quoted) == 1:
        return f"the header lacks the column {quoted[0]}"
    return f"the header lacks the columns {', '.join(quoted[:-1])} and {quoted[-1]}"


def classify(keys: set[str]) -> str | None:
    """The report kind a set of normalised header cells belongs to, if any."""
    if {"settlementid", "pricetype", "itemrelatedfeetype"} <= keys or {"settlementid", "shipmentfeetype"} <= keys:
        return SETTLEMENT_V1
    if {"settlementid", "amounttype", "amountdescription", "amount"} <= keys:
        return SETTLEMENT_V2
    if {"datetime", "settlementid", "type", "total"} <= keys:
        return DATE_RANGE
    if "shipstate" in keys and keys & {"amazonorderid", "orderid"}:
        return ORDERS
    return None


def split_cells(line: str, delimiter: str) -> list[str]:
    """One line's cells under a delimiter (CSV quoting honoured); [] when it does not parse."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return []


def detect(lines: list[str]) -> Detected:
    """Find the header among the first lines and name the report, or raise ReportError saying why not."""
    first = next((number for number, line in enumerate(lines, 1) if line.strip()), None)
    if first is None:
        raise ReportError(1, "the file has only blank lines; " + EXPECTED)
    refuse_markup(lines[first - 1], first)
    for number, line in enumerate(lines[first - 1 : SCAN_LINES], first):
        for delimiter in (",", "\t", ";"):
            cells = split_cells(line, delimiter)
            if len(cells) < 3:
                continue
            keys = {header_key(cell) for cell in cells}
            kind = classify(keys)
            if kind is not None:
                return checked(Detected(kind, number, delimiter, cells))
            if header_key(cells[0]) in LOCALISED_FIRST:
                raise ReportError(number, f"the header {cells[0].strip()!r} … is not in English; "
                                  "set Seller Central's language to English and download the report again")
    raise ReportError(first, f"no report header found (the file begins {describe(lines[first - 1])}); {EXPECTED}")


def checked(found: Detected) -> Detected:
    """Refuse the legacy V1 file and headers separated by the wrong character."""
    if found.kind == SETTLEMENT_V1:
        raise ReportError(found.line, f"this is the {LABELS[SETTLEMENT_V1]} ({len(found.header)} columns with "
                          "price-type / item-related-fee-type), which Amazon is retiring; upload the settlement "
                          "flat file V2 or the Date Range Transaction report instead", SETTLEMENT_V1)
    native = NATIVE_DELIMITER[found.kind]
    if found.delimiter != native:
        raise ReportError(found.line, f"the header of this {LABELS[found.kind]} is separated by "
                          f"{DELIMITER_NAMES[found.delimiter]}, but the report uses {DELIMITER_NAMES[native]}: "
                          "it was probably re-saved by a spreadsheet; download the original report again")
    return found


def refuse_markup(line: str, number: int) -> None:
    """XML settlement reports and HTML pages saved in place of a report are named as such."""
    start = line.lstrip("\ufeff \t").lower()
    if start.startswith("<?xml") or start.startswith("<amazonenvelope"):
        raise ReportError(number, "this is the XML settlement report, which Amazon is retiring; "
                          "upload the settlement flat file V2 or the Date Range Transaction report instead")
    if start.startswith(("<!doctype html", "<html")):
        raise ReportError(number, "this is a web page (HTML), not a report: the download probably failed or "
                          "needed a login; download the report again")


def describe(line: str) -> str:
    """A short quote of what a line holds, for messages."""
    text = line.strip()
    return repr(text if len(text) <= 60 else text[:60] + "…")
