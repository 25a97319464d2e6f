"""A page of the API's jobs costs the same queries however many of its jobs are running."""

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event

from tests.forms import auth
from webapp.extensions import db
from webapp.models import Job, JobRecord


def running_jobs(app: Flask, count: int) -> None:
    """``count`` running jobs, each with 40 records sent and 10 of them finished."""
    with app.app_context():
        for _ in range(count):
            job = Job(kind="purchase_orders", source="upload", status="running", total=50, sent_through=40)
            db.session.add(job)
            db.session.flush()
            for seq in range(1, 51):
                state = "succeeded" if seq <= 10 else "pending"
                db.session.add(JobRecord(job_id=job.id, seq=seq, key=f"PO-{100000 + seq}", state=state))
        db.session.commit()


@contextmanager
def counted_statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements run while the block runs."""
    statements: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_the_jobs_list_reads_every_window_in_one_query(app: Flask, api_token: str) -> None:
    client = app.test_client()
    running_jobs(app, 2)
    client.get("/api/jobs", headers=auth(api_token))  # warm: the token's row, the operator
    with counted_statements(app) as few:
        first = client.get("/api/jobs", headers=auth(api_token)).get_json()
    running_jobs(app, 10)
    with counted_statements(app) as many:
        second = client.get("/api/jobs", headers=auth(api_token)).get_json()
    assert len(first["jobs"]) == 2 and len(second["jobs"]) == 12
    assert all(job["window"] == {"sent": 40, "total": 50, "in_flight": 30, "size": job["window"]["size"]} for job in second["jobs"])
    assert len(many) == len(few), "\n".join(many)
