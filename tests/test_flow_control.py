"""Flow control: a job keeps a bounded window of its records in the broker (tasks.window).

The first tests drive tasks.window in-process with a sender that only records what it was given;
the last ones run jobs on real workers: a small job beside a large one, and a cancel that drains.
"""

import json
import time
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tasks import window
from tests.forms import post
from tests.jobs import finished_job, start
from webapp.broker import is_amqp
from webapp.extensions import db
from webapp.models import Job, JobRecord, PurchaseOrder, utcnow
from webapp.monitoring.queues import task_ids
from webapp.monitoring.rabbitmq import messages_held


class Sent:
    """A sender that keeps the batches instead of publishing them."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[window.Batch] = []
        self.fail = fail

    def __call__(self, kind: str, job_id: int, batch: window.Batch) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.batches.append(batch)

    @property
    def record_ids(self) -> list[int]:
        return [record_id for batch in self.batches for record_id in batch.record_ids]


@pytest.fixture
def small_window(app: Flask) -> Iterator[None]:
    """A window of 20 records sent in chords of 5."""
    saved = app.config["JOB_WINDOW_RECORDS"], app.config["JOB_WINDOW_BATCH"]
    app.config.update(JOB_WINDOW_RECORDS=20, JOB_WINDOW_BATCH=5)
    yield
    app.config["JOB_WINDOW_RECORDS"], app.config["JOB_WINDOW_BATCH"] = saved


def running_job(records: int, status: str = "running") -> int:
    """A job with ``records`` pending records, none sent yet."""
    job = Job(kind="purchase_orders", source="upload", status=status, total=records, started_at=utcnow())
    db.session.add(job)
    db.session.flush()
    db.session.add_all([JobRecord(job_id=job.id, seq=seq, key=f"PO-{100000 + seq}") for seq in range(1, records + 1)])
    db.session.commit()
    return job.id


def record_ids(job_id: int) -> list[int]:
    """The job's record ids in input order."""
    return list(db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job_id).order_by(JobRecord.seq)).scalars())


def finish(ids: list[int], state: str = "succeeded") -> None:
    """Give records a final state, as their steps would."""
    db.session.execute(db.update(JobRecord).where(JobRecord.id.in_(ids)).values(state=state, finished_at=utcnow()))
    db.session.commit()


def test_a_job_sends_one_window_in_batches_and_tops_it_up(app: Flask, small_window: None) -> None:
    """100 records, window 20 in batches of 5: 20 sent in input order; nothing more until records
    finish; a batch's worth finished sends the next 5; fewer than a batch waits."""
    with app.app_context():
        job_id = running_job(100)
        ids = record_ids(job_id)
        sent = Sent()
        assert window.top_up(job_id, sent).sent == 20
        assert [len(batch.record_ids) for batch in sent.batches] == [5, 5, 5, 5]
        assert sent.record_ids == ids[:20]
        assert db.session.get(Job, job_id).sent_through == 20
        assert window.top_up(job_id, sent).sent == 0
        finish(ids[:5])
        assert window.top_up(job_id, sent).sent == 5
        assert sent.record_ids[20:] == ids[20:25]
        finish(ids[5:8])
        assert window.top_up(job_id, sent) == window.TopUp(sent=0, in_flight=17)
        job = db.session.get(Job, job_id)
        assert (job.group_id, job.chord_id) == (sent.batches[-1].group_id, sent.batches[-1].chord_id)


def test_the_tail_goes_when_nothing_is_in_flight_and_the_job_closes_after(app: Flask, small_window: None) -> None:
    """A last batch smaller than a batch is sent once the window is empty; the top-up after the last
    record finishes closes the job, once."""
    with app.app_context():
        job_id = running_job(23)
        ids = record_ids(job_id)
        sent = Sent()
        window.top_up(job_id, sent)
        finish(ids[:20])
        assert window.top_up(job_id, sent).sent == 3
        assert window.top_up(job_id, sent).finalized is None  # 3 still in flight
        finish(ids[20:], "failed")
        assert window.top_up(job_id, sent).finalized == "completed_with_failures"
        assert window.top_up(job_id, sent) == window.TopUp()  # closed: nothing more, no second finalize
        job = db.session.get(Job, job_id)
        assert (job.status, job.finalized_count, len(sent.record_ids)) == ("completed_with_failures", 1, 23)


