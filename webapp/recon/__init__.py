"""Reading Amazon reconciliation reports into per-state totals; pure Python, no database or Celery."""

from webapp.recon.digest import content_hash
from webapp.recon.model import ReportSummary
from webapp.recon.reader import preview, summarize

__all__ = ["ReportSummary", "content_hash", "preview", "summarize"]
