"""Reading Amazon reconciliation reports into per-state totals: pure Python, no database, web or Celery.

The entry point is ``read`` (``summarize_report``, ``preview``); this package imports nothing, so that a
module of it can be imported on its own (the helper process imports only what it reads with).
"""
