"""A reconciliation upload: its stored files, how far reading got, and its preview."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.jobs import utcnow


class ReconImport(db.Model):
    """The file(s) of one reconciliation job, read in a worker before anything is written."""

    __tablename__ = "recon_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    orders_filename: Mapped[str | None] = mapped_column(String(255))
    # The stored bytes (webapp.storage); set to NULL when they are deleted (files_deleted_at says when).
    report_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"), index=True)
    orders_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"), index=True)
    files_deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Rows made before uploads were stored kept a path under UPLOAD_FOLDER instead; new rows leave them NULL.
    path: Mapped[str | None] = mapped_column(String(1024))
    orders_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)  # of the whole file, set by the reader
    report_kind: Mapped[str | None] = mapped_column(String(32))
    encoding: Mapped[str | None] = mapped_column(String(32))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    read_started_at: Mapped[datetime | None] = mapped_column(DateTime)
    read_finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    job = relationship("Job")
    report_file = relationship("StoredFile", foreign_keys=[report_file_id])
    orders_file = relationship("StoredFile", foreign_keys=[orders_file_id])
