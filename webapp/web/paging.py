"""The paging arguments every list takes (``?page=``, ``?per_page=``), read one way everywhere."""

from flask import abort, request

MOST_PAGES = 1_000_000  # beyond any list's last page; a larger number only makes an OFFSET the database refuses


def page_number() -> int:
    """The ?page= argument, at least 1 (1 when missing or not a number); 400 when absurdly large."""
    page = max(1, request.args.get("page", 1, type=int) or 1)
    if page > MOST_PAGES:
        abort(400, description=f"page: {request.args['page'][:30]} is past any list's end; pages go up to {MOST_PAGES:,}.")
    return page


def page_size(default: int, most: int) -> int:
    """The ?per_page= argument, between 1 and ``most`` (``default`` when missing or not a number)."""
    return min(most, max(1, request.args.get("per_page", default, type=int) or default))
