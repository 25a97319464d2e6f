"""How fast a reconciliation report is being read, for the job page and the API."""

from dataclasses import dataclass

from webapp.models import ReconImport, utcnow


@dataclass
class Reading:
    """Rows per second and seconds left while a file is read."""

    rate: float | None
    eta: int | None


def reading_speed(upload: ReconImport) -> Reading:
    """Rate from rows read since reading started; ETA from the bytes still to read."""
    if upload.read_started_at is None or upload.read_finished_at is not None or not upload.bytes_read:
        return Reading(None, None)
    elapsed = (utcnow() - upload.read_started_at).total_seconds()
    if elapsed <= 0:
        return Reading(None, None)
    byte_rate = upload.bytes_read / elapsed
    return Reading(upload.rows_read / elapsed, int((upload.size_bytes - upload.bytes_read) / byte_rate))
