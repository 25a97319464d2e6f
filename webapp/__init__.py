"""Celeriac: the operator console (Flask) and its Celery workflows; the factory is webapp.app.create_app."""
