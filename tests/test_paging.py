"""The paging arguments, read one way by every list (pages and API)."""

import pytest
from flask import Flask

from webapp.web.paging import page_number, page_size


@pytest.mark.parametrize(("query", "page"), [("", 1), ("page=3", 3), ("page=0", 1), ("page=-2", 1), ("page=x", 1)])
def test_page_number(app: Flask, query: str, page: int) -> None:
    """?page= is at least 1; missing or not a number reads as 1."""
    with app.test_request_context(f"/?{query}"):
        assert page_number() == page


@pytest.mark.parametrize(
    ("query", "size"), [("", 25), ("per_page=10", 10), ("per_page=0", 25), ("per_page=-5", 1), ("per_page=1000", 100), ("per_page=x", 25)]
)
def test_page_size(app: Flask, query: str, size: int) -> None:
    """?per_page= is between 1 and the most a list allows; missing, zero or not a number reads as the default."""
    with app.test_request_context(f"/?{query}"):
        assert page_size(25, 100) == size
