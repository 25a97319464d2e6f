"""The task-run log's bookkeeping that saves a step its own closing transaction."""

from types import SimpleNamespace

import pytest
from flask import Flask

from tasks import records, runlog
from tasks.runlog import FAILURE, RETRY, SKIPPED, SUCCESS, already_settled
from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun, utcnow


def entry(fields: dict, settled: dict | None) -> dict:
    """An open run as runlog keeps it in memory."""
    return {"id": 1, "lost": 0, "fields": fields, "settled": settled}


def test_a_settled_success_is_not_written_again() -> None:
    assert already_settled(entry({}, {"state": SUCCESS, "finished_at": 1}), SUCCESS)


def test_nothing_settled_means_close_run_writes() -> None:
    assert not already_settled({"id": 1, "lost": 0, "fields": {}}, SUCCESS)


def test_a_task_that_ends_otherwise_after_settling_is_written() -> None:
    """The commit after settling failed, or the task raised: the real end must reach the log."""
    assert not already_settled(entry({}, {"state": SUCCESS}), FAILURE)
    assert not already_settled(entry({}, {"state": SUCCESS}), RETRY)


def test_a_note_made_after_settling_is_written() -> None:
    settled = {"state": SUCCESS}
    assert not already_settled(entry({"error": "late note"}, settled), SUCCESS)
    assert not already_settled(entry({"state": SKIPPED}, settled), SUCCESS)


def test_notes_made_before_settling_are_part_of_it() -> None:
    settled = {"state": SKIPPED, "error": "already fetched"}
    assert already_settled(entry({"state": SKIPPED, "error": "already fetched"}, settled), SUCCESS)


@pytest.mark.parametrize(("mark", "state"), [
    (lambda record: records.mark_failed(record, "the ERP said no"), FAILURE),
    (lambda record: records.mark_cancelled(record, "ops"), SKIPPED),
])
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
        monkeypatch.setitem(runlog._open_runs, "step-1", {"id": run.id, "lost": 0, "fields": {}})
        mark(record)
        entry = runlog._open_runs["step-1"]
        run_id = run.id
    with app.app_context():  # a session of its own, as a page or a test polling the record
        closed = db.session.get(TaskRun, run_id)
        assert (closed.state, closed.finished_at is not None) == (state, True)
    assert already_settled(entry, SUCCESS)
