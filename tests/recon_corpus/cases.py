"""The catalogue of malformed reports, one per case of the research: the upload, the line its error names, a phrase."""

import io
import random
import zipfile
from dataclasses import dataclass

from tests.recon_corpus.builders import (
    CORPUS,
    DR_HEADER,
    DR_PREAMBLE,
    ORDERS_HEADER,
    V2_HEADER,
    dr_file,
    dr_row,
    orders_file,
    quoted,
    tsv,
    v2_row,
    v2_summary,
)

H = len(DR_PREAMBLE) + 1  # the Date Range header line; its first row is H + 1
GOOD = dr_row(product_sales="57.96", selling_fees="-8.69", fba_fees="-10.19")
ORDERS = orders_file({"114-8829371-4410258": "WA", "113-2047718-9930613": "CA"})


@dataclass
class Case:
    """A malformed upload, the line its error must name, and a phrase of the message."""

    data: bytes
    line: int | None
    phrase: str
    orders: bytes | None = None


def dr(*rows: list[str], **options: object) -> bytes:
    """A Date Range report as UTF-8 bytes."""
    return dr_file(list(rows), **options).encode()  # type: ignore[arg-type]


def v2(*rows: list[str], orders: bytes | None = ORDERS) -> tuple[bytes, bytes | None]:
    """A V2 file as UTF-8 bytes, with an orders report for its orders."""
    return tsv(V2_HEADER, list(rows)).encode(), orders


def v2_case(rows: list[list[str]], line: int | None, phrase: str, orders: bytes | None = ORDERS) -> Case:
    """A V2 case with its orders report."""
    data, orders = v2(*rows, orders=orders)
    return Case(data, line, phrase, orders)


def replace_cell(row: list[str], column: str, value: str) -> list[str]:
    """A copy of a Date Range row with one cell changed (the total is not recomputed)."""
    changed = list(row)
    changed[DR_HEADER.index(column)] = value
    return changed


def v2_cell(row: list[str], column: str, value: str) -> list[str]:
    """A copy of a V2 row with one cell changed."""
    changed = list(row)
    changed[V2_HEADER.index(column)] = value
    return changed


SUMMARY = v2_summary(total="30.00")
DETAIL = [v2_row(amount="10.00"), v2_row(order_id="113-2047718-9930613", amount="20.00")]
UTF16_TEXT = dr_file([GOOD])
RANDOM = random.Random(7).randbytes(5000)


