"""Error pages and JSON errors: a clear message and a 4xx, never a traceback."""

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError


def wants_json() -> bool:
    """True for API calls, which get JSON errors instead of pages."""
    return request.path.startswith("/api/")


def render_error(status: int, title: str, message: str) -> tuple[Response | str, int] | Response:
    """Render an error as JSON for the API, as the page's flash messages for an htmx request (the
    part of the page that asked is left as it was), or as a page for operators."""
    if wants_json():
        return jsonify(error=title, message=message), status
    if request.headers.get("HX-Request") == "true":
        flashes = render_template("_flashes.html", messages=[("error", f"{title}: {message}")])
        return Response(flashes, status, headers={"HX-Retarget": "#flashes", "HX-Reswap": "outerHTML", "HX-Reselect": "#flashes"})
    return render_template("error.html", status=status, title=title, message=message), status


def too_large_message() -> str:
    """Why a body over the limit was refused, with the limit that applied to it."""
    limit_mb = (request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"]) / (1024 * 1024)
    return f"The upload is larger than the limit of {limit_mb:g} MB."


def register(app: Flask) -> None:
    """Install the handlers for HTTP errors, CSRF failures and unexpected exceptions."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[Response | str, int]:
        return render_error(
            400, "Form expired or forged", "The security token of this form is missing or invalid: reload the page and try again."
        )

    @app.errorhandler(SecurityError)
    def untrusted_host(exc: SecurityError) -> tuple[str, int, dict[str, str]]:
        # No page can be built for a host not in TRUSTED_HOSTS (its URLs would name that host).
        return "This host name is not served here.\n", 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(413)
    def too_large(exc: HTTPException) -> tuple[Response | str, int]:
        return render_error(413, "File too large", too_large_message())

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int]:
        return render_error(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response | str, int]:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500, "Internal error", "Something went wrong on our side; it has been logged.")
