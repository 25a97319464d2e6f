"""The bill-of-materials job end to end: real workers, real Redis, the sandbox ERP over HTTP."""

import math
from urllib.parse import unquote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from devtools.workers import WorkerSet
from tests.chaos import set_chaos
from tests.forms import csrf_token
from tests.jobs import bom_ledger, finished_job, start_bom
from webapp.extensions import db
from webapp.models import JobRecord, TaskRun
from webapp.sandbox.data import bill_of_materials

# Its worker tests run on Redis and on RabbitMQ (tests/conftest.py).
pytestmark = pytest.mark.both_brokers

CODES = [f"P-{n}" for n in range(10100, 10140)]


def expected_components(codes: list[str]) -> int:
    """How many components the sandbox ERP lists for these products."""
    return sum(len(bill_of_materials(code)["components"]) for code in codes)


def test_flaky_erp_every_product_and_component_once(app: Flask, workers: WorkerSet) -> None:
    """40 products against a flaky ERP: the job succeeds with every product and component exactly once."""
    set_chaos(app, error_rate=0.15, throttle_rate=0.1, timeout_rate=0.05, retry_after_s=0)
    job = finished_job(app, start_bom(app, CODES))
    set_chaos(app)
    assert job.status == "succeeded"
    assert job.finalized_count == 1
    products, components, pairs = bom_ledger(app)
    assert products == sorted(CODES)
    assert components == pairs == expected_components(CODES)
    expected = {
        "tasks.workflows.fetch_bom": 40,
        "tasks.workflows.make_product": 40,
        "tasks.workflows.make_component": 40,
        "tasks.workflows.dispatch_job": 1,
        # one chord body per batch of the job's window (tasks.window)
        "tasks.workflows.next_window": math.ceil(40 / app.config["JOB_WINDOW_BATCH"]),
    }

    def successful_steps() -> dict[str, int]:
        with app.app_context():
            return dict(
                db.session.execute(
                    db.select(TaskRun.task_name, db.func.count())
                    .where(TaskRun.job_id == job.id, TaskRun.state == "SUCCESS")
                    .group_by(TaskRun.task_name)
                ).all()
            )

    # The last chord body closes the job inside its own run, which closes after it (task_postrun):
    # the job can read as finished a moment before that run says SUCCESS.
    try:
        wait_for(lambda: successful_steps() == expected, timeout=10, interval=0.1)
    except AssertionError:
        pass  # the assertion below says what the log holds
    assert successful_steps() == expected


def test_missing_boms_fail_with_reasons(app: Flask, workers: WorkerSet) -> None:
    """Missing BOMs fail at once with the reason; their later steps are skipped; the job completes with failures."""
    missing = CODES[:2]
    set_chaos(app, missing_keys=" ".join(missing))
    job = finished_job(app, start_bom(app, CODES[:10]))
    set_chaos(app)
    assert job.status == "completed_with_failures"
    with app.app_context():
        failed = db.session.execute(db.select(JobRecord).where(JobRecord.job_id == job.id, JobRecord.state == "failed")).scalars().all()
        assert sorted(r.key for r in failed) == missing
        assert all("not found" in (r.error or "") for r in failed)
        later = (
            db.session.execute(
                db.select(TaskRun.state).where(TaskRun.record_id == failed[0].id, TaskRun.task_name != "tasks.workflows.fetch_bom")
            )
            .scalars()
            .all()
        )
    assert later == ["SKIPPED", "SKIPPED"]
    assert bom_ledger(app)[0] == sorted(CODES[2:10])


