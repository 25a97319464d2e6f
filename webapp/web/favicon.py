"""The site's icon at /favicon.ico, where browsers and other clients look for it without a link."""

from flask import Flask, Response, redirect, url_for


def register(app: Flask) -> None:
    """Answer /favicon.ico with the static icon (pages link it too, in templates/base.html)."""

    @app.get("/favicon.ico")
    def favicon() -> Response:
        # A permanent redirect: a browser asks once, and every page no longer logs a 404.
        return redirect(url_for("static", filename="favicon.svg"), code=301)
