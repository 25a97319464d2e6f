"""Malformed reports, one per case of the research catalogue: each an error naming its line, never an exception."""

import codecs
import io

import pytest

from tests.recon_corpus.builders import DR_HEADER, dr_row, v2_row, v2_summary
from tests.recon_corpus.cases import CASES, GOOD, ORDERS, RANDOM, UTF16_TEXT, XLSX, Case, dr, replace_cell, v2
from webapp.reconciliation.reader.read import summarize_report


def test_the_corpus_covers_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_malformed_report_gives_an_error_naming_the_line(case: Case) -> None:
    orders = io.BytesIO(case.orders) if case.orders is not None else None
    summary = summarize_report(io.BytesIO(case.data), orders=orders, chunk_size=4096)
    assert not summary.ok
    found = [(problem.line, problem.message) for problem in summary.errors]
    assert any(line == case.line and case.phrase in message for line, message in found), found


def test_utf16_with_bom_is_fine_where_bomless_is_refused() -> None:
    summary = summarize_report(io.BytesIO(codecs.BOM_UTF16_LE + UTF16_TEXT.encode("utf-16-le")))
    assert summary.ok, summary.errors


def test_errors_stop_being_listed_after_a_hundred_but_are_counted() -> None:
    rows = [dr_row(state="XX") for _ in range(150)]
    summary = summarize_report(io.BytesIO(dr(*rows)))
    assert summary.error_count == 150 and len(summary.errors) == 100
    assert summary.unknown_states == {"XX": 150}


def test_every_warning_says_the_totals_are_unaffected() -> None:
    date_range = dr(GOOD, dr_row(state="PR"), dr_row(state="Ontario"), dr_row(marketplace="amazon.ca"),
                    dr_row("Order", ""), dr_row("FBA Inventory Fee", "FBA19CD9HGQ8", sku="", quantity="", state=""),
                    dr_row("Transfer", "", sku="", quantity="", state="", other="-5.00"),
                    dr_row("Brand New Fee", "", sku="", quantity="", state="", other="-1.00"),
                    dr_row(product_sales="(5.00)", total="-5.00"), replace_cell(GOOD, "description", "café"),
                    header=DR_HEADER[:-1] + ("Brand New Column",)).replace(b"caf\xc3\xa9", b"caf\xe9")
    summary = summarize_report(io.BytesIO(date_range), orders=io.BytesIO(ORDERS))
    settlement, orders = v2(v2_summary(total="38.00"), v2_row(amount="10.00"),
                            v2_row(amount="2.00", amount_type="ItemFees", description="Brand New Fee"),
                            v2_row(order_id="113-2047718-9930613", amount="20.00"),
                            v2_row(order_id="", amount="1.00"), v2_row(marketplace="Amazon.ca", amount="5.00"),
                            orders=ORDERS + b"S01-1234567-1234567\t\t\t1\t\tWA\t\tUS\n")
    other = summarize_report(io.BytesIO(settlement), orders=io.BytesIO(orders))
    assert summary.ok and other.ok, (summary.errors, other.errors)
    warnings = summary.warnings + other.warnings
    assert len(warnings) == 15
    assert [str(w) for w in warnings if "unaffected" not in w.message] == []
    assert [w.message for w in warnings if w.line is None] == [
        "the Date Range report has order states itself; the orders report was not needed and not read (totals "
        "unaffected)", "the file is not UTF-8: it was read as Windows-1252; amounts, ids and dates must be ASCII, "
        "which reads the same in both, so totals are unaffected"]
    assert "orders report line 4: rows whose amazon-order-id is not an Amazon order id" in [
        str(w) for w in other.warnings][0]


@pytest.mark.parametrize(("data", "kind"), [(XLSX, "excel_workbook"), (RANDOM, "binary_file"),
                                            (b"%PDF-1.7\n", "pdf_document"), (b"PK\x03\x04zip", "zip_archive")])
def test_a_binary_upload_gets_one_error_and_a_kind_and_encoding_to_show(data: bytes, kind: str) -> None:
    summary = summarize_report(io.BytesIO(data))
    assert [(problem.line, problem.message.split(":")[0]) for problem in summary.errors] == [
        (1, "this is not a text report")]
    assert (summary.kind, summary.encoding, summary.rows) == (kind, "binary", 0)
