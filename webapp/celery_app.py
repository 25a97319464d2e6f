"""The Celery app of a Flask app: every task runs inside that app's context."""

from celery import Celery, Task
from flask import Flask

import tasks.publish_stamp  # noqa: F401  (stamps sent_at on every task this process publishes)
from webapp.broker import transport_settings, visibility_timeout_from_env
from webapp.config import check_celery_timing


class FlaskTask(Task):
    """A task that runs inside an app context of the Flask app it was created with."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        with self.app.flask_app.app_context():  # type: ignore[attr-defined]
            return self.run(*args, **kwargs)


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app whose tasks all run inside a Flask app context."""
    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object("celeryconfig")
    broker = app.config.get("BROKER_URL") or app.config["REDIS_URL"]
    celery_app.conf.update(transport_settings(broker, visibility_timeout_from_env()), result_backend=app.config["REDIS_URL"])
    celery_app.conf.update(app.config.get("CELERY", {}))
    check_celery_timing(celery_app.conf, app.config)
    celery_app.flask_app = app  # type: ignore[attr-defined]
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
