"""Whole records: a cancel never leaves part of a record in the ERP (a product without its components).

Real workers load tests.fault_tasks, whose hooks hold a chosen step of a chosen record (before it
runs, or right after its own commit) while a Redis key says so: the cancel lands exactly between
two write steps, or after a worker killed right after its first write.
"""

from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.fault_tasks import HELD_SET, HOLD_KEY
from tests.forms import post
from tests.jobs import finished_job, start_bom
from webapp.extensions import db
from webapp.jobs.launch import add_listed_records
from webapp.models import Component, Job, JobRecord, Product, TaskRun
from webapp.sandbox.data import bill_of_materials


@pytest.fixture
def hooks(app: Flask) -> Iterator[redis.Redis]:
    """The Redis the hooks read; every hold is released at the end, whatever happened."""
    client = redis.Redis.from_url(app.config["REDIS_URL"])
    client.delete(HELD_SET)
    yield client
    for key in client.scan_iter(HOLD_KEY.format("*", "*")):
        client.delete(key)
    client.delete(HELD_SET)


def launch_with_records(app: Flask, codes: list[str]) -> tuple[int, dict[str, int]]:
    """Launch a BOM job and make its records now (as its dispatch would); return its id and record ids by code."""
    job_id = start_bom(app, codes)
    with app.app_context():
        add_listed_records(db.session.get(Job, job_id))
        db.session.commit()
        ids = dict(db.session.execute(db.select(JobRecord.key, JobRecord.id).where(JobRecord.job_id == job_id)).all())
    return job_id, ids


def start_workers(workers: WorkerSet) -> str:
    """The Procfile's worker layout plus beat (the sweeper); return the db worker's node."""
    db_node = workers.start("db", queues="default,db", pool="prefork", concurrency=4)
    workers.start("io", queues="fetch", pool="threads", concurrency=8)
    workers.start_beat()
    workers.wait_ready()
    return db_node


def wait_held(hooks: redis.Redis, *holds: str) -> None:
    """Wait until every hold named (``step:record_id``) has its step waiting in a worker."""
    wanted = {hold.encode() for hold in holds}
    wait_for(lambda: wanted <= hooks.smembers(HELD_SET), timeout=60, message=f"{sorted(holds)} held")


def erp_ref(app: Flask, record_id: int) -> str | None:
    """What the record keeps of its first ERP write (the product id), if that write committed."""
    with app.app_context():
        return db.session.execute(db.select(JobRecord.erp_ref).where(JobRecord.id == record_id)).scalar_one()


def record_states(app: Flask, job_id: int) -> dict[str, str]:
    """Each record's state by key."""
    with app.app_context():
        return dict(db.session.execute(db.select(JobRecord.key, JobRecord.state).where(JobRecord.job_id == job_id)).all())


def components_of(app: Flask) -> dict[str, int]:
    """Component rows in the ERP tables per product code (every product, even one without components)."""
    with app.app_context():
        rows = db.session.execute(
            db.select(Product.product_code, db.func.count(Component.id))
            .outerjoin(Component, Component.product_id == Product.id).group_by(Product.product_code)
        ).all()
    return dict(rows)


def assert_whole(app: Flask, job_id: int) -> dict[str, str]:
    """Every record is whole in the ERP: a succeeded one with all its components, a cancelled one absent."""
    states = record_states(app, job_id)
    written = components_of(app)
    for code, state in states.items():
        if state == "cancelled":
            assert code not in written, f"{code} is cancelled, yet its product is in the ERP"
        else:
            assert state == "succeeded", f"{code} ended {state}"
            assert written.get(code) == len(bill_of_materials(code)["components"]), f"{code} is not whole"
    return states


