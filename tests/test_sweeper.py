"""The sweeper's judgement of what is stalled (in-process; the end-to-end case is in test_worker_crash)."""

from datetime import timedelta

import pytest
from flask import Flask

from tasks import orphans, runlog_cleanup, sweeper
from webapp.extensions import db
from webapp.models import Job, JobRecord, OutboxMessage, TaskRun, utcnow


def make_running_job(minutes_idle: float, retry_in: float | None = None, final: bool = False) -> int:
    """A running job with two records, both sent, last active ``minutes_idle`` ago."""
    now = utcnow()
    job = Job(kind="purchase_orders", source="upload", status="running", total=2, started_at=now - timedelta(hours=1), sent_through=2)
    db.session.add(job)
    db.session.flush()
    state = "succeeded" if final else "running"
    first = JobRecord(job_id=job.id, seq=1, key="PO-100001", state="succeeded")
    second = JobRecord(job_id=job.id, seq=2, key="PO-100002", state=state)
    if retry_in is not None:
        second.state, second.retry_at = "retrying", now + timedelta(minutes=retry_in)
    db.session.add_all([first, second])
    db.session.flush()
    moment = now - timedelta(minutes=minutes_idle)
    db.session.add(
        TaskRun(
            task_id="x",
            task_name="tasks.workflows.fetch_po",
            job_id=job.id,
            record_id=second.id,
            state="SUCCESS",
            started_at=moment,
            finished_at=moment,
        )
    )
    db.session.commit()
    return job.id


@pytest.mark.parametrize(
    ("idle", "retry_in", "final", "stalled"),
    [(10, None, False, True), (1, None, False, False), (10, 5, False, False), (10, -8, False, True), (10, None, True, False)],
)
def test_stalled_only_without_progress(app: Flask, idle: float, retry_in: float | None, final: bool, stalled: bool) -> None:
    """Idle past the threshold with unfinished records → stalled; recent activity or a retry due → not."""
    app.config["STUCK_AFTER_SECONDS"] = 300
    with app.app_context():
        job_id = make_running_job(idle, retry_in, final)
        found = sweeper.stalled_records()
        second = db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job_id, JobRecord.seq == 2)).scalar_one()
    assert found == ({job_id: [second]} if stalled else {})


def test_swept_job_waits_before_being_swept_again(app: Flask) -> None:
    """After a sweep, the same job is left alone for another threshold."""
    app.config["STUCK_AFTER_SECONDS"] = 300
    with app.app_context():
        job_id = make_running_job(10)
        assert job_id in sweeper.stalled_records()
        sweeper.mark_swept(job_id, 1)
        assert sweeper.stalled_records() == {}
        assert db.session.get(Job, job_id).resent_records == 1


def test_lost_dispatch_is_sent_again(app: Flask) -> None:
    """A queued job whose dispatch message went out long ago gets its outbox row back to pending."""
    app.config["STUCK_AFTER_SECONDS"] = 300
    with app.app_context():
        old, fresh = Job(kind="purchase_orders", source="upload", total=1), Job(kind="purchase_orders", source="upload", total=1)
        db.session.add_all([old, fresh])
        db.session.flush()
        db.session.add_all(
            [
                OutboxMessage(
                    job_id=old.id,
                    task_name="t",
                    kwargs={},
                    task_id="a",
                    status="dispatched",
                    dispatched_at=utcnow() - timedelta(minutes=30),
                ),
                OutboxMessage(job_id=fresh.id, task_name="t", kwargs={}, task_id="b", status="dispatched", dispatched_at=utcnow()),
            ]
        )
        db.session.commit()
        assert sweeper.resend_lost_dispatches() == [old.id]
        statuses = dict(db.session.execute(db.select(OutboxMessage.task_id, OutboxMessage.status)).all())
    assert statuses == {"a": "pending", "b": "dispatched"}


def test_runs_nothing_closed_are_marked_lost_after_the_threshold(app: Flask) -> None:
    """A run left STARTED (its worker died unnoticed, or the database was down when it ended) is LOST once stale."""

    with app.app_context():
        now = utcnow()
        for task_id, minutes_ago, state in (("old", 10, "STARTED"), ("recent", 1, "STARTED"), ("done", 10, "SUCCESS")):
            db.session.add(
                TaskRun(
                    task_id=task_id,
                    task_name="tasks.workflows.sweep",
                    state=state,
                    started_at=now - timedelta(minutes=minutes_ago),
                    finished_at=now if state == "SUCCESS" else None,
                )
            )
        db.session.commit()
        assert runlog_cleanup.close_stale_runs(timedelta(minutes=5)) == 1
        states = dict(db.session.execute(db.select(TaskRun.task_id, TaskRun.state)).all())
    assert states == {"old": "LOST", "recent": "STARTED", "done": "SUCCESS"}


