"""The paging arguments every list takes (``?page=``, ``?per_page=``), read one way everywhere."""

from flask import request


def page_number() -> int:
    """The ?page= argument, at least 1 (1 when missing or not a number)."""
    return max(1, request.args.get("page", 1, type=int) or 1)


def page_size(default: int, most: int) -> int:
    """The ?per_page= argument, between 1 and ``most`` (``default`` when missing or not a number)."""
    return min(most, max(1, request.args.get("per_page", default, type=int) or default))
