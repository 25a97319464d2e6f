"""A small hand-made Date Range report: totals per state exact in cents, whatever the encoding."""

import codecs
import io
from datetime import date

import pytest

from tests.recon_corpus.builders import DR_HEADER_LINE, dr_file, dr_row
from webapp.reconciliation.reader.model import DATE_RANGE, ReportSummary, SkuLine
from webapp.reconciliation.reader.read import summarize_report

S1, S2 = "6503097031", "6503097032"
ROWS = [
    dr_row("Order", "113-0013318-7697855", state="WA", product_sales="57.96", selling_fees="-8.69",
           fba_fees="-10.19", total="39.08"),
    dr_row("Order", "112-1111111-2222222", sku="SKU-B", quantity="2", state="California",
           product_sales="1,024.50", product_sales_tax="92.21", marketplace_withheld_tax="-92.21",
           shipping_credits="4.99", promotional_rebates="-4.99", selling_fees="-153.68", fba_fees="-12.40"),
    dr_row("Order", "112-1111111-2222222", sku="SKU-C", state="CA",
           description='Tool Bag, 12" wide,\nPack of 2 — café edition', product_sales="19.99",
           product_sales_tax="1.80", marketplace_withheld_tax="-1.80", selling_fees="-3.00", fba_fees="-3.22"),
    dr_row("Refund", "114-3333333-4444444", state="ny", when="Jun 3, 2026 4:05:06 PM PDT",
           product_sales="-57.96", product_sales_tax="-5.14", marketplace_withheld_tax="5.14", selling_fees="6.95"),
    dr_row("Transfer", "", sku="", quantity="", state="", description="To account ending in: 042", other="-500.00"),
    dr_row("Service Fee", "", sku="", quantity="", state="", description="Cost of Advertising",
           other_transaction_fees="-39.99"),
    dr_row("FBA Inventory Fee", "FBA19CD9HGQ8", sku="", quantity="", state="", fba_fees="-128.00"),
    dr_row("Order", "113-5555555-6666666", sku="SKU-B", state="PR", product_sales="100.00", selling_fees="-15.00"),
    dr_row("Order", "111-7777777-8888888", quantity="3", state="wa", settlement=S2,
           when="Jun 15, 2026 9:10:11 AM PDT", product_sales="173.88", selling_fees="-26.08"),
]
TEXT = dr_file(ROWS) + "\n"


def read(data: bytes, **options: object) -> ReportSummary:
    """Summarize bytes as an uploaded file."""
    return summarize_report(io.BytesIO(data), **options)  # type: ignore[arg-type]


def test_totals_per_state_are_exact_in_cents() -> None:
    summary = read(TEXT.encode())
    assert summary.ok, summary.errors
    assert summary.kind == DATE_RANGE and summary.rows == 9
    per_state = {state: (t.orders, t.refunds, t.total) for state, t in summary.per_state().items()}
    assert per_state == {
        "WA": (2, 0, 3908 + 14780), "CA": (1, 0, 85842 + 1377), "NY": (0, 1, -5101), "PR": (1, 0, 8500)}
    assert summary.total == 42507
    assert {label: (o.rows, o.total) for label, o in summary.other.items()} == {
        "Transfer": (1, -50000), "Service Fee": (1, -3999), "FBA Inventory Fee": (1, -12800)}


def test_state_orders_carry_sku_lines_and_tax_for_the_erp() -> None:
    summary = read(TEXT.encode())
    california = summary.state_orders[(S1, "CA")]
    assert california.lines == {"SKU-B": SkuLine(2, 102450, 499, 0, -499), "SKU-C": SkuLine(1, 1999, 0, 0, 0)}
    assert california.tax["product_tax"] == 9401 and california.tax["withheld_tax"] == -9401
    assert california.amounts["selling_fees"] == -15668 and california.total == 87219
    assert summary.state_orders[(S1, "NY")].lines["MKP-FDW8652-U"] == SkuLine(-1, -5796, 0, 0, 0)
    assert summary.state_orders[(S2, "WA")].lines["MKP-FDW8652-U"].quantity == 3
    assert sorted(summary.state_orders) == [(S1, "CA"), (S1, "NY"), (S1, "PR"), (S1, "WA"), (S2, "WA")]


