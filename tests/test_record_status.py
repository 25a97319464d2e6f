"""Record rows that tell the truth: queued, running on W for N s, attempt N of M failed, lost, final states."""

from datetime import datetime, timedelta

import pytest
import redis
from flask import Flask

from webapp.jobs.record_status import LatestRun, describe, live_workers
from webapp.models import JobRecord, utcnow


def record(state: str, error: str | None = None, retry_at: datetime | None = None) -> JobRecord:
    """An unsaved record in ``state``."""
    return JobRecord(job_id=1, seq=1, key="PO-100001", state=state, error=error, retry_at=retry_at)


@pytest.mark.parametrize(
    ("rec", "latest", "live", "expected"),
    [
        (record("pending"), None, set(), ("queued", "queued (waiting for a worker)")),
        (record("running"), LatestRun("fetch", "SUCCESS", "w1", None), set(), ("queued", "queued for its next step")),
        (record("running"), LatestRun("make PO", "LOST", "w1", None), set(), ("queued", "queued again after its worker died (make PO)")),
        (record("running"), LatestRun("fetch", "STARTED", "w1", None), None, ("running", "running fetch on w1 for 0 s")),
        (
            record("running"),
            LatestRun("fetch", "STARTED", "w1", None),
            set(),
            ("lost", "lost: w1 stopped sending heartbeats while running fetch"),
        ),
        (
            record("retrying", retry_at=datetime(2026, 1, 1, 8, 9, 10)),
            LatestRun("fetch", "RETRY", "w1", None, attempt=3),
            set(),
            ("retrying", "retrying: attempt 3 of 9 failed, next at 08:09:10"),
        ),
        (record("failed", error="PO-100001 was not found"), None, set(), ("failed", "failed: PO-100001 was not found")),
        (record("succeeded"), None, set(), ("succeeded", "succeeded")),
        (record("cancelled"), None, set(), ("cancelled", "cancelled")),
    ],
)
def test_describe(rec: JobRecord, latest: LatestRun | None, live: set[str] | None, expected: tuple[str, str]) -> None:
    """Each combination of record state, last run and worker liveness reads as it should."""
    assert describe(rec, latest, live, max_retries=8) == expected


@pytest.mark.parametrize(
    ("rec", "latest", "live", "expected"),
    [
        (record("running"), LatestRun("make product", "SUCCESS", "w1", None), set(), ("running", "finishing: cancel requested")),
        (record("running"), LatestRun("make components", "STARTED", "w1", None), {"w1"}, ("running", "finishing: cancel requested")),
        (
            record("running"),
            LatestRun("make components", "STARTED", "w1", None),
            set(),
            ("lost", "lost: w1 stopped sending heartbeats while running make components"),
        ),
        (record("succeeded"), None, set(), ("succeeded", "succeeded")),
        (record("cancelled"), None, set(), ("cancelled", "cancelled")),
    ],
)
def test_describe_after_a_cancel_request(
    rec: JobRecord, latest: LatestRun | None, live: set[str] | None, expected: tuple[str, str]
) -> None:
    """A record of a cancelled job that is not final says it is finishing; final and lost rows say what they are."""
    assert describe(rec, latest, live, max_retries=8, cancel_requested=True) == expected


def test_running_time_is_counted(app: Flask) -> None:
    """A run started 42 s ago on a live worker says so."""
    latest = LatestRun("fetch", "STARTED", "w1", utcnow() - timedelta(seconds=42))
    state, words = describe(record("running"), latest, {"w1"}, max_retries=8)
    assert state == "running"
    assert words.startswith("running fetch on w1 for 4")


def test_live_workers_reads_heartbeat_keys(app: Flask) -> None:
    """Only workers with a heartbeat key count as live; one pipelined read answers for all."""
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    client.set("celeriac:workers:alive@host", "{}", ex=30)
    client.delete("celeriac:workers:gone@host")
    with app.app_context():
        assert live_workers({"alive@host", "gone@host"}) == {"alive@host"}
    client.delete("celeriac:workers:alive@host")


def test_heartbeat_reads_reuse_one_connection(app: Flask) -> None:
    """Every polled page reads heartbeats: it must not open a Redis connection each time."""
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    with app.app_context():
        live_workers({"w1"})
        before = client.info("stats")["total_connections_received"]
        for _ in range(20):
            live_workers({"w1"})
        assert client.info("stats")["total_connections_received"] == before


def test_unreachable_redis_means_no_judgement(app: Flask) -> None:
    """Without Redis the page still renders, with nobody judged lost."""
    saved = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        with app.app_context():
            assert live_workers({"w1"}) is None
    finally:
        app.config["REDIS_URL"] = saved
