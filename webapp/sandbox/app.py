"""The sandbox ERP as an app of its own, for a process of its own (``wsgi_sandbox:app``).

Its chaos holds requests for seconds on purpose. Served by the console's web process, those
requests took the threads that pages need: with 800 ms of latency and the ``io`` worker's 32
fetches at once, every page, the login page included, timed out for minutes. Apart, its latency
and timeouts only ever hold its own threads. It shares the database with the console (the chaos
settings an operator saves there), and nothing else: no login, no Celery, no pages.
"""

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from webapp.config import instance_path, load_settings
from webapp.database import make_sqlite_path_absolute, ping_idle_connections, tune_sqlite
from webapp.db_teardown import end_sessions_safely
from webapp.extensions import db
from webapp.sandbox import api


def create_sandbox_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the sandbox ERP app: its REST API on the console's database; refused unless enabled."""
    app = Flask(__name__, instance_path=instance_path(), instance_relative_config=True)
    load_settings(app.config, test_config)
    check_enabled(app)
    make_sqlite_path_absolute(app)
    db.init_app(app)
    end_sessions_safely(app)
    tune_sqlite(app)
    ping_idle_connections(app)
    app.register_blueprint(api.bp)
    register_json_errors(app)
    return app


def check_enabled(app: Flask) -> None:
    """Refuse to start unless SANDBOX_ENABLED: its API answers anyone who reaches it, without a login."""
    if not app.config["SANDBOX_ENABLED"]:
        raise RuntimeError(
            "SANDBOX_ENABLED is not set: the sandbox ERP serves synthetic data to anyone who can reach it, "
            "without a login; set SANDBOX_ENABLED=1 only for local runs and demos"
        )


def register_json_errors(app: Flask) -> None:
    """Answer every error as JSON, as an ERP's REST API does (there are no pages here)."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=exc.name, message=exc.description or exc.name), exc.code or 500

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        app.logger.exception("unhandled error in the sandbox ERP")
        return jsonify(error="Internal error", message="the sandbox ERP failed; it has been logged"), 500
