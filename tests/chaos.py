"""The sandbox ERP's failure settings, as a test sets them."""

from typing import Any

from flask import Flask

from webapp.sandbox import chaos


def set_chaos(app: Flask, **settings: Any) -> None:
    """Change the sandbox ERP's failure settings (calm for anything not given)."""
    with app.app_context():
        _, errors = chaos.update_settings({**chaos.CALM, **settings}, "test")
        assert not errors
