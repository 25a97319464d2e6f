"""What a record row says it is doing, in words that tell the truth.

queued (waiting for a worker), running (on worker W for N s), retrying: attempt N of M failed, next
at HH:MM:SS,
finishing: cancel requested, succeeded, failed (reason), cancelled, or lost: its last run started
on a worker that no longer sends heartbeats, and nothing has happened since. Liveness comes from one batched Redis read of
the heartbeat keys of the workers on the page; without Redis the page still renders, with no
"lost" judgement.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

import redis

from webapp.models import JobRecord, RecordState, utcnow
from webapp.monitoring.heartbeats import KEY_PREFIX
from webapp.redis_clients import shared_redis

log = logging.getLogger(__name__)


@dataclass
class LatestRun:
    """The most recent task run of a record."""

    step: str
    state: str
    worker: str | None
    started_at: datetime | None
    attempt: int = 1


def live_workers(names: set[str]) -> set[str] | None:
    """Which of these workers still send heartbeats (one pipelined round trip); None if Redis is unreachable."""
    if not names:
        return set()
    ordered = sorted(names)
    try:
        pipe = shared_redis(timeout=0.5).pipeline(transaction=False)
        for name in ordered:
            pipe.exists(KEY_PREFIX + name)
        return {name for name, alive in zip(ordered, pipe.execute()) if alive}
    except redis.RedisError:
        log.warning("no heartbeat check: Redis did not answer", exc_info=True)
        return None


def is_lost(latest: LatestRun | None, live: set[str] | None) -> bool:
    """True when the record's last run is still started on a worker known to send no heartbeats."""
    return bool(latest and latest.state == "STARTED" and latest.worker and live is not None and latest.worker not in live)


def describe(
    record: JobRecord, latest: LatestRun | None, live: set[str] | None, max_retries: int, cancel_requested: bool = False
) -> tuple[str, str]:
    """(state class, words) for one record row; a retry counts attempts as its error and the task
    log do (attempt N of ``max_retries`` + 1).

    A record of a job with a cancel request that is not final yet will finish (a running step, or
    a record partly written): it says so, unless its worker is lost.
    """
    state = record.state
    if state == RecordState.SUCCEEDED:
        return "succeeded", "succeeded"
    if state == RecordState.FAILED:
        return "failed", f"failed: {record.error}" if record.error else "failed"
    if state == RecordState.CANCELLED:
        return "cancelled", "cancelled"
    if cancel_requested and not is_lost(latest, live):
        return "running", "finishing: cancel requested"
    if state == RecordState.RETRYING and record.retry_at:
        attempt = latest.attempt if latest else 1
        return "retrying", f"retrying: attempt {attempt} of {max_retries + 1} failed, next at {record.retry_at:%H:%M:%S}"
    if latest is None:
        return "queued", "queued (waiting for a worker)"
    if latest.state == "STARTED":
        if is_lost(latest, live):
            return "lost", f"lost: {latest.worker} stopped sending heartbeats while running {latest.step}"
        seconds = int((utcnow() - latest.started_at).total_seconds()) if latest.started_at else 0
        return "running", f"running {latest.step} on {latest.worker or 'a worker'} for {seconds} s"
    if latest.state == "LOST":
        return "queued", f"queued again after its worker died ({latest.step})"
    return "queued", "queued for its next step"
