"""The settlement V2 file joined to an orders report; the published samples import or are refused."""

import io
from datetime import date

from tests.recon_corpus.builders import CORPUS, V2_HEADER, content_hash, orders_file, tsv, v2_row, v2_summary
from webapp.reconciliation.reader.model import SETTLEMENT_V1, SETTLEMENT_V2, SkuLine
from webapp.reconciliation.reader.read import preview, summarize_report

SAMPLE = CORPUS / "settlement-sample.txt"
SAMPLE_ORDERS = CORPUS / "settlement-sample-orders.txt"
V1_SAMPLE = CORPUS / "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE.csv"
SETTLEMENT = "28471003921"


def test_v2_sample_with_its_orders_report_reconciles_per_state() -> None:
    summary = preview(SAMPLE, SAMPLE_ORDERS)
    assert summary.ok, summary.errors
    assert (summary.kind, summary.rows, summary.bytes_read) == (SETTLEMENT_V2, 24, 4364)
    settlement = summary.settlements[SETTLEMENT]
    assert settlement.total_amount == settlement.detail_sum == summary.total == 58289
    assert (settlement.start, settlement.end, settlement.deposit_date) == (
        date(2026, 6, 16), date(2026, 6, 30), date(2026, 7, 2))
    per_state = {state: (t.orders, t.refunds, t.total) for state, t in summary.per_state().items()}
    assert per_state == {"WA": (1, 0, 10574), "CA": (1, 0, 11432), "NY": (0, 1, -11549), "TX": (1, 0, 17850)}
    assert {label: other.total for label, other in summary.other.items()} == {
        "ServiceFee": -11687, "Shipment": -250, "Adjustment": 1875, "Transfer": 40044}


def test_v2_sample_lines_and_units_come_from_principal_rows() -> None:
    summary = preview(SAMPLE, SAMPLE_ORDERS)
    california = summary.state_orders[(SETTLEMENT, "CA")]
    assert california.lines == {"NX-AC-0071": SkuLine(1, 4550), "NX-CB-0450": SkuLine(2, 8900, shipping=799)}
    assert california.amounts["other_fees"] == -799 and california.amounts["selling_fees"] == -2018
    assert summary.state_orders[(SETTLEMENT, "NY")].lines == {"NX-HD-1200": SkuLine(-1, -12999)}
    assert summary.state_orders[(SETTLEMENT, "WA")].tax["product_tax"] == 1040


def test_v2_sample_warns_about_its_two_unknown_amount_types() -> None:
    warnings = [str(problem) for problem in preview(SAMPLE, SAMPLE_ORDERS).warnings]
    assert any("line 7" in w and "ItemFees / MarketplaceFacilitatorVAT-Principal" in w and "-10.40" in w
               for w in warnings)
    assert any("line 21" in w and "other-transaction / LowInventoryLevelFee" in w for w in warnings)


def test_v2_sample_without_orders_report_cannot_be_confirmed() -> None:
    summary = preview(SAMPLE)
    assert not summary.ok
    assert "carries no ship-to state" in summary.errors[0].message
    assert summary.total == 58289 and set(summary.per_state()) == {"UNKNOWN"}


def test_legacy_v1_sample_is_refused_naming_what_to_upload() -> None:
    summary = preview(V1_SAMPLE)
    assert summary.kind == SETTLEMENT_V1 and summary.rows == 0
    assert [problem.line for problem in summary.errors] == [1]
    message = summary.errors[0].message
    assert "legacy settlement flat file (V1)" in message and "flat file V2" in message
    assert "Date Range Transaction report" in message


def test_orders_report_territory_by_country_and_foreign_exclusion() -> None:
    rows = [v2_summary(total="35.00"), v2_row(amount="10.00"), v2_row(order_id="113-2047718-9930613", amount="20.00"),
            v2_row(order_id="112-5561209-7742044", amount="5.00")]
    orders = orders_file({"114-8829371-4410258": ("", "PR"), "113-2047718-9930613": ("ON", "CA"),
                          "112-5561209-7742044": "Texas"})
    summary = summarize_report(io.BytesIO(tsv(V2_HEADER, rows).encode()), orders=io.BytesIO(orders))
    assert summary.ok, summary.errors
    assert {state: t.total for state, t in summary.per_state().items()} == {"PR": 1000, "TX": 500}
    assert (summary.excluded.rows, summary.excluded.total, summary.total) == (1, 2000, 3500)
    assert any("outside the US" in w.message for w in summary.warnings)


def test_concatenated_settlements_each_reconcile() -> None:
    rows = [v2_summary(total="10.00"), v2_row(amount="10.00"),
            v2_summary("28471003922", total="-5.00"),
            v2_row(amount="-5.00", settlement="28471003922", amount_type="ItemFees", description="Commission")]
    orders = orders_file({"114-8829371-4410258": "WA"})
    summary = summarize_report(io.BytesIO(tsv(V2_HEADER, rows).encode()), orders=io.BytesIO(orders))
    assert summary.ok, summary.errors
    assert [(key, order.total) for key, order in summary.state_orders.items()] == [
        ((SETTLEMENT, "WA"), 1000), (("28471003922", "WA"), -500)]


def test_content_hash_is_the_sha256_of_the_bytes_and_matches_the_summary() -> None:
    with open(SAMPLE, "rb") as handle:
        digest = content_hash(handle, chunk_size=100)
    assert digest == preview(SAMPLE, SAMPLE_ORDERS).sha256
    assert len(digest) == 64 and digest != content_hash(io.BytesIO(SAMPLE.read_bytes() + b"\n"))


def test_order_rows_without_an_order_id_are_a_warning_that_says_totals_are_unaffected() -> None:
    rows = [v2_summary(total="15.00"), v2_row(amount="10.00"), v2_row(order_id="", amount="5.00")]
    orders = orders_file({"114-8829371-4410258": "WA"})
    summary = summarize_report(io.BytesIO(tsv(V2_HEADER, rows).encode()), orders=io.BytesIO(orders))
    assert summary.ok, summary.errors
    assert [(p.line, p.message) for p in summary.warnings] == [
        (4, "Order rows without an order-id are not sales order lines: counted in the non-order totals; the state "
            "totals hold the rows with one, so they are unaffected (1 row, 5.00)")]


def test_without_orders_report_the_files_own_problems_come_first() -> None:
    rows = [v2_summary(total="30.00"), v2_row(amount="10.00"), v2_row(amount="$20")]
    summary = summarize_report(io.BytesIO(tsv(V2_HEADER, rows).encode()))
    assert [(p.line, p.message[:60]) for p in summary.errors] == [
        (4, "amount: '$20' is formatted as a spreadsheet displays it, wit"),
        (2, "settlement 28471003921: the detail rows add up to 10.00 but "),
        (None, "a settlement flat file V2 carries no ship-to state: upload t")]


def test_a_v2_file_that_cannot_be_read_does_not_ask_for_the_orders_report() -> None:
    header = tuple(name for name in V2_HEADER if name != "order-id")
    summary = summarize_report(io.BytesIO(tsv(header, [v2_summary()[:-1]]).encode()))
    assert [(p.line, p.message) for p in summary.errors] == [(1, "the header lacks the column 'order-id'")]
