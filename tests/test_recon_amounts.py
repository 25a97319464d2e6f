"""Amounts become integer cents, or errors in words; never floats."""

import pytest

from webapp.reconciliation.reader.amounts import AmountError, check_cents_shown, format_cents, is_spreadsheet_style, to_cents, to_quantity


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("0", 0),
        ("57.96", 5796),
        ("-8.69", -869),
        ("  32.09    ", 3209),
        ("1,024.50", 102450),
        ("-1,234,567.89", -123456789),
        ("(55.00)", -5500),
        ("$1,234.56", 123456),
        ("-$3.10", -310),
        ("($3.10)", -310),
        ("+4.5", 450),
        ("12.340", 1234),
        ("7", 700),
        ("0.1", 10),
        ("-0.00", 0),
    ],
)
def test_amounts_in_cents(text: str, cents: int) -> None:
    assert to_cents(text) == cents


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("12.345", "'12.345' has 3 decimals"),
        ("1.23E+05", "scientific notation"),
        ("1141,18", "decimal comma"),
        ("1.234,56", "decimal comma"),
        ("€12.00", "not in US dollars"),
        ("12.00 EUR", "not in US dollars"),
        ("N/A", "'N/A' is not an amount"),
        ("#VALUE!", "is not an amount"),
        ("--", "is not an amount"),
        ("55.00-", "trailing minus"),
        ("(-5.00)", "both parentheses and a minus"),
        ("1,23,456.00", "is not an amount"),
        ("", "empty"),
    ],
)
def test_bad_amounts_explain_themselves(text: str, phrase: str) -> None:
    with pytest.raises(AmountError) as caught:
        to_cents(text)
    assert phrase in str(caught.value)


def test_blank_is_zero_only_where_allowed() -> None:
    assert to_cents("  ", allow_blank=True) == 0
    with pytest.raises(AmountError):
        to_cents("  ")


def test_spreadsheet_style_is_recognised() -> None:
    assert is_spreadsheet_style("(5.00)") and is_spreadsheet_style("$5") and not is_spreadsheet_style("-5.00")


@pytest.mark.parametrize("text", ["$12.00", "(12.00)", "-$3.10", "($1,234.56)", "1,024.50", "12.5", "0", "-8.69"])
def test_formatted_amounts_that_show_their_cents_are_exact(text: str) -> None:
    check_cents_shown(text)


@pytest.mark.parametrize("text", ["$12", "(12)", "$1,234.5", "(1,024.5)", "1,024", " $0 "])
def test_formatted_amounts_without_their_cents_may_be_rounded(text: str) -> None:
    with pytest.raises(AmountError) as caught:
        check_cents_shown(text)
    assert f"{text.strip()!r} is formatted as a spreadsheet displays it, without exactly two decimals" in str(
        caught.value)


@pytest.mark.parametrize(("text", "units"), [("1", 1), ("", 0), (" 3 ", 3), ("-1", 1), ("+2", 2)])
def test_quantities(text: str, units: int) -> None:
    assert to_quantity(text) == units


@pytest.mark.parametrize(("text", "phrase"), [("1.5", "not a whole number"), ("1E+02", "scientific"), ("two", "not")])
def test_bad_quantities(text: str, phrase: str) -> None:
    with pytest.raises(AmountError) as caught:
        to_quantity(text)
    assert phrase in str(caught.value)


def test_format_cents() -> None:
    assert format_cents(-123456) == "-1,234.56" and format_cents(5) == "0.05"
