"""Celery tasks: thin entry points in workflows.py, plain step functions beside them."""
