"""What the ERP lists for a job: checked key by key, capped, repeated keys once."""

import pytest

from webapp.erp_listing import ListingUnusable, read_listing
from webapp.jobs.kinds import BILLS_OF_MATERIALS, PURCHASE_ORDERS


def test_good_and_bad_keys_in_the_erps_order() -> None:
    """Bad entries stay in the list, each with the reason its record fails; good ones have none."""
    body = {"purchase_orders": ["PO-100007", "../../metrics?x=", 100014, "PO-100021\n", "PO-100007", "x" * 80]}
    listed = read_listing(body, "purchase_orders", PURCHASE_ORDERS, 100)
    assert listed.keys == ["PO-100007", "../../metrics?x=", "100014", "PO-100021\n", "x" * 63 + "…"]
    assert set(listed.problems) == {"../../metrics?x=", "100014", "PO-100021\n", "x" * 63 + "…"}
    assert listed.problems["../../metrics?x="] == (
        "not fetched: the ERP listed '../../metrics?x=' is not a PO number (expected e.g. PO-100042)")
    assert "which is not a PO number" in listed.problems["100014"]
    assert all(len(key) <= 64 for key in listed.keys)


@pytest.mark.parametrize(("body", "words"), [
    ({"products": ["P-10000"] * 4}, "the ERP listed 4 products; the limit is 3 per job"),
    ({"products": "P-10000"}, "no 'products' list"),
    (["P-10000"], "no 'products' list"),
    ({"items": []}, "no 'products' list"),
])
def test_a_listing_that_cannot_be_a_job(body: object, words: str) -> None:
    """More entries than MAX_JOB_RECORDS, or no list at all: the whole listing is refused in words."""
    with pytest.raises(ListingUnusable, match=words):
        read_listing(body, "products", BILLS_OF_MATERIALS, 3)
