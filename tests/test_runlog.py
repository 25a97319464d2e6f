"""The task-run log's bookkeeping that saves a step its own closing transaction."""

import sqlite3
from types import SimpleNamespace

import pytest
from flask import Flask

from tasks import records, runlog
from tasks.runlog import FAILURE, RETRY, SKIPPED, SUCCESS, already_closed
from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun, utcnow


def entry(fields: dict, closed: dict | None) -> dict:
    """An open run as runlog keeps it in memory."""
    return {"id": 1, "lost": 0, "fields": fields, "closed": closed}


def test_a_closed_success_is_not_written_again() -> None:
    assert already_closed(entry({}, {"state": SUCCESS, "finished_at": 1}), SUCCESS)


def test_nothing_closed_means_close_run_writes() -> None:
    assert not already_closed({"id": 1, "lost": 0, "fields": {}}, SUCCESS)


def test_a_task_that_ends_otherwise_after_closing_is_written() -> None:
    """The commit after closing failed, or the task raised: the real end must reach the log."""
    assert not already_closed(entry({}, {"state": SUCCESS}), FAILURE)
    assert not already_closed(entry({}, {"state": SUCCESS}), RETRY)


def test_a_note_made_after_closing_is_written() -> None:
    closed = {"state": SUCCESS}
    assert not already_closed(entry({"error": "late note"}, closed), SUCCESS)
    assert not already_closed(entry({"state": SKIPPED}, closed), SUCCESS)


def test_notes_made_before_closing_are_part_of_it() -> None:
    closed = {"state": SKIPPED, "error": "already fetched"}
    assert already_closed(entry({"state": SKIPPED, "error": "already fetched"}, closed), SUCCESS)


@pytest.mark.parametrize(
    ("mark", "state"),
    [
        (lambda record: records.mark_failed(record, "the ERP said no"), FAILURE),
        (lambda record: records.mark_cancelled(record, "ops"), SKIPPED),
    ],
)
def test_a_final_record_commits_its_run_closed(app: Flask, monkeypatch: pytest.MonkeyPatch, mark, state: str) -> None:
    """Whoever reads a record's final outcome reads its run closed too: one commit holds both,
    and the task's end writes nothing more."""
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status="running", total=1, started_at=utcnow())
        db.session.add(job)
        db.session.flush()
        record = JobRecord(job_id=job.id, seq=1, key="PO-100001", state="running")
        run = TaskRun(task_id="step-1", task_name="tasks.workflows.fetch_po", job_id=job.id, state=runlog.STARTED)
        db.session.add_all([record, run])
        db.session.commit()
        monkeypatch.setattr(runlog, "current_task", SimpleNamespace(request=SimpleNamespace(id="step-1")))
        monkeypatch.setitem(runlog._open_runs, runlog.run_key("step-1"), {"id": run.id, "lost": 0, "fields": {}})
        mark(record)
        entry = runlog._open_runs[runlog.run_key("step-1")]
        run_id = run.id
    with app.app_context():  # a session of its own, as a page or a test polling the record
        closed = db.session.get(TaskRun, run_id)
        assert (closed.state, closed.finished_at is not None) == (state, True)
    assert already_closed(entry, SUCCESS)


def driver_autocommits(raw) -> bool:
    """True when a driver connection (sqlite3 or psycopg) sends each statement on its own."""
    return raw.isolation_level is None if isinstance(raw, sqlite3.Connection) else raw.autocommit


def autocommits() -> bool:
    """True when the session's connection sends each statement on its own."""
    return driver_autocommits(db.session.connection().connection.dbapi_connection)


def delivery(app: Flask, task_id: str, redelivered: bool) -> SimpleNamespace:
    """What open_run() reads of a task at its start: the app, its name and its request."""
    request = SimpleNamespace(
        id=task_id, retries=0, hostname="worker@test", delivery_info={"routing_key": "db", "redelivered": redelivered}
    )
    return SimpleNamespace(name="tasks.workflows.make_po", request=request, app=SimpleNamespace(flask_app=app))