def test_settlement_periods_come_from_the_rows() -> None:
    settlements = read(TEXT.encode()).settlements
    assert (settlements[S1].start, settlements[S1].end) == (date(2026, 6, 1), date(2026, 6, 3))
    assert (settlements[S2].start, settlements[S2].end, settlements[S2].rows) == (date(2026, 6, 15),) * 2 + (1,)


def test_warnings_list_non_order_rows_and_territories() -> None:
    warnings = [str(problem) for problem in read(TEXT.encode()).warnings]
    assert any("territory PR" in text and "line 17" in text for text in warnings)
    assert any("'FBA19CD9HGQ8'" in text and "non-order totals" in text for text in warnings)
    assert any("'Transfer' rows are not sales orders" in text for text in warnings)


def fingerprint(summary: ReportSummary) -> tuple:
    """Everything that must not depend on encoding, line endings or chunking."""
    warnings = [str(w) for w in summary.warnings if "Windows-1252" not in w.message]
    return (summary.rows, summary.total, summary.per_state(), summary.state_orders, summary.other,
            summary.settlements, summary.errors, warnings)


ENCODINGS = {
    "utf-8": lambda text: text.encode("utf-8"),
    "utf-8-bom": lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
    "windows-1252": lambda text: text.encode("cp1252"),
    "utf-16-le-bom": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-be-bom": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("chunk_size", [7, 1 << 16])
def test_encodings_line_endings_and_chunking_give_identical_results(encoding: str, newline: str,
                                                                    chunk_size: int) -> None:
    reference = fingerprint(read(TEXT.encode()))
    text = dr_file(ROWS, newline=newline) + newline
    summary = read(ENCODINGS[encoding](text), chunk_size=chunk_size)
    assert fingerprint(summary) == reference
    assert summary.encoding.replace("-sig", "") in {"utf-8", "windows-1252", "utf-16-le", "utf-16-be"}


def test_windows_1252_is_named_in_a_warning() -> None:
    summary = read(ENCODINGS["windows-1252"](TEXT))
    assert summary.ok and summary.encoding == "windows-1252"
    assert any("Windows-1252" in w.message for w in summary.warnings)


def test_lenient_mode_counts_unknown_states_under_unknown() -> None:
    rows = [*ROWS, dr_row("Order", "113-9999999-0000000", state="XX", product_sales="10.00")]
    strict = read(dr_file(rows).encode())
    lenient = read(dr_file(rows).encode(), lenient_states=True)
    assert [(e.line, "'XX' is not a US state" in e.message) for e in strict.errors] == [(19, True)]
    assert lenient.ok and lenient.per_state()["UNKNOWN"].total == 1000
    assert [(w.line, w.message) for w in lenient.warnings if "'XX'" in w.message] == [
        (19, "order state 'XX' is not a US state: counted in an UNKNOWN order (lenient states); the file total is "
             "unaffected, but no state's total includes it (1 row)")]
    assert strict.unknown_states == lenient.unknown_states == {"XX": 1}


def test_the_2017_layout_without_newer_columns_is_read_by_name() -> None:
    header = ("date/time", "settlement id", "type", "order id", "sku", "description", "quantity", "marketplace",
              "fulfillment", "order city", "order state", "order postal", "product sales", "shipping credits",
              "gift wrap credits", "promotional rebates", "sales tax collected", "Marketplace Facilitator Tax",
              "selling fees", "fba fees", "other transaction fees", "other", "total")
    row = ["Dec 1, 2017 12:38:23 AM PST", "6503097031", "Order", "113-0013318-7697855", "MKP-FDW8652-U",
           "Adfors FibaFuse FDW8652 Paperless Drywall Joint Tape 2 in. x 250 ft. White, Pack of 10", "1",
           "amazon.com", "Amazon", "BAINBRIDGE ISLAND", "WA", "98110-1523", "57.96", "0", "0", "0", "0", "0",
           "-8.69", "-10.19", "0", "0", "39.08"]
    summary = read(dr_file([row], header=header).encode())
    assert summary.ok, summary.errors
    assert summary.per_state()["WA"].total == 3908
    assert summary.settlements["6503097031"].start == date(2017, 12, 1)


def test_order_rows_with_a_blank_order_id_are_not_orders() -> None:
    rows = [dr_row("Order", "", product_sales="5.00"), dr_row("Order", "113-0013318-7697855", product_sales="7.00"),
            dr_row("Order", "", product_sales="3.00")]
    summary = read(dr_file(rows).encode())
    assert summary.ok and summary.per_state()["WA"].total == 700
    assert summary.other["Order"].total == 800 and summary.other["Order"].rows == 2


def test_rows_like_an_earlier_plain_row_are_checked_alike() -> None:
    rows = [
        dr_row("Order", "113-0000000-0000001", product_sales="1.00"),
        dr_row("Order", "not an order id", product_sales="2.00"),  # type, marketplace, state, quantity as above
        dr_row("Refund", "113-0000000-0000001", product_sales="-1.00"),
        dr_row("Refund", "113-0000000-0000002", quantity="2", product_sales="-1.00"),
        dr_row("Refund", "113-0000000-0000003", quantity="2", product_sales="-1.00"),
        dr_row("Order", "113-0000000-0000004", state="PR", product_sales="3.00"),
        dr_row("Order", "113-0000000-0000005", state="PR", product_sales="3.00"),
        dr_row("Order", "113-0000000-0000006", product_sales="1.00", total="9.00"),
    ]
    summary = read(dr_file(rows).encode())
    washington, puerto_rico = summary.state_orders[(S1, "WA")], summary.state_orders[(S1, "PR")]
    assert (washington.orders, washington.refunds, washington.rows) == (1, 3, 4)
    assert washington.lines["MKP-FDW8652-U"] == SkuLine(1 - 1 - 2 - 2, 100 - 300, 0, 0, 0)
    assert (puerto_rico.orders, puerto_rico.rows) == (2, 2)
    assert summary.other == {}
    assert [(p.line, p.message) for p in summary.errors] == [
        (DR_HEADER_LINE + 2, "order id 'not an order id' is not an Amazon order id (###-#######-#######), yet the "
                             "row is an order or refund"),
        (DR_HEADER_LINE + 8, "the amounts add up to 1.00 but total says 9.00")]
    assert any("territory PR" in p.message and "(2 rows)" in p.message for p in summary.warnings)


def test_an_order_whose_id_a_spreadsheet_damaged_is_an_error_not_a_dropped_sale() -> None:
    rows = [*ROWS, dr_row("Order", "1.13001E+18", state="WA", product_sales="11.82")]  # ROWS take 10 lines
    summary = read(dr_file(rows).encode())
    assert not summary.ok
    assert [(p.line, p.message.split(":")[0]) for p in summary.errors] == [
        (DR_HEADER_LINE + 11, "order id '1.13001E+18' was damaged by a spreadsheet (scientific notation)")]
    assert "Order" not in summary.other


def test_order_rows_without_an_order_id_are_a_warning_that_says_totals_are_unaffected() -> None:
    rows = [dr_row("Order", "113-0013318-7697855", product_sales="7.00"), dr_row("Order", "", product_sales="5.00")]
    warnings = [(p.line, p.message) for p in read(dr_file(rows).encode()).warnings]
    assert (DR_HEADER_LINE + 2, "Order rows without an order id are not sales order lines: counted in the non-order "
            "totals; the state totals hold the rows with one, so they are unaffected (1 row, 5.00)") in warnings


def test_formatted_amounts_that_show_their_cents_are_a_warning_that_says_totals_are_unaffected() -> None:
    rows = [dr_row(product_sales="$57.96", selling_fees="(8.69)", total="49.27"),
            dr_row(product_sales="1,024.50", selling_fees="(153.68)", total="870.82")]
    summary = read(dr_file(rows).encode())
    assert summary.ok, summary.errors
    assert summary.per_state()["WA"].total == 4927 + 87082
    assert [(p.line, p.message) for p in summary.warnings] == [
        (DR_HEADER_LINE + 1, "amounts such as '$57.96' (product sales) were formatted by a spreadsheet, not written "
                             "by Amazon; each shows its cents, so it is read exactly and totals are unaffected "
                             "(2 rows)")]