def test_bom_form_with_typed_codes_and_record_page(app: Flask, client: FlaskClient, workers: WorkerSet) -> None:
    """Codes typed in the form start a job; the record page lists the components created."""
    token = csrf_token(client.get("/").data)
    response = client.post("/jobs/bills-of-materials", data={"csrf_token": token, "keys": "p-10200\nP-10201, P-10202"})
    assert response.status_code == 302
    job_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert finished_job(app, job_id).status == "succeeded"
    with app.app_context():
        record = db.session.execute(db.select(JobRecord).where(JobRecord.job_id == job_id, JobRecord.key == "P-10200")).scalar_one()
        record_id = record.id
    body = client.get(f"/jobs/{job_id}/records/{record_id}").get_data(as_text=True)
    assert f"Components created ({len(bill_of_materials('P-10200')['components'])})" in body
    assert bill_of_materials("P-10200")["components"][0]["component_code"] in body


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"keys": "P-10001\nnot-a-code"}, "line 2: &#39;NOT-A-CODE&#39; is not a product code"),
        ({"keys": "P-10001 P-10001\nP-1"}, "line 1: P-10001 is repeated (first on line 1)"),  # and an error: refused
        ({"keys": "   "}, "choose a CSV file of product codes to upload, or type them"),
    ],
)
def test_bad_bom_input_is_refused(app: Flask, client: FlaskClient, form: dict, message: str) -> None:
    """Bad typed codes get a 400 naming the line; no job is created."""
    token = csrf_token(client.get("/").data)
    response = client.post("/jobs/bills-of-materials", data={"csrf_token": token, **form})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(JobRecord)).scalar_one() == 0


def held_by_db_workers(app: Flask) -> int:
    """Messages taken from the db queue and not acknowledged (kombu's `unacked` hash on the broker)."""
    import json

    import redis

    entries = redis.Redis.from_url(app.config["REDIS_URL"]).hvals("unacked")
    return sum(1 for entry in entries if json.loads(entry)[2] == "db")


def held_on_rabbitmq(request: pytest.FixtureRequest, broker_url: str) -> int:
    """Messages of the db queue delivered and not acknowledged on RabbitMQ (0 on Redis): read
    before the kill, as RabbitMQ queues them again as soon as the killed worker's connection drops."""
    if not broker_url:
        return 0
    vhosts = request.getfixturevalue("rabbitmq_server")
    return vhosts.unacknowledged(unquote(urlsplit(broker_url).path[1:]), "db")


def test_sigkill_mid_bom_job(app: Flask, own_workers: WorkerSet, broker_url: str, request: pytest.FixtureRequest) -> None:
    """The database worker killed mid-job: every product and component still exactly once.

    Redis delivers the killed worker's messages again after the visibility timeout (or the
    sweeper's orphan restore); RabbitMQ as soon as the worker's connection drops."""
    db_node = own_workers.start("db", queues="default,db", pool="prefork", concurrency=2)
    own_workers.start("io", queues="fetch", pool="threads", concurrency=8)
    own_workers.start_beat()
    own_workers.wait_ready()
    # Fetches outrun the writes, so the db worker has work in hand; enough of it that the job is
    # still running well after its 20th product on a loaded machine, when the kill comes.
    codes = [f"P-{n}" for n in range(10300, 10600)]
    job_id = start_bom(app, codes)

    def done() -> int:
        with app.app_context():
            return db.session.execute(
                db.select(db.func.count()).select_from(JobRecord).where(JobRecord.job_id == job_id, JobRecord.state == "succeeded")
            ).scalar_one()

    wait_for(lambda: done() >= 20, timeout=90, message="20 products done")

    def held_now() -> int:
        return held_on_rabbitmq(request, broker_url) if broker_url else held_by_db_workers(app)

    # Killed while it holds messages, which the broker must then deliver again: on a loaded
    # machine the fetches do not always outrun the writes, and a kill between two writes tests nothing.
    held = wait_for(held_now, timeout=60, interval=0.2, message="the db worker holding a message")
    own_workers.kill(db_node)
    if not broker_url:
        held = held_by_db_workers(app)  # Redis' unacked hash keeps them after the kill
    own_workers.start("db", queues="default,db", pool="prefork", concurrency=2)
    job = finished_job(app, job_id, timeout=180)
    assert job.status == "succeeded"
    assert held >= 1, "the killed worker held messages, which the broker had to deliver again"
    products, components, pairs = bom_ledger(app)
    assert products == sorted(codes)
    assert components == pairs == expected_components(codes)
