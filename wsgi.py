"""Entry point for gunicorn (wsgi:app), the flask CLI and Celery (wsgi:celery_app)."""

from webapp.app import create_app

app = create_app()
celery_app = app.extensions["celery"]