def test_a_cancelled_job_sends_nothing_more(app: Flask, small_window: None) -> None:
    """After a cancel, top-ups send nothing; the job closes when its last sent record finishes."""
    from webapp.jobs.control import cancel_job

    with app.app_context():
        job_id = running_job(100)
        ids = record_ids(job_id)
        sent = Sent()
        window.top_up(job_id, sent)
        db.session.execute(db.update(JobRecord).where(JobRecord.id.in_(ids[:2])).values(state="running"))
        db.session.commit()
        cancel_job(job_id, None)
        assert window.top_up(job_id, sent).sent == 0
        assert db.session.get(Job, job_id).sent_through == 20
        finish(ids[:2])
        assert window.top_up(job_id, sent).finalized == "cancelled"
        assert len(sent.record_ids) == 20


def test_a_failed_publish_sends_nothing_and_moves_nothing(app: Flask, small_window: None) -> None:
    """The sent mark moves in the transaction that publishes: a broker error leaves it where it was."""
    with app.app_context():
        job_id = running_job(30)
        with pytest.raises(ConnectionError):
            window.top_up(job_id, Sent(fail=True))
        assert db.session.get(Job, job_id, populate_existing=True).sent_through == 0
        sent = Sent()
        assert window.top_up(job_id, sent).sent == 20


def test_a_stale_claim_loses(app: Flask, small_window: None) -> None:
    """Two top-ups that read the same mark: only the first moves it (no record sent twice)."""
    with app.app_context():
        job_id = running_job(30)
        first, second = window.Batch([1]), window.Batch([2])
        assert window.claim(job_id, 0, 5, first)
        db.session.commit()
        assert not window.claim(job_id, 0, 5, second)
        db.session.rollback()
        assert db.session.get(Job, job_id).chord_id == first.chord_id


def test_a_job_still_reading_its_file_is_not_closed(app: Flask, small_window: None) -> None:
    """A running job with no records (a reconciliation file being read) is left alone by the sweep's top-up."""
    with app.app_context():
        job = Job(kind="reconciliation", source="upload", status="running", total=0, started_at=utcnow())
        db.session.add(job)
        db.session.commit()
        assert window.top_up(job.id, Sent()) == window.TopUp()
        assert db.session.get(Job, job.id, populate_existing=True).status == "running"


def test_retry_failed_sends_the_retried_records_again_from_the_start(app: Flask, small_window: None) -> None:
    """Retry failed resets the sent mark: the failed records are sent again, a window at a time."""
    from webapp.jobs.control import retry_failed

    with app.app_context():
        job_id = running_job(30)
        ids = record_ids(job_id)
        finish(ids[:25])
        finish(ids[25:], "failed")
        db.session.execute(db.update(Job).where(Job.id == job_id).values(status="completed_with_failures", sent_through=30))
        db.session.commit()
        assert retry_failed(job_id, None) == 5
        assert db.session.get(Job, job_id).sent_through == 0
        db.session.execute(db.update(Job).where(Job.id == job_id).values(status="running"))  # as the dispatch does
        db.session.commit()
        sent = Sent()
        window.top_up(job_id, sent)
        assert sent.record_ids == ids[25:]


def test_the_job_page_the_api_and_the_workers_page_show_the_window(
    app: Flask, client: FlaskClient, api_token: str, small_window: None
) -> None:
    """A running job's page says how much it sent and has in flight; the API gives the same; the
    workers page lists each running job with its records in flight and its share of the last minute."""
    from webapp.models import TaskRun

    with app.app_context():
        busy, idle = running_job(100), running_job(10)
        window.top_up(busy, Sent())
        window.top_up(idle, Sent())
        finish(record_ids(busy)[:4])
        now = utcnow()
        db.session.add_all(
            [
                TaskRun(
                    task_id=f"t{n}",
                    task_name="tasks.workflows.fetch_po",
                    job_id=busy,
                    record_id=record_ids(busy)[n],
                    state="SUCCESS",
                    started_at=now,
                    finished_at=now,
                )
                for n in range(3)
            ]
            + [
                TaskRun(
                    task_id="u",
                    task_name="tasks.workflows.fetch_po",
                    job_id=idle,
                    record_id=record_ids(idle)[0],
                    state="SUCCESS",
                    started_at=now,
                    finished_at=now,
                )
            ]
        )
        db.session.commit()
    page = client.get(f"/jobs/{busy}").get_data(as_text=True)
    assert 'data-in-flight="16" data-sent="20"' in page
    assert "20 of 100 records sent to the workers" in page
    api = client.get(f"/api/jobs/{busy}", headers={"Authorization": f"Bearer {api_token}"}).get_json()
    assert api["window"] == {"sent": 20, "total": 100, "in_flight": 16, "size": 20}
    panel = client.get("/ops/workers/panel").get_data(as_text=True)
    assert f'data-job="{busy}" data-in-flight="16" data-steps="3"' in panel
    assert f'data-job="{idle}" data-in-flight="10" data-steps="1"' in panel
    assert "75 %" in panel and "25 %" in panel


