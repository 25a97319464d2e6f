"""The settlement V2 report's amount codes: (amount-type, amount-description) pairs Amazon writes, by money bucket."""

from webapp.reconciliation.reader import model as m

# fmt: off
PAIRS_BY_BUCKET = {
    m.PRODUCT_SALES: [("itemprice", "principal")],
    m.SHIPPING: [("itemprice", "shipping")],
    m.GIFT_WRAP: [("itemprice", "giftwrap")],
    m.PRODUCT_TAX: [("itemprice", "tax")],
    m.SHIPPING_TAX: [("itemprice", "shippingtax")],
    m.GIFT_WRAP_TAX: [("itemprice", "giftwraptax")],
    m.PROMOTIONS: [("promotion", "principal"), ("promotion", "shipping")],
    m.OTHER: [("itemprice", "goodwill"), ("itemprice", "restockingfee")],
    m.SELLING_FEES: [("itemfees", fee) for fee in (
        "commission", "variableclosingfee", "fixedclosingfee", "refundcommission", "digitalservicesfee")],
    m.FBA_FEES: [("itemfees", "fbaperunitfulfillmentfee"), ("itemfees", "fbaperorderfulfillmentfee"),
                 ("itemfees", "fbaweightbasedfee"), ("shipment-fees", "fbaperorderfulfillmentfee"),
                 ("shipment-fees", "fbatransportationfee"), ("shipmentfees", "fbaperorderfulfillmentfee"),
                 ("shipmentfees", "fbatransportationfee")],
    m.OTHER_FEES: [("itemfees", fee) for fee in (
        "shippingchargeback", "giftwrapchargeback", "shippinghb", "salestaxcollectionfee")],
    m.WITHHELD_TAX: [("itemwithheldtax", "marketplacefacilitatortax-" + part) for part in (
        "principal", "shipping", "giftwrap", "other")],
}
# fmt: on
# Lower-cased (amount-type, amount-description) → bucket, for the components of order rows.
ORDER_AMOUNTS = {pair: bucket for bucket, pairs in PAIRS_BY_BUCKET.items() for pair in pairs}
# fmt: off
OTHER_TRANSACTION = {
    "current reserve amount", "previous reserve amount balance", "subscription fee", "storage fee",
    "storagerenewalbilling", "disposalcomplete", "removalcomplete", "refund reimbursal", "reversal_reimbursement",
    "warehouse_damage", "warehouse_lost", "shippingservices", "shipping label purchase", "fbainboundtransportationfee",
}
# fmt: on
# fmt: off
OTHER_AMOUNT_TYPES = {"fba inventory reimbursement", "cost of advertising", "couponredemptionfee", "lightningdealfee",
                      "vine enrollment fee", "inbound defect fee"}
# fmt: on


def classify_pair(pair: tuple[str, str]) -> tuple[str, bool]:
    """(bucket used on order rows, whether the pair is a known Amazon value)."""
    lowered = (pair[0].lower(), pair[1].lower())
    bucket = ORDER_AMOUNTS.get(lowered)
    if bucket is not None:
        return bucket, True
    known = lowered[0] in OTHER_AMOUNT_TYPES or (lowered[0] == "other-transaction" and lowered[1] in OTHER_TRANSACTION)
    return m.OTHER, known
