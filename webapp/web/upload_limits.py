"""Request body limits per endpoint: MAX_CONTENT_LENGTH everywhere, a larger one where a view says so.

A view raising ``request.max_content_length`` itself comes too late: Flask-WTF's CSRF check runs
in a ``before_request`` hook and reads ``request.form`` first, under the global limit. The request
class below decides the limit from the matched endpoint instead, which Flask knows before any hook
runs, so the CSRF check parses a large upload under the view's limit. Werkzeug's parser spools file
parts to temporary files on disk, so a large body never sits in memory.

Mark a view with ``@large_upload("SOME_CONFIG_KEY")`` under its route decorator. By default only a
logged-in operator gets the larger limit (an anonymous post is refused at MAX_CONTENT_LENGTH, before
anything large is written to disk); a token-authenticated endpoint passes its own ``allowed`` check.
"""

from collections.abc import Callable
from typing import IO, Any, TypeVar

from flask import Flask, Request, current_app, has_request_context
from flask_login import current_user
from werkzeug.formparser import FormDataParser, MultiPartParser

F = TypeVar("F", bound=Callable[..., object])
MARK = "large_upload_limit"
FIELD_MARK = "large_form_fields"
PARSE_BUFFER = 1024 * 1024
"""Most bytes the multipart parser asks of the body at a time (Werkzeug's default is 64 KiB)."""


def operator_logged_in() -> bool:
    """True when the request carries a logged-in operator's session."""
    return bool(current_user.is_authenticated)


def large_upload(config_key: str, allowed: Callable[[], bool] = operator_logged_in) -> Callable[[F], F]:
    """Let ``view`` accept bodies up to ``app.config[config_key]`` when ``allowed()`` says so."""

    def mark(view: F) -> F:
        setattr(view, MARK, (config_key, allowed))
        return view

    return mark


def large_fields(view: F) -> F:
    """Let ``view``'s text fields be as large as its body: a launch form's text box, or the file a
    repeated-keys warning carries back in a hidden field, which Werkzeug refuses past
    MAX_FORM_MEMORY_SIZE (500 kB) otherwise, while the same bytes as a file part pass."""
    setattr(view, FIELD_MARK, True)
    return view


def endpoint_limit(req: Request) -> int | None:
    """The larger limit of the matched view, if it is marked and the caller is allowed it; else None."""
    rule = req.url_rule
    if rule is None:
        return None
    view = current_app.view_functions.get(rule.endpoint)
    marked: tuple[str, Callable[[], bool]] | None = getattr(view, MARK, None)
    if marked is None or not marked[1]():
        return None
    return int(current_app.config[marked[0]])


class LargeReadsFormDataParser(FormDataParser):
    """Werkzeug's form parser, reading a multipart body in larger pieces.

    gunicorn receives a large body up to 1 MiB per recv() and keeps what a read did not take in a
    buffer that each later read copies whole: read 64 KiB at a time, every MiB received was copied
    about 16 times over (0.7 s of the request for a 349 MB upload, measured with py-spy). Larger
    reads copy each byte fewer times. A read is at most half of max_form_memory_size, as the
    parser refuses (413) a read that, with what it holds undecoded, exceeds it; and at most
    PARSE_BUFFER, which is all the more memory a request needs.
    """

    def read_size(self) -> int:
        """How many bytes the parser asks of the body at a time."""
        if self.max_form_memory_size is None:
            return PARSE_BUFFER
        return max(1, min(PARSE_BUFFER, self.max_form_memory_size // 2))

    def _parse_multipart(self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict[str, str]) -> Any:
        parser = MultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
            buffer_size=self.read_size(),
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


class LimitedRequest(Request):
    """Flask's request whose default body limit follows the matched endpoint, with the form parser above."""

    form_data_parser_class = LargeReadsFormDataParser

    @property
    def max_content_length(self) -> int | None:
        """An explicit per-request value, else the endpoint's large limit, else MAX_CONTENT_LENGTH."""
        if self._max_content_length is not None:
            return self._max_content_length
        if has_request_context():
            limit = endpoint_limit(self)
            if limit is not None:
                return limit
        return Request.max_content_length.fget(self)  # type: ignore[attr-defined]

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    @property
    def max_form_memory_size(self) -> int | None:
        """An explicit per-request value, else the body's limit for a view marked large_fields,
        else MAX_FORM_MEMORY_SIZE."""
        if self._max_form_memory_size is None and has_request_context() and self.url_rule is not None:
            if getattr(current_app.view_functions.get(self.url_rule.endpoint), FIELD_MARK, False):
                return self.max_content_length
        return Request.max_form_memory_size.fget(self)  # type: ignore[attr-defined]

    @max_form_memory_size.setter
    def max_form_memory_size(self, value: int | None) -> None:
        self._max_form_memory_size = value


def register(app: Flask) -> None:
    """Make the app build its requests with per-endpoint limits."""
    app.request_class = LimitedRequest