def test_a_file_being_read_is_not_finalized(app: Flask) -> None:
    """A running reconciliation job has no records until its preview is confirmed: the sweep leaves it running."""
    from tasks.jobs import finalize_stalled

    with app.app_context():
        reading = Job(kind="reconciliation", source="upload", status="running", total=0)
        db.session.add(reading)
        db.session.commit()
        assert finalize_stalled() == []
        assert db.session.get(Job, reading.id).status == "running"


def beat_as(app: Flask, hostname: str, seconds_ago: float, interval: float = 10.0) -> None:
    """Write a worker's heartbeat as its heartbeat thread would, sent ``seconds_ago``."""
    import json
    import time

    import redis

    from webapp.monitoring import heartbeats

    body = json.dumps({"hostname": hostname, "sent_at": time.time() - seconds_ago, "interval": interval})
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    client.set(heartbeats.KEY_PREFIX + hostname, body, px=int(interval * heartbeats.TTL_INTERVALS * 1000))
    client.hset(heartbeats.SEEN_KEY, hostname, body)


@pytest.mark.parametrize(("seconds_ago", "orphaned"), [(45, True), (5, False), (25, False)])
def test_a_step_is_orphaned_only_once_its_worker_missed_its_beats(app: Flask, seconds_ago: float, orphaned: bool) -> None:
    """A STARTED step on a worker silent for 3 beats is orphaned; a slow worker still beating keeps its step."""
    app.config["WORKER_DEAD_AFTER_BEATS"] = 3
    worker = f"w{seconds_ago}@test"
    beat_as(app, worker, seconds_ago)
    with app.app_context():
        job_id = make_running_job(0.5)
        record_id = db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job_id, JobRecord.seq == 2)).scalar_one()
        db.session.add(
            TaskRun(
                task_id="t-make",
                task_name="tasks.workflows.make_po",
                job_id=job_id,
                record_id=record_id,
                state="STARTED",
                worker=worker,
                started_at=utcnow(),
            )
        )
        db.session.commit()
        found = orphans.orphaned_runs()
        if not orphaned:
            assert found == {}
            return
        assert [(o.task_id, o.step, o.record_id) for o in found[job_id]] == [("t-make", "make_po", record_id)]


def test_a_worker_redis_never_heard_of_is_not_judged_dead(app: Flask) -> None:
    """No heartbeat at all (Redis restarted empty) is no proof of death: the step waits for the stuck-job path."""
    import redis

    from webapp.monitoring import heartbeats

    client = redis.Redis.from_url(app.config["REDIS_URL"])
    assert heartbeats.dead_workers(client, {"never-seen@test"}, 3) == set()


def test_stalled_records_still_in_the_broker_are_not_sent_again(app: Flask) -> None:
    """A stalled record whose step waits in a queue (behind other jobs' work) or is held by a worker
    is slow, not lost: only the records with no message anywhere are sent again."""
    import base64
    import json

    import redis

    def message(record_id: int) -> bytes:
        body = base64.b64encode(json.dumps([[], {"job_id": 1, "record_id": record_id}, {}]).encode()).decode()
        return json.dumps({"body": body, "headers": {"task": "tasks.workflows.make_po"}}).encode()

    client = redis.Redis.from_url(app.config["REDIS_URL"])
    client.lpush("db", message(11))
    client.hset("unacked", "tag-1", json.dumps([json.loads(message(12)), "", "fetch"]))
    try:
        with app.app_context():
            assert sweeper.lost_records({1: [11, 12, 13], 2: [12]}) == {1: [13]}
    finally:
        client.lrem("db", 0, message(11))
        client.hdel("unacked", "tag-1")


def test_a_message_held_past_the_visibility_timeout_counts_as_lost(app: Flask) -> None:
    """Kombu should have restored it to its queue; its restore is stuck (a worker killed while
    holding the restore mutex blocks restores for minutes), so the record is sent again."""
    import base64
    import json
    import time

    import redis

    def message(record_id: int) -> dict:
        body = base64.b64encode(json.dumps([[], {"job_id": 1, "record_id": record_id}, {}]).encode()).decode()
        return {"body": body, "headers": {"task": "tasks.workflows.make_po"}}

    client = redis.Redis.from_url(app.config["REDIS_URL"])
    visibility = float(app.extensions["celery"].conf.broker_transport_options.get("visibility_timeout", 3600))
    client.hset("unacked", "tag-old", json.dumps([message(21), "", "db"]))
    client.hset("unacked", "tag-new", json.dumps([message(22), "", "db"]))
    client.zadd("unacked_index", {"tag-old": time.time() - visibility - 5, "tag-new": time.time() - visibility + 60})
    try:
        with app.app_context():
            assert sweeper.lost_records({1: [21, 22]}) == {1: [21]}
    finally:
        client.hdel("unacked", "tag-old", "tag-new")
        client.zrem("unacked_index", "tag-old", "tag-new")


def test_one_sweep_at_a_time(app: Flask) -> None:
    """A sweep that starts while another runs does nothing (both would send the same records)."""
    with app.app_context():
        with sweeper.sweep_lock() as first:
            with sweeper.sweep_lock() as second:
                assert (first, second) == (True, False)
        with sweeper.sweep_lock() as again:
            assert again
