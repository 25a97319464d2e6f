"""Attempts made while the database was unreachable still get their row in the task log."""

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from devtools.waiting import wait_for
from tasks import runlog, runlog_backlog
from tests.test_runlog import delivery
from webapp.extensions import db
from webapp.models import TaskRun


@pytest.fixture(autouse=True)
def empty_backlog() -> Iterator[None]:
    runlog_backlog._pending.clear()
    yield
    runlog_backlog._pending.clear()
    for key in [key for key in runlog._open_runs if key[0].startswith("outage-")]:
        runlog._open_runs.pop(key)


@contextmanager
def database_down(app: Flask) -> Iterator[None]:
    """Every statement fails as it would with the server gone (the connection pool stays as it is)."""

    def refuse(*_args: object) -> None:
        raise OperationalError("statement", {}, ConnectionRefusedError("connection refused"))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


def runs(app: Flask, task_id: str) -> list[tuple[str, str | None, str | None, bool, bool]]:
    with app.app_context():
        rows = db.session.execute(db.select(TaskRun).filter_by(task_id=task_id).order_by(TaskRun.id)).scalars().all()
        return [(row.state, row.error, row.worker, row.started_at is not None, row.finished_at is not None) for row in rows]


def test_an_attempt_made_while_the_database_was_down_is_written_once_it_is_back(app: Flask) -> None:
    task = delivery(app, "outage-1", redelivered=False)
    with database_down(app):
        runlog.open_run("outage-1", task, (), {"job_id": None, "record_id": None})
        runlog.note("outage-1", error="database unavailable: connection refused")
        runlog.close_run("outage-1", task, state=runlog.RETRY)
    assert runs(app, "outage-1") == []
    assert runlog_backlog.waiting() == 1

    runlog.open_run("outage-2", delivery(app, "outage-2", redelivered=False), (), {"job_id": None, "record_id": None})

    assert runs(app, "outage-1") == [(runlog.RETRY, "database unavailable: connection refused", "worker@test", True, True)]
    assert runlog_backlog.waiting() == 0
    assert runs(app, "outage-2") == [(runlog.STARTED, None, "worker@test", True, False)]


def test_a_close_that_failed_is_made_later(app: Flask) -> None:
    task = delivery(app, "outage-3", redelivered=False)
    runlog.open_run("outage-3", task, (), {"job_id": None, "record_id": None})
    with database_down(app):
        runlog.close_run("outage-3", task, state=runlog.SUCCESS)
    assert runs(app, "outage-3") == [(runlog.STARTED, None, "worker@test", True, False)]

    other = delivery(app, "outage-4", redelivered=False)
    runlog.open_run("outage-4", other, (), {"job_id": None, "record_id": None})
    runlog.close_run("outage-4", other, state=runlog.SUCCESS)

    assert runs(app, "outage-3") == [(runlog.SUCCESS, None, "worker@test", True, True)]
    assert runs(app, "outage-4") == [(runlog.SUCCESS, None, "worker@test", True, True)]


def test_writes_wait_in_order_while_the_database_stays_down(app: Flask) -> None:
    """A write that fails again goes back at the head: nothing is lost, nothing written twice."""
    first, second = delivery(app, "outage-5", redelivered=False), delivery(app, "outage-6", redelivered=False)
    with database_down(app):
        for task_id, task in (("outage-5", first), ("outage-6", second)):
            runlog.open_run(task_id, task, (), {"job_id": None, "record_id": None})
            runlog.close_run(task_id, task, state=runlog.FAILURE)
        runlog_backlog.write_all(app)
        assert runlog_backlog.waiting() == 2
    runlog_backlog.write_all(app)
    assert runlog_backlog.waiting() == 0
    assert [state for state, *_ in runs(app, "outage-5") + runs(app, "outage-6")] == [runlog.FAILURE, runlog.FAILURE]


def test_a_run_never_opened_is_not_closed_inside_the_step(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its row does not exist yet: close_run inserts it whole instead."""
    monkeypatch.setattr(runlog, "current_task", SimpleNamespace(request=SimpleNamespace(id="outage-7")))
    runlog._open_runs[runlog.run_key("outage-7")] = {"id": None, "lost": 0, "fields": {}, "row": {"task_id": "outage-7"}}
    with app.app_context():
        runlog.close_in_transaction()
    assert "closed" not in runlog._open_runs[runlog.run_key("outage-7")]


def test_the_backlog_is_bounded(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runlog_backlog, "MAX_KEPT", 3)
    monkeypatch.setattr(runlog_backlog, "RETRY_SECONDS", 3600)
    for number in range(5):
        runlog_backlog.keep(app, "update", {"run_id": number})
    assert [values["run_id"] for _, values in runlog_backlog._pending] == [2, 3, 4]


def test_a_process_that_runs_nothing_more_still_writes_its_backlog(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once its job is done a worker process may run no other task: its own thread writes the rows."""
    monkeypatch.setattr(runlog_backlog, "RETRY_SECONDS", 0.1)
    task = delivery(app, "outage-8", redelivered=False)
    with database_down(app):
        runlog.open_run("outage-8", task, (), {"job_id": None, "record_id": None})
        runlog.close_run("outage-8", task, state=runlog.SUCCESS)
        assert runlog_backlog.waiting() == 1
    wait_for(lambda: runs(app, "outage-8"), timeout=10, message="the kept run written by the retry thread")
    assert runs(app, "outage-8") == [(runlog.SUCCESS, None, "worker@test", True, True)]