def broker_records_of(client: redis.Redis, job_id: int) -> int:
    """Records of the job with a step in the broker: queued on any queue, or delivered and not acknowledged.

    Records, not messages: a chain publishes a record's next step before its current message is
    acknowledged, and the scan is not atomic, so one record can briefly show two messages.
    """
    bodies = []
    for key in client.scan_iter(match="*"):
        kind = client.type(key)
        if kind == b"list":
            bodies += client.lrange(key, 0, -1)
        elif kind == b"hash" and key.endswith(b"unacked"):
            bodies += [json.loads(raw)[0] for raw in client.hvals(key)]
    return len({record for job, record in map(task_ids, bodies) if job == job_id and record is not None})


def at_most_a_window_in_the_broker(app: Flask, job_id: int) -> None:
    """The job's records with a step in the broker are at most a window. On RabbitMQ, whose queued
    messages cannot be read without taking them, the messages waiting in the record queues stand
    for them: those of every job, so at least the job's own."""
    window_records = app.config["JOB_WINDOW_RECORDS"]
    if is_amqp(app.config.get("BROKER_URL") or ""):
        held = messages_held(app.extensions["celery"], ("fetch", "db", "default"), "")
        assert held is not None and held <= window_records
    else:
        assert broker_records_of(redis.Redis.from_url(app.config["REDIS_URL"]), job_id) <= window_records


@pytest.mark.both_brokers
def test_a_small_job_finishes_beside_a_large_one_and_a_cancel_drains(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """A 10-record job started while a 20,000-record job runs finishes while the large one still runs;
    the large job never has more than a window in the broker; after its cancel nothing more of it
    is sent, what was queued drains, and no cancelled record wrote to the ERP."""
    # The sandbox ERP knows 2,000 POs: the large job writes 1,990 of them, and its other records
    # are fetched and found missing (a failure without retries); the small job writes the last 10.
    big = start(app, [f"PO-{n}" for n in range(100000, 101990)] + [f"PO-{n}" for n in range(200000, 218010)])

    def progress() -> int | None:
        with app.app_context():
            return (
                db.session.execute(
                    db.select(db.func.count()).select_from(JobRecord).where(JobRecord.job_id == big, JobRecord.state == "succeeded")
                ).scalar_one()
                or None
            )

    wait_for(progress, timeout=120, message="the large job writing")
    at_most_a_window_in_the_broker(app, big)
    began = time.monotonic()
    small = start(app, [f"PO-{n}" for n in range(101990, 102000)])
    assert finished_job(app, small, timeout=60).status == "succeeded"
    small_seconds = time.monotonic() - began
    with app.app_context():
        big_job = db.session.get(Job, big)
        assert big_job.status == "running", "the small job did not wait for the large one"
        assert big_job.sent_through < 20000
    assert small_seconds < 30
    assert post(client, f"/jobs/{big}/cancel") == 302
    with app.app_context():
        sent_at_cancel = db.session.get(Job, big).sent_through
    at_most_a_window_in_the_broker(app, big)
    job = finished_job(app, big, timeout=120)
    assert job.status == "cancelled"
    assert job.sent_through == sent_at_cancel, "nothing was sent after the cancel"
    with app.app_context():
        cancelled = (
            db.session.execute(db.select(JobRecord.key).where(JobRecord.job_id == big, JobRecord.state == "cancelled")).scalars().all()
        )
        written = set(db.session.execute(db.select(PurchaseOrder.po_number).where(PurchaseOrder.po_number.in_(cancelled))).scalars())
        succeeded = db.session.execute(
            db.select(db.func.count()).select_from(JobRecord).where(JobRecord.job_id == big, JobRecord.state == "succeeded")
        ).scalar_one()
    assert len(cancelled) >= 20000 - sent_at_cancel
    assert written == set()
    assert succeeded <= sent_at_cancel
