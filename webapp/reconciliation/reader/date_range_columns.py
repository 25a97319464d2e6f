"""The Date Range report's columns: names as Amazon has spelled them over the years, mapped to buckets."""

from datetime import date

from webapp.reconciliation.reader import model as m
from webapp.reconciliation.reader.context import Context
from webapp.reconciliation.reader.detect import Detected, header_key, lacking

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
FIELDS = ("datetime", "settlementid", "type", "orderid", "sku", "quantity", "marketplace", "orderstate")
KNOWN_TYPES = {
    "transfer", "service fee", "fba inventory fee", "adjustment", "fba customer return fee", "chargeback refund",
    "a-to-z guarantee claim", "liquidations", "liquidations adjustments", "deal fee", "lightning deal fee",
    "amazon fees", "shipping services", "fee adjustment", "debt", "safe-t reimbursement", "order_retrocharge",
    "refund_retrocharge", "coupon redemption fee", "vine enrollment fee", "tax withholding", "others",
}
MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
DATE_EXAMPLE = "'Dec 1, 2017 12:38:23 AM PST'"


def parse_day(text: str) -> date | None:
    """'Dec 1, 2017' → date(2017, 12, 1); None when it is not that shape ('Jun 1, 26' is a spreadsheet's)."""
    parts = text.replace(",", " ").split()
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 2 or not parts[2].isdigit() or len(parts[2]) != 4:
        return None
    month = MONTHS.get(parts[0][:3].lower())
    try:
        return date(int(parts[2]), month, int(parts[1])) if month else None
    except ValueError:
        return None


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
