"""Order ids, settlement ids, SKUs and marketplaces as reports write them, checked for a spreadsheet's damage."""

import re

from webapp.reconciliation.reader.aggregate import Aggregator
from webapp.reconciliation.reader.model import RowError

ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}", re.ASCII)
SETTLEMENT_ID = re.compile(r"\d{1,20}", re.ASCII)
SCIENTIFIC_ID = re.compile(r"\d(?:[.,]\d+)?[eE]\+?\d+")
SCIENTIFIC_SKU = re.compile(r"-?\d(?:[.,]\d+)?[eE][+-]\d+")  # with its sign, as spreadsheets write it
NUMBER_LIKE_ID = re.compile(r"[\d-]+", re.ASCII)  # an order id that lost digits or its dashes
US_MARKETPLACES = {"amazon.com", "www.amazon.com", ""}  # blank: fee rows often leave it empty
SKU_LIMIT = 1 << 16
REMEMBERED = 1000  # distinct marketplaces remembered; a report has a handful


def check_settlement_id(value: str, column: str = "settlement id") -> str:
    """The settlement id as digits, or RowError naming ``column`` (Excel turns 11-digit ids into 2.47022E+10)."""
    text = value.strip()
    if SETTLEMENT_ID.fullmatch(text):
        return text
    if SCIENTIFIC_ID.fullmatch(text):
        raise RowError(f"{column} {text!r} was damaged by a spreadsheet (scientific notation); "
                       "download the original report again")
    raise RowError(f"{column} {text!r} is not a number" if text else f"{column} is empty")


def order_id_problem(order_id: str, column: str) -> str:
    """Why a non-blank ``order_id`` on an Order or Refund row cannot be an Amazon order id, naming ``column``."""
    if SCIENTIFIC_ID.fullmatch(order_id):
        return (f"{column} {order_id!r} was damaged by a spreadsheet (scientific notation): the sale cannot be "
                "matched to its order; download the original report again")
    if NUMBER_LIKE_ID.fullmatch(order_id):
        return (f"{column} {order_id!r} is not an Amazon order id (###-#######-#######): digits or dashes were "
                "lost, as when a spreadsheet turns ids into numbers; download the original report again")
    return f"{column} {order_id!r} is not an Amazon order id (###-#######-#######), yet the row is an order or refund"


def note_non_order_id(agg: Aggregator, label: str, order_id: str, is_order: bool, line: int, cents: int,
                      column: str) -> bool:
    """Check the id of a row kept out of the sales orders; True when a note about it was made.

    An Order or Refund row lands there only without an order id: one whose order id a spreadsheet
    damaged would drop its sale from its state, so that is an error (as is any id in scientific
    notation); other rows may carry ids that are not order ids, which changes no total.
    """
    if order_id and (is_order or SCIENTIFIC_ID.fullmatch(order_id)):
        raise RowError(order_id_problem(order_id, column))
    if is_order:
        agg.note(f"nonorder:{label}", line, f"{label} rows without an {column} are not sales order lines: counted in "
                 "the non-order totals; the state totals hold the rows with one, so they are unaffected", cents)
        return True
    if order_id and not ORDER_ID.fullmatch(order_id):
        agg.note(f"nonorder:{label}", line, f"{label} rows carry ids that are not order ids (e.g. {order_id!r}): "
                 "they are not sales, counted in the non-order totals (totals unaffected)")
        return True
    return False


def check_sku(sku: str, column: str = "sku") -> str:
    """The SKU, or RowError when a spreadsheet turned it into a number in scientific notation ('1.23E+05')."""
    if SCIENTIFIC_SKU.fullmatch(sku):
        raise RowError(f"{column} {sku!r} was damaged by a spreadsheet (scientific notation): the SKU it stood "
                       "for cannot be known; download the original report again")
    return sku


def order_key(order_id: str) -> int:
    """'113-0013318-7697855' → 11300133187697855: the id as an int, so a million of them fit in memory."""
    return int(order_id.replace("-", ""))


def remembered_sku(skus: dict[str, str], text: str) -> str:
    """The checked SKU of a sku cell, remembered in ``skus``: a catalogue's SKUs repeat on every page of orders."""
    sku = check_sku(text.strip())
    if len(skus) < SKU_LIMIT:
        skus[text] = sku
    return sku


def us_marketplace(marketplaces: dict[str, bool], text: str) -> bool:
    """True for amazon.com (any case) or blank; remembered per distinct value in ``marketplaces``."""
    found = marketplaces.get(text)
    if found is None:
        found = text.strip().lower() in US_MARKETPLACES
        if len(marketplaces) < REMEMBERED:
            marketplaces[text] = found
    return found
