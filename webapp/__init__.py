"""Celeriac: the Flask app factory and its Celery app."""

import logging
from collections.abc import Mapping
from typing import Any

from celery import Celery, Task
from flask import Flask

from webapp.config import check_celery_timing, check_erp_api_url, load_settings
from webapp.db_teardown import end_sessions_safely
from webapp.extensions import csrf, db, login_manager, migrate
from webapp.fragment_cache import FragmentCache


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the Flask app (and its Celery app)."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static", instance_relative_config=True)
    load_settings(app.config, test_config)
    check_secret_key(app)
    check_erp_api_url(app.config, app.debug or app.testing)
    make_sqlite_path_absolute(app)
    db.init_app(app)
    end_sessions_safely(app)
    tune_sqlite(app)
    ping_idle_connections(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    celery_init_app(app)
    app.extensions["fragment_cache"] = FragmentCache(ttl=app.config["FRAGMENT_CACHE_SECONDS"])
    register_blueprints(app)
    from webapp import cli, errors, security, templating, upload_limits

    for module in (cli, errors, security, templating, upload_limits):
        module.register(app)
    logging.basicConfig(level=logging.INFO)
    return app


def register_blueprints(app: Flask) -> None:
    """Attach every screen's blueprint (imported here: no import cycles)."""
    from webapp import api, auth, dashboard, erp, job_actions, jobs, metrics, ops, ops_api, schedules, schedules_api
    from webapp.sandbox import views as sandbox

    for module in (auth, dashboard, jobs, job_actions, schedules, erp, api, schedules_api, ops, ops_api, metrics):
        app.register_blueprint(module.bp)
    if app.config["SANDBOX_ENABLED"]:
        # Only the sandbox's settings page: its ERP API runs in a process of its own (webapp.sandbox.app).
        app.register_blueprint(sandbox.bp)
    csrf.exempt(api.bp)  # bearer tokens, not cookies: no cross-site forgery possible
    csrf.exempt(ops_api.bp)  # bearer tokens as well
    csrf.exempt(schedules_api.bp)  # bearer tokens as well


def ping_idle_connections(app: Flask) -> None:
    """On PostgreSQL, ping pooled connections idle for DB_PING_AFTER_IDLE_SECONDS before use."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from webapp.db_ping import ping_when_idle

    with app.app_context():
        ping_when_idle(db.engine, app.config["DB_PING_AFTER_IDLE_SECONDS"])


def check_secret_key(app: Flask) -> None:
    """Refuse to start without SECRET_KEY, except in debug or tests."""
    if not app.config.get("SECRET_KEY"):
        if app.debug or app.testing:
            app.config["SECRET_KEY"] = "dev-only-not-secret"
        else:
            raise RuntimeError("SECRET_KEY is not set: export SECRET_KEY (any long random string)")


def make_sqlite_path_absolute(app: Flask) -> None:
    """Put a relative SQLite file in the instance folder, whatever the working directory."""
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////") and ":memory:" not in uri:
        import os

        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, uri[len("sqlite:///"):])


class FlaskTask(Task):
    """A task that runs inside an app context of the Flask app it was created with."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        with self.app.flask_app.app_context():  # type: ignore[attr-defined]
            return self.run(*args, **kwargs)


def tune_sqlite(app: Flask) -> None:
    """On SQLite, let readers and one writer work at once (WAL) and wait for locks instead of failing."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event

    def set_pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    with app.app_context():
        event.listen(db.engine, "connect", set_pragmas)


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app whose tasks all run inside a Flask app context."""
    import tasks.publish_stamp  # noqa: F401  (stamps sent_at on every task this process publishes)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object("celeryconfig")
    celery_app.conf.update(broker_url=app.config["REDIS_URL"], result_backend=app.config["REDIS_URL"])
    celery_app.conf.update(app.config.get("CELERY", {}))
    check_celery_timing(celery_app.conf, app.config)
    celery_app.flask_app = app  # type: ignore[attr-defined]
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
