"""Counts and their nouns agree (webapp/plurals.py), on the pages and in the messages."""

import io

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import csrf_token
from tests.jobs import make_job
from webapp.plurals import counted


@pytest.mark.parametrize(
    ("count", "singular", "plural", "words"),
    [
        (0, "message", None, "0 messages"),
        (1, "message", None, "1 message"),
        (2, "message", None, "2 messages"),
        (1, "retry or ETA task", "retries or ETA tasks", "1 retry or ETA task"),
        (3, "retry or ETA task", "retries or ETA tasks", "3 retries or ETA tasks"),
        (12345, "row", None, "12,345 rows"),
    ],
)
def test_a_count_takes_its_noun(count: int, singular: str, plural: str | None, words: str) -> None:
    assert counted(count, singular, plural) == words


def test_the_workers_panel_says_one_message(app: Flask, client: FlaskClient, redis_url: str) -> None:
    """One unacknowledged message reads "1 message", not "1 messages"."""
    options = app.extensions["celery"].conf.broker_transport_options or {}
    key = options.get("global_keyprefix", "") + options.get("unacked_key", "unacked")
    server = redis.Redis.from_url(redis_url)
    saved = server.hgetall(key)
    server.delete(key)
    try:
        server.hset(key, "tag-1", "{}")
        html = client.get("/ops/workers/panel").get_data(as_text=True)
    finally:
        server.delete(key)
        if saved:
            server.hset(key, mapping=saved)
    assert "1 message delivered" in html and "1 messages" not in html
    assert "0 retries or ETA tasks held" in html


def test_a_one_record_job_says_one_record(app: Flask, client: FlaskClient, no_relay: None) -> None:
    """A job of one PO: "started with 1 purchase order", "of 1 record done", "(1 record)"."""
    upload = {"csrf_token": csrf_token(client.get("/").data), "file": (io.BytesIO(b"po_number\nPO-100001\n"), "one.csv")}
    response = client.post("/jobs/purchase-orders", data=upload, content_type="multipart/form-data", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "started with 1 purchase order." in page
    job_id = make_job(app, "succeeded", records=1)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "of 1 record done" in page and "(1 record)" in page and "1 records" not in page
    two = client.get(f"/jobs/{make_job(app, 'succeeded', records=2)}").get_data(as_text=True)
    assert "of 2 records done" in two and "(2 records)" in two