def statements_during(app: Flask, action) -> list[tuple[str, bool]]:
    """The SQL statements the engine sends while ``action`` runs: (verb, sent in autocommit mode)."""
    from sqlalchemy import event

    sent: list[tuple[str, bool]] = []

    def keep(conn, _cursor, statement, *_args) -> None:
        sent.append((statement.split()[0].upper(), driver_autocommits(conn.connection.dbapi_connection)))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return sent


def test_a_first_delivery_opens_its_run_with_one_insert(app: Flask) -> None:
    """No earlier run can exist, so nothing is read first; the row is committed at once (autocommit)."""
    task = delivery(app, "first-1", redelivered=False)
    try:
        sent = statements_during(app, lambda: runlog.open_run("first-1", task, (), {"job_id": None, "record_id": None}))
        assert sent == [("INSERT", True)]
        with app.app_context():  # another connection sees it: it was committed
            row = db.session.execute(db.select(TaskRun).filter_by(task_id="first-1")).scalar_one()
            assert (row.state, row.queue, row.attempt) == (runlog.STARTED, "db", 1)
    finally:
        runlog._open_runs.pop(runlog.run_key("first-1"), None)


def test_a_redelivery_marks_the_open_earlier_run_lost(app: Flask) -> None:
    """The first execution's row is still STARTED (its worker died): the redelivery marks it LOST
    and counts it towards the poison-pill cap."""
    try:
        runlog.open_run("again-1", delivery(app, "again-1", redelivered=False), (), {})
        runlog._open_runs.pop(runlog.run_key("again-1"))  # the worker died: nothing closed the run
        runlog.open_run("again-1", delivery(app, "again-1", redelivered=True), (), {})
        assert runlog.lost_count("again-1") == 1
        with app.app_context():
            states = db.session.execute(db.select(TaskRun.state).filter_by(task_id="again-1").order_by(TaskRun.id)).scalars().all()
        assert states == [runlog.LOST, runlog.STARTED]
    finally:
        runlog._open_runs.pop(runlog.run_key("again-1"), None)


def test_autocommit_ends_at_the_next_commit(app: Flask) -> None:
    """A fetch sends its cancel check and running mark without a transaction; whatever the thread's
    session does after that commit (a failed fetch's record and run, the next task's write) must
    be one transaction again."""
    from tasks.base import commit_each_statement

    with app.app_context():
        commit_each_statement()
        assert autocommits()
        db.session.commit()
        assert not autocommits()
        db.session.rollback()


def test_a_retry_started_before_its_predecessor_ended_keeps_both_runs(app: Flask) -> None:
    """In a threads pool the retry's message can run in another thread before the thread that
    asked for it has closed its run: each run keeps its own state and error."""
    import threading

    first = delivery(app, "race-1", redelivered=False)
    retry = delivery(app, "race-1", redelivered=False)
    retry.request.retries = 1
    opened, closed_first = threading.Event(), threading.Event()
    deaths_seen_by_retry: list[int] = []

    def run_retry() -> None:
        runlog.open_run("race-1", retry, (), {"job_id": None, "record_id": None})
        deaths_seen_by_retry.append(runlog.lost_count("race-1"))
        opened.set()
        closed_first.wait(10)
        runlog.close_run("race-1", retry, state=SUCCESS)

    runlog.open_run("race-1", first, (), {"job_id": None, "record_id": None})
    runlog.note("race-1", error="HTTP 503", retry_at=utcnow())
    other = threading.Thread(target=run_retry)
    other.start()
    assert opened.wait(10)
    runlog.close_run("race-1", first, state=RETRY)
    closed_first.set()
    other.join(10)
    with app.app_context():
        rows = db.session.execute(
            db.select(TaskRun.state, TaskRun.error, TaskRun.attempt).filter_by(task_id="race-1").order_by(TaskRun.id)
        ).all()
    assert [tuple(row) for row in rows] == [(RETRY, "HTTP 503", 1), (SUCCESS, None, 2)]
    assert deaths_seen_by_retry == [0], "the first run was ending, not dead: no poison-pill count"
