"""Chaos settings of the sandbox ERP API, persisted so every process sees the same."""

from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.jobs import utcnow


class SandboxSettings(db.Model):
    """The single row (id 1) of sandbox failure settings an operator can change."""

    __tablename__ = "sandbox_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    error_rate: Mapped[float] = mapped_column(Float, default=0.0)
    timeout_rate: Mapped[float] = mapped_column(Float, default=0.0)
    throttle_rate: Mapped[float] = mapped_column(Float, default=0.0)
    retry_after_s: Mapped[int] = mapped_column(Integer, default=1)
    missing_keys: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(80))

    def missing_set(self) -> set[str]:
        """The keys (PO numbers, product codes) the sandbox answers 404 for."""
        return {k.strip().upper() for k in self.missing_keys.replace(",", "\n").split() if k.strip()}