def test_cancel_between_product_and_components(app: Flask, client: FlaskClient, fault_workers: WorkerSet,
                                               hooks: redis.Redis) -> None:
    """A cancel after make_product committed: the record finishes with every component; one that wrote nothing is cancelled."""
    job_id, ids = launch_with_records(app, ["P-10500", "P-10501"])
    written, blank = ids["P-10500"], ids["P-10501"]
    hooks.set(HOLD_KEY.format("make_component", written), 1)
    hooks.set(HOLD_KEY.format("make_product", blank), 1)
    start_workers(fault_workers)
    wait_held(hooks, f"make_component:{written}", f"make_product:{blank}")
    assert erp_ref(app, written) is not None, "the product was written before the cancel"
    assert post(client, f"/jobs/{job_id}/cancel") == 302
    wait_for(lambda: "finishing: cancel requested" in client.get(f"/jobs/{job_id}/rows").get_data(as_text=True),
             timeout=10, message="the row to say it is finishing")
    hooks.delete(HOLD_KEY.format("make_component", written), HOLD_KEY.format("make_product", blank))
    job = finished_job(app, job_id)
    assert job.status == "cancelled"
    assert assert_whole(app, job_id) == {"P-10500": "succeeded", "P-10501": "cancelled"}
    assert "P-10501" not in components_of(app), "the record that wrote nothing has no ERP rows"


def test_sigkill_after_product_then_cancel(app: Flask, client: FlaskClient, fault_workers: WorkerSet,
                                           hooks: redis.Redis) -> None:
    """The worker killed right after make_product committed, then a cancel: the redelivery finishes the record."""
    job_id, ids = launch_with_records(app, ["P-10510", "P-10511"])
    written, blank = ids["P-10510"], ids["P-10511"]
    hooks.set(HOLD_KEY.format("after-commit-make_product", written), 1)
    hooks.set(HOLD_KEY.format("make_product", blank), 1)
    db_node = start_workers(fault_workers)
    wait_held(hooks, f"after-commit-make_product:{written}", f"make_product:{blank}")
    assert erp_ref(app, written) is not None, "make_product committed before the kill"
    fault_workers.kill(db_node)
    assert post(client, f"/jobs/{job_id}/cancel") == 302
    hooks.delete(HOLD_KEY.format("after-commit-make_product", written), HOLD_KEY.format("make_product", blank))
    fault_workers.start("db", queues="default,db", pool="prefork", concurrency=4)
    job = finished_job(app, job_id, timeout=150)
    assert job.status == "cancelled"
    assert assert_whole(app, job_id) == {"P-10510": "succeeded", "P-10511": "cancelled"}
    with app.app_context():
        runs = db.session.execute(
            db.select(TaskRun.state).where(TaskRun.record_id == written, TaskRun.task_name == "tasks.workflows.make_product")
        ).scalars().all()
    assert len(runs) >= 2, "make_product was delivered again after the kill"


@pytest.mark.parametrize(("job_status", "sent_through", "left_as", "job_after"),
                         [("running", 2, "pending", "running"), ("running", 0, "failed", "cancelled"), ("queued", 0, "failed", "cancelled")])
def test_cancel_never_marks_a_partly_written_record_cancelled(app: Flask, job_status: str, sent_through: int, left_as: str,
                                                              job_after: str) -> None:
    """A record retried after its product was written (erp_ref set) is not cancelled: it finishes when
    it was sent to the workers, or, when its job will never send it (queued, or beyond the window), fails again."""
    from webapp.jobs.control import cancel_job

    with app.app_context():
        job = Job(kind="bills_of_materials", source="upload", status=job_status, total=2, sent_through=sent_through)
        db.session.add(job)
        db.session.flush()
        db.session.add_all([JobRecord(job_id=job.id, seq=1, key="P-10520", state="pending", erp_ref="7"),
                            JobRecord(job_id=job.id, seq=2, key="P-10521", state="pending")])
        db.session.commit()
        job_id = job.id
        cancel_job(job_id, None)
        assert record_states(app, job_id) == {"P-10520": left_as, "P-10521": "cancelled"}
        assert db.session.get(Job, job_id).status == job_after
