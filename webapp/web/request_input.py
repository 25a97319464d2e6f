"""Odd input answered with a 4xx in words: JSON nested past Python's recursion limit, ids past a database integer."""

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

LARGEST_ID = 2**63 - 1  # PostgreSQL's bigint; a larger id is refused by the database, not just absent


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` in routes, up to the largest id a table can hold: past it the URL matches nothing (404)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", LARGEST_ID)
        super().__init__(map, *args, **kwargs)


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nested too deeply for the parser refused as a bad request, not a crash."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s``; a RecursionError becomes a 400 that says why."""
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise BadRequest("The JSON body is nested too deeply; send at most a few levels of objects and lists.") from None


def register(app: Flask) -> None:
    """Install the bounded ``int`` route converter and JSON parser (before any blueprint adds a route)."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.json = BoundedJSONProvider(app)
