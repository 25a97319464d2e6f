"""Reading Amazon reconciliation reports into per-state totals; pure Python, no database or Celery."""

from webapp.reconciliation.reader.digest import content_hash
from webapp.reconciliation.reader.model import ReportSummary
from webapp.reconciliation.reader.reader import preview, summarize

__all__ = ["ReportSummary", "content_hash", "preview", "summarize"]
