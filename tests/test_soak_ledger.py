"""The soak's checks of flow control and whole records fail on the ledger they exist to catch.

The soak itself (tests/test_soak.py) only shows them holding; here each is given a ledger, or a
broker, where it must not hold.
"""

import base64
import json
from datetime import date, timedelta

import redis
from flask import Flask

from scripts import soak
from webapp.extensions import db
from webapp.models import Component, Job, JobRecord, Product, PurchaseOrder, utcnow
from webapp.sandbox import data as erp_data


def job(kind: str = "bills_of_materials", **values: object) -> int:
    """A job row; its id."""
    row = Job(kind=kind, source="upload", status=values.pop("status", "cancelled"), total=1, **values)
    db.session.add(row)
    db.session.commit()
    return row.id


def record(job_id: int, key: str, state: str) -> None:
    """A record of the job."""
    db.session.add(JobRecord(job_id=job_id, seq=1, key=key, state=state))
    db.session.commit()


def product(code: str, job_id: int, missing: int = 0) -> None:
    """The product as the sandbox's BOM lists it, written by ``job_id``, less its last ``missing`` components."""
    bom = erp_data.bill_of_materials(code)
    row = Product(product_code=code, name=bom["name"], unit="ea", job_id=job_id)
    db.session.add(row)
    db.session.flush()
    components = bom["components"][: len(bom["components"]) - missing]
    db.session.add_all(
        [Component(product_id=row.id, component_code=c["component_code"], name=c["name"], quantity=c["quantity"]) for c in components]
    )
    db.session.commit()


def test_a_product_without_all_its_components_fails(app: Flask) -> None:
    with app.app_context():
        product("P-10000", job())
        assert soak.products_whole().ok
        product("P-10001", job(), missing=1)
        check = soak.products_whole()
        assert (check.ok, check.problems) == (False, 1)
        assert check.examples[0].startswith("P-10001: ")


def test_a_cancelled_record_whose_own_job_wrote_its_key_fails(app: Flask) -> None:
    """A product another job wrote does not count against a cancelled record; one its own job wrote does."""
    with app.app_context():
        writer, cancelled = job(status="succeeded"), job()
        record(cancelled, "P-10002", "cancelled")
        product("P-10002", writer)
        assert soak.cancelled_wrote_nothing().ok
        po_job = job("purchase_orders")
        record(po_job, "PO-100000", "cancelled")
        db.session.add(
            PurchaseOrder(
                po_number="PO-100000",
                supplier_code="S",
                supplier_name="S",
                currency="USD",
                order_date=date(2026, 1, 1),
                total_cents=1,
                job_id=po_job,
            )
        )
        db.session.commit()
        check = soak.cancelled_wrote_nothing()
        assert (check.ok, check.problems) == (False, 1)
        assert check.examples == [f"{po_job} purchase_orders PO-100000"]


def test_no_cancelled_record_at_all_fails(app: Flask) -> None:
    with app.app_context():
        assert not soak.cancelled_wrote_nothing().ok


def test_a_job_that_sent_after_its_cancel_fails(app: Flask) -> None:
    with app.app_context():
        job_id = job(sent_through=48)
        assert soak.sent_nothing_after_cancel({job_id: soak.Cancel(job_id, 48, [])}).ok
        assert not soak.sent_nothing_after_cancel({job_id: soak.Cancel(job_id, 32, [])}).ok
        assert not soak.sent_nothing_after_cancel({}).ok


def test_more_than_a_window_still_to_run_fails() -> None:
    peaks = {1: soak.Peak(messages=300, records=200, unfinished=128), 2: soak.Peak(unfinished=20)}
    assert soak.broker_window(peaks, 10, 128, [1]).ok
    assert not soak.broker_window({**peaks, 2: soak.Peak(unfinished=129)}, 10, 128, [1]).ok
    assert not soak.broker_window(peaks, 10, 128, [3]).ok, "a large job never seen fails"


def test_the_broker_is_read_per_job_and_record(redis_url: str) -> None:
    """Queued and unacknowledged messages both count; a record's two messages are one record."""
    client = redis.Redis.from_url(redis_url)
    job_id = 987_654

    def message(record_id: int | None) -> str:
        kwargs = {"job_id": job_id} | ({"record_id": record_id} if record_id else {})
        return json.dumps({"body": base64.b64encode(json.dumps([[], kwargs, {}]).encode()).decode(), "headers": {}})

    try:
        client.rpush("soak-test-queue", message(1), message(2), message(None), "not a message")
        client.hset("unacked", "soak-test-tag", json.dumps([json.loads(message(1)), "", "fetch"]))
        assert soak.broker_records(client)[job_id] == (4, {1, 2})
    finally:
        client.delete("soak-test-queue")
        client.hdel("unacked", "soak-test-tag")


def test_small_jobs_beside_a_large_one(app: Flask) -> None:
    """A small job that ends while the large one runs counts; one that waits past the bound is listed
    (not failed); none beside a large job, or none ending before it, fails."""
    with app.app_context():
        start = utcnow() - timedelta(hours=1)
        large = job("purchase_orders", status="succeeded", created_at=start, finished_at=start + timedelta(seconds=600))
        quick = job(status="succeeded", created_at=start + timedelta(seconds=10), finished_at=start + timedelta(seconds=20))
        beside = soak.small_beside_large([quick], [large], 128)
        assert (beside.launched, beside.ended_during, beside.problems) == (1, 1, [])
        slow = job(status="succeeded", created_at=start + timedelta(seconds=30), finished_at=start + timedelta(seconds=3000))
        beside = soak.small_beside_large([quick, slow], [large], 128)
        assert beside.bound < 2970
        assert beside.problems == []
        assert beside.slow == [f"small job #{slow} took 2970 s (large job #{large} beside it)"]
        assert soak.small_beside_large([slow], [large], 128).problems[-1].startswith("none of the 1 small jobs")
        after = job(status="succeeded", created_at=start + timedelta(seconds=700), finished_at=start + timedelta(seconds=710))
        assert soak.small_beside_large([after], [large], 128).problems[0].startswith("no small job was launched")
