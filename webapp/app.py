"""The Flask app factory: settings, extensions, blueprints and the Celery app, in that order."""

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask

from webapp import cli, migrations
from webapp.api import blueprint as api
from webapp.celery_app import celery_init_app
from webapp.config import check_erp_api_url, check_redis_url, instance_path, load_settings
from webapp.database import make_sqlite_path_absolute, ping_idle_connections, tune_sqlite
from webapp.db_teardown import end_sessions_safely
from webapp.extensions import csrf, db, login_manager
from webapp.sandbox import views as sandbox_views
from webapp.views import account, admin, auth, dashboard, erp, job_actions, job_page, metrics, schedules, tasks, worker_controls, workers
from webapp.web import access, errors, favicon, operators, request_input, security, templating, throttle, upload_limits
from webapp.web.fragment_cache import FragmentCache


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the Flask app (and its Celery app)."""
    app = Flask(
        "webapp", template_folder="../templates", static_folder="../static", instance_path=instance_path(), instance_relative_config=True
    )
    load_settings(app.config, test_config)
    check_secret_key(app)
    check_erp_api_url(app.config, app.debug or app.testing)
    check_redis_url(app.config, app.debug or app.testing, app.logger)
    make_sqlite_path_absolute(app)
    db.init_app(app)
    end_sessions_safely(app)
    tune_sqlite(app)
    ping_idle_connections(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    celery_init_app(app)
    app.extensions["fragment_cache"] = FragmentCache(ttl=app.config["FRAGMENT_CACHE_SECONDS"])
    request_input.register(app)
    register_blueprints(app)
    for module in (cli, migrations, errors, favicon, operators, access, security, templating, throttle, upload_limits):
        module.register(app)
    logging.basicConfig(level=logging.INFO)
    return app


def register_blueprints(app: Flask) -> None:
    """Attach every screen's blueprint and the /api parent blueprint (with its one CSRF exemption)."""
    for module in (auth, account, admin, dashboard, job_page, job_actions, tasks, schedules, erp, workers, worker_controls, metrics):
        app.register_blueprint(module.bp)
    app.register_blueprint(api.bp)
    api.exempt_from_csrf(csrf)
    if app.config["SANDBOX_ENABLED"]:
        # Only the sandbox's settings page: its ERP API runs in a process of its own (webapp.sandbox.app).
        app.register_blueprint(sandbox_views.bp)


def check_secret_key(app: Flask) -> None:
    """Refuse to start without SECRET_KEY, except in debug or tests."""
    if not app.config.get("SECRET_KEY"):
        if app.debug or app.testing:
            app.config["SECRET_KEY"] = secrets.token_hex(32)  # sessions end with the process, never a public key
        else:
            raise RuntimeError("SECRET_KEY is not set: export SECRET_KEY (any long random string)")
