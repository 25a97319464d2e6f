"""Command-line tools: ``flask operators create|token`` and ``flask demo seed``."""

from flask import Flask


def register(app: Flask) -> None:
    """Attach the command groups to the app."""
