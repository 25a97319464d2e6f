"""Amounts and quantities as integers (cents, units): report money must never pass through a float."""

import re

PLAIN = re.compile(r"(\d+)(?:\.(\d+))?", re.ASCII)
THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", re.ASCII)
DECIMAL_COMMA = re.compile(r"\d{1,3}(?:\.\d{3})*,\d{1,2}|\d+,\d{1,2}")
CENTS_SHOWN = re.compile(r"\d\.\d\d\)?$", re.ASCII)
SCIENTIFIC = re.compile(r"-?\d+(?:[.,]\d+)?[eE][+-]?\d+")
PLAIN_AMOUNT = re.compile(r"-?\d{1,12}\.\d\d", re.ASCII)  # what Amazon writes; the common case, parsed fast
OTHER_CURRENCY = ("€", "£", "¥", "₹", "EUR", "GBP", "CAD", "CA$", "C$", "MX$", "JPY", "AUD", "A$")


class AmountError(ValueError):
    """An amount or quantity that cannot be read, explained in words."""


def to_cents(text: str, *, allow_blank: bool = False) -> int:
    """'1,234.56' → 123456, '(5.00)' → -500, '$3' → 300; anything doubtful raises AmountError."""
    value = text.strip()
    if not value:
        if allow_blank:
            return 0
        raise AmountError("the amount is empty")
    negative, body = _sign(value, text)
    if body.startswith("$"):
        body = body[1:].lstrip()
        if body.startswith("-") and not negative:
            negative, body = True, body[1:]
    return -_unsigned_cents(body, text) if negative else _unsigned_cents(body, text)


def _sign(value: str, text: str) -> tuple[bool, str]:
    """Split off parentheses or a leading minus (or plus)."""
    if value.startswith("(") and value.endswith(")"):
        inner = value[1:-1].strip()
        if inner.startswith("-"):
            raise AmountError(f"{text.strip()!r} has both parentheses and a minus sign")
        return True, inner
    if value.endswith("-") and value[0].isdigit():
        raise AmountError(f"{text.strip()!r} has a trailing minus sign (a spreadsheet format); expected -{value[:-1]}")
    if value[0] in "+-":
        return value[0] == "-", value[1:].lstrip()
    return False, value


def _unsigned_cents(body: str, text: str) -> int:
    """Cents of an unsigned amount such as '1,024.50'."""
    shown = text.strip()
    match = PLAIN.fullmatch(body)
    if match is None:
        if THOUSANDS.fullmatch(body):
            match = PLAIN.fullmatch(body.replace(",", ""))
        else:
            raise AmountError(_why_not_amount(body, shown))
    assert match is not None
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > 2:
        if fraction[2:].strip("0"):
            raise AmountError(f"{shown!r} has {len(fraction)} decimals; amounts are in whole cents")
        fraction = fraction[:2]
    return int(whole) * 100 + int(fraction.ljust(2, "0"))


def _why_not_amount(body: str, shown: str) -> str:
    """The most useful explanation of why a value is not a US dollar amount."""
    if SCIENTIFIC.fullmatch(body):
        return f"{shown!r} is in scientific notation: a spreadsheet changed it; download the original report again"
    if DECIMAL_COMMA.fullmatch(body):
        return f"{shown!r} uses a decimal comma (a non-US number format); only US dollar reports are accepted"
    upper = shown.upper()
    for symbol in OTHER_CURRENCY:
        if symbol in upper:
            return f"{shown!r} is not in US dollars"
    return f"{shown!r} is not an amount"


def is_spreadsheet_style(text: str) -> bool:
    """True for '(5.00)' or '$5.00': formats Amazon never writes, so the file was edited."""
    value = text.strip()
    return value.startswith(("(", "$", "-$", "+$"))


def check_cents_shown(text: str) -> None:
    """AmountError for a formatted amount ('$12', '(1,234.5)', '1,024') that does not show exactly two decimals.

    A spreadsheet saves amounts as they are displayed: one formatted without cents may
    have been rounded, so its cents cannot be known. Plain numbers ('12.5', '0') are
    Amazon's own and exact.
    """
    value = text.strip()
    if (is_spreadsheet_style(value) or "," in value) and not CENTS_SHOWN.search(value):
        raise AmountError(f"{value!r} is formatted as a spreadsheet displays it, without exactly two decimals: "
                          "it may have been rounded; download the original report again")


def to_quantity(text: str) -> int:
    """A unit count as a non-negative int; blank is 0, the sign is dropped (direction comes from the row type)."""
    value = text.strip()
    if not value:
        return 0
    digits = value[1:] if value[0] in "+-" else value
    if digits.isdigit() and digits.isascii():
        return int(digits)
    if SCIENTIFIC.fullmatch(value):
        raise AmountError(f"quantity {value!r} is in scientific notation: a spreadsheet changed it")
    raise AmountError(f"quantity {value!r} is not a whole number of units")


def format_cents(cents: int) -> str:
    """Cents as a dollar figure for messages: -123456 → '-1,234.56'."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{part:02d}"