def workbook() -> bytes:
    """An Excel workbook's first entries, as an .xlsx renamed .csv begins."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
    return out.getvalue()


XLSX = workbook()
TWO = dr(GOOD, GOOD)
FIELDS = len(DR_HEADER)

CASES = {
    # the container is not a text report
    "empty file": Case(b"", 1, "the file is empty"),
    "only blank lines": Case(b"\n\r\n  \n", 1, "only blank lines"),
    "xlsx workbook": Case(XLSX, 1, "this is not a text report: it looks like an Excel workbook (XLSX); download the "
                                   "report from Seller Central again as a text file"),
    "zip archive": Case(b"PK\x03\x04\x14\x00\x06\x00rest-of-zip", 1, "it looks like a ZIP archive, or an Excel "
                                                                      "workbook; if it is an archive, unpack it"),
    "random bytes": Case(RANDOM, 1, "this is not a text report: it looks like binary data"),
    "old xls workbook": Case(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", 1, "old-style Excel"),
    "pdf": Case(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", 1, "this is not a text report: it looks like a PDF document"),
    "gzip download": Case(b"\x1f\x8b\x08\x00\x00\x00\x00\x00", 1, "gzip-compressed"),
    "html login page": Case(b"\n<!DOCTYPE html><html><body>Sign in</body></html>\n", 2, "web page (HTML)"),
    "xml settlement report": Case(b'<?xml version="1.0"?>\n<AmazonEnvelope>\n', 1, "XML settlement report"),
    "utf-16 without bom": Case(UTF16_TEXT.encode("utf-16-le"), 1, "UTF-16 without a byte-order mark"),
    "nul bytes": Case(dr(GOOD, GOOD).replace(b"Pack of 10", b"Pack\x00of 10", 1), H + 1, "NUL bytes"),
    "mixed encodings": Case(dr(dr_row(description="café"), dr_row(description="cafBYTE")).replace(
        b"BYTE", b"\xe9"), H + 2, "mixes encodings"),
    "undecodable byte": Case(dr(GOOD, dr_row(description="xBYTE")).replace(b"BYTE", b"\x81"), H + 2,
                             "neither UTF-8 nor Windows-1252"),
    "line longer than 1 MB": Case(b'"x' + b"y" * (2 << 20) + b'"\n', 1, "longer than 1 MB"),
    # the header is missing, wrong or not ours
    "preamble without header": Case(dr_file([], header=("notes",)).encode(), 1, "no report header found"),
    "data rows without header": Case(quoted(GOOD).encode() + b"\n", 1, "no report header found"),
    "legacy v1 settlement file": Case((CORPUS / "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE.csv").read_bytes(), 1,
                                      "legacy settlement flat file (V1)"),
    "date range with semicolons": Case(dr(GOOD, delimiter=";"), H, "separated by semicolons"),
    "v2 re-saved with commas": Case(",".join(V2_HEADER).encode() + b"\n", 1, "separated by commas"),
    "italian headers": Case(dr(header=("Data/Ora:", "Numero pagamento", "Tipo", "Numero ordine")), H, "not in English"),
    "missing required column": Case(dr(GOOD[:11] + GOOD[12:], header=DR_HEADER[:11] + DR_HEADER[12:]), H,
                                    "the header lacks the column 'order state'"),
    "missing required columns": Case(dr(header=tuple(name for name in DR_HEADER if name not in ("sku", "order state"))),
                                     H, "the header lacks the columns 'sku' and 'order state'"),
    "orders report alone": Case(ORDERS, 1, "it only supplies ship-to states"),
    "date range header only": Case(dr(), H, "not followed by any transaction rows"),
    "v2 header only": v2_case([], 1, "not followed by a summary row"),
    "v2 missing required column": Case(tsv(tuple(name for name in V2_HEADER if name != "order-id"), []).encode(), 1,
                                       "the header lacks the column 'order-id'", ORDERS),
    # broken rows
    "truncated mid-row": Case(TWO[: TWO.rindex(b'","', 0, len(TWO) - 200) + 1], H + 2, f"expected {FIELDS} fields"),
    "truncated inside quotes": Case(dr(GOOD, GOOD)[:-20], H + 2, "not closed before the end of the file"),
    "row with an extra field": Case(dr(GOOD, GOOD + ["x"]), H + 2, f"found {FIELDS + 1}"),
    "header repeated mid-file": Case(dr(GOOD, list(DR_HEADER), GOOD), H + 2, "a second header line"),
    "row total differs from its columns": Case(dr(GOOD, dr_row(product_sales="10.00", total="11.00")), H + 2,
                                               "add up to 10.00 but total says 11.00"),
    "amount with 3 decimals": Case(dr(dr_row(product_sales="12.345", total="12.35")), H + 1,
                                   "'12.345' has 3 decimals"),
    "text in an amount column": Case(dr(GOOD, replace_cell(GOOD, "fba fees", "N/A")), H + 2,
                                     "fba fees: 'N/A' is not an amount"),
    "excel scientific amount": Case(dr(dr_row(product_sales="1.23E+05", total="123000.00")), H + 1,
                                    "scientific notation"),
    "euro amounts": Case(dr(dr_row(product_sales="€12.00", total="12.00")), H + 1, "not in US dollars"),
    "trailing minus from a spreadsheet": Case(dr(dr_row(product_sales="55.00-", total="-55.00")), H + 1,
                                              "trailing minus"),
    "dollar amount rounded by a spreadsheet": Case(dr(GOOD, dr_row(product_sales="$12", total="12.00")), H + 2,
                                                   "product sales: '$12' is formatted as a spreadsheet displays it, "
                                                   "without exactly two decimals"),
    "thousands without cents": Case(dr(dr_row(product_sales="1,024", total="1024.00")), H + 1,
                                    "product sales: '1,024' is formatted as a spreadsheet displays it"),
    "empty total": Case(dr(replace_cell(GOOD, "total", "")), H + 1, "total: the amount is empty"),
    "quantity not whole": Case(dr(GOOD, dr_row(quantity="1.5")), H + 2, "'1.5' is not a whole number"),
    "unparseable date": Case(dr(dr_row(when="2026-06-01T00:38:23Z")), H + 1, "is not a date like"),
    "date reformatted by a spreadsheet": Case(dr(GOOD, dr_row(when="6/1/2026 0:38")), H + 2,
                                              "date/time '6/1/2026 0:38' is not a date like 'Dec 1, 2017 12:38:23 AM "
                                              "PST', as Amazon writes it: a spreadsheet probably reformatted it"),
    "date with a two-digit year": Case(dr(dr_row(when="Jun 1, 26 12:38:23 AM PDT")), H + 1,
                                       "date/time 'Jun 1, 26 12:38:23 AM PDT' is not a date like"),
    "date on a 24-hour clock": Case(dr(dr_row(when="Jun 1, 2026 00:38:23 PDT")), H + 1,
                                    "date/time 'Jun 1, 2026 00:38:23 PDT' is not a date like"),
    "settlement id damaged by excel": Case(dr(dr_row(settlement="6.5031E+09")), H + 1, "damaged by a spreadsheet"),
    "order id damaged by excel": Case(dr(GOOD, dr_row(order_id="1.13001E+18", product_sales="11.82")), H + 2,
                                      "order id '1.13001E+18' was damaged by a spreadsheet (scientific notation)"),
    "order id that lost a leading digit": Case(dr(dr_row(order_id="13-0013318-7697855")), H + 1,
                                               "order id '13-0013318-7697855' is not an Amazon order id"),
    "refund order id as a 12-digit number": Case(dr(dr_row("Refund", "113001331876", product_sales="-5.00")), H + 1,
                                                 "order id '113001331876' is not an Amazon order id"),
    "order id damaged by excel on a fee row": Case(dr(GOOD, dr_row("Adjustment", "1.13001E+18", sku="", quantity="",
                                                                   other="5.00")), H + 2,
                                                   "order id '1.13001E+18' was damaged by a spreadsheet"),
    "sku damaged by excel": Case(dr(GOOD, dr_row(sku="1.23E+05")), H + 2,
                                 "sku '1.23E+05' was damaged by a spreadsheet (scientific notation)"),
    "unknown state": Case(dr(GOOD, dr_row(state="XX")), H + 2, "'XX' is not a US state"),
    "zip code in the state column": Case(dr(dr_row(state="98110")), H + 1, "'98110' is not a US state"),
    "blank state on an order row": Case(dr(GOOD, GOOD, dr_row(state="")), H + 3, "order state blank"),
    "amounts in CAD": Case(dr(GOOD, preamble=("All amounts in CAD, unless specified",)), 1, "amounts are in CAD"),
    "only non-US marketplace rows": Case(dr(dr_row(marketplace="amazon.ca"), dr_row(marketplace="amazon.ca")),
                                         H + 1, "no US (amazon.com) order rows"),
    # settlement V2 specific
    "v2 detail rows do not add up": v2_case([SUMMARY, DETAIL[0], v2_row(amount="19.99")], 2,
                                            "add up to 29.99 but the summary row's total-amount is 30.00"),
    "v2 truncated download": v2_case([SUMMARY, DETAIL[0]], 2, "the file is incomplete or was edited"),
    "v2 missing summary row": v2_case(DETAIL, 2, "has no summary row before its detail rows"),
    "v2 duplicate summary rows": v2_case([SUMMARY, SUMMARY, *DETAIL], 3, "a second summary row"),
    "v2 summary after detail": v2_case([DETAIL[0], SUMMARY], 3, "comes after its detail rows"),
    "v2 euro settlement": v2_case([v2_summary(total="30.00", currency="EUR"), *DETAIL], 2, "currency is EUR"),
    "v2 decimal commas": v2_case([v2_summary(total="1141,18"), *DETAIL], 2, "decimal comma"),
    "v2 german dates": v2_case([v2_summary(total="30.00", start="14.03.2023 07:49:55 UTC"), *DETAIL], 2,
                               "is not a date like '2026-06-16 00:00:00 UTC'"),
    "v2 deposit date reformatted by a spreadsheet": v2_case([v2_cell(SUMMARY, "deposit-date", "7/2/2026"), *DETAIL],
                                                            2, "deposit-date '7/2/2026' is not a date like"),
    "v2 posted date-time reformatted by a spreadsheet": v2_case(
        [SUMMARY, DETAIL[0], v2_cell(DETAIL[1], "posted-date-time", "6/17/2026 8:14")], 4,
        "posted-date-time '6/17/2026 8:14' is not a date like '2026-06-16 00:00:00 UTC', as Amazon writes it"),
    "v2 mixed currencies": v2_case([SUMMARY, DETAIL[0], v2_row(order_id="113-2047718-9930613", amount="20.00",
                                                                 currency="CAD")], 4, "mixed currencies"),
    "v2 empty amount": v2_case([SUMMARY, DETAIL[0], v2_row(amount="")], 4, "amount: the amount is empty"),
    "v2 accounting negative without cents": v2_case([SUMMARY, DETAIL[0], v2_row(amount="(20)")], 4,
                                                    "amount: '(20)' is formatted as a spreadsheet displays it"),
    "v2 total-amount without cents": v2_case([v2_summary(total="$30"), *DETAIL], 2,
                                             "total-amount: '$30' is formatted as a spreadsheet displays it"),
    "v2 blank amount type": v2_case([SUMMARY, DETAIL[0], v2_row(amount_type="", description="")], 4,
                                    "must both be filled in"),
    "v2 ragged row": v2_case([SUMMARY, DETAIL[0], DETAIL[1][:10]], 4, "expected 24 tab-separated fields"),
    "v2 settlement id damaged by excel": v2_case([v2_summary("2.84710E+10", total="30.00"), *DETAIL], 2,
                                                 "damaged by a spreadsheet"),
    "v2 order-id damaged by excel": v2_case([SUMMARY, DETAIL[0], v2_row(order_id="1.13205E+18", amount="20.00")], 4,
                                            "order-id '1.13205E+18' was damaged by a spreadsheet"),
    "v2 order-id without its dashes": v2_case([SUMMARY, DETAIL[0], v2_row("Refund", "11320477189930613",
                                                                          amount="20.00")], 4,
                                              "order-id '11320477189930613' is not an Amazon order id"),
    "v2 sku damaged by excel": v2_case([SUMMARY, DETAIL[0], v2_row(order_id="113-2047718-9930613", amount="20.00",
                                                                   sku="4.5E+11")], 4,
                                       "sku '4.5E+11' was damaged by a spreadsheet"),
    "v2 orders report with an order id damaged by excel": v2_case(
        [SUMMARY, *DETAIL], 3, "amazon-order-id '1.13205E+18' was damaged by a spreadsheet",
        orders=orders_file({"114-8829371-4410258": "WA", "1.13205E+18": "CA"})),
    "v2 orders report with two ship-states for an order": v2_case(
        [SUMMARY, *DETAIL], 3, "order-id 114-8829371-4410258: the orders report gives it two ship-states "
        "(ship-state 'WA' on an earlier line and 'OR' on line 3)",
        orders=tsv(ORDERS_HEADER, [["114-8829371-4410258", "", "", "1", "", state, "", "US"]
                                   for state in ("WA", "OR")]).encode()),
    "v2 order missing from orders report": v2_case([SUMMARY, *DETAIL], 4, "not in the orders report",
                                                   orders=orders_file({"114-8829371-4410258": "WA"})),
    "v2 orders report with unknown state": v2_case([SUMMARY, *DETAIL], 3, "'Nowhere' is not a US state",
                                                   orders=orders_file({"114-8829371-4410258": "Nowhere",
                                                                       "113-2047718-9930613": "CA"})),
    "v2 with a settlement file as orders report": v2_case([SUMMARY, *DETAIL], 1, "not an orders report",
                                                          orders=tsv(V2_HEADER, [SUMMARY]).encode()),
}
