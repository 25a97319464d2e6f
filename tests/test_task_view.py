"""The task view over HTTP: the SQL log beside Celery's result backend, the notes when the backend
holds nothing, failures kept with their traceback, a group's counts, and a Redis that does not answer."""

import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import states
from flask import Flask
from flask.testing import FlaskClient

import tasks.workflows
from tests.jobs import make_job
from webapp.extensions import db
from webapp.models import Job, JobRecord, TaskRun, utcnow


def new_id() -> str:
    """A fresh Celery task id."""
    return str(uuid.uuid4())


def first_record(app: Flask, job_id: int) -> int:
    """The id of the job's first record."""
    with app.app_context():
        return db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job_id).order_by(JobRecord.seq)).scalars().first()


def add_run(app: Flask, task_name: str, job_id: int, record_id: int | None, ended_ago: timedelta = timedelta(0), **fields: object) -> str:
    """A run in the SQL log, ended ``ended_ago``; its task id."""
    task_id = str(fields.pop("task_id", new_id()))
    finished = utcnow() - ended_ago
    with app.app_context():
        db.session.add(
            TaskRun(
                task_id=task_id,
                task_name=task_name,
                job_id=job_id,
                record_id=record_id,
                state=fields.pop("state", "SUCCESS"),
                attempt=1,
                queue="db",
                worker="worker@test",
                started_at=finished - timedelta(milliseconds=40),
                finished_at=finished,
                **fields,
            )
        )
        db.session.commit()
    return task_id


def store(app: Flask, task_id: str, result: object, state: str = states.SUCCESS) -> None:
    """Store a result in Celery's result backend as a worker would."""
    app.extensions["celery"].backend.store_result(task_id, result, state)


def test_a_failed_step_keeps_its_traceback_in_the_backend(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step failing on an unexpected error fails its record, and Redis keeps the FAILURE with its
    traceback (the step itself returns its outcome to the chord): the view shows both sides."""

    def broken(*_: object) -> dict:
        raise RuntimeError("the ERP client broke <b>badly</b>")

    monkeypatch.setattr(tasks.workflows, "fetch_document", broken)
    # The step runs in this process: the fault hooks another test module may have loaded
    # (tests/fault_tasks.py) look for their Redis where a worker's environment has it.
    monkeypatch.setenv("REDIS_URL", app.config["REDIS_URL"])
    job_id = make_job(app, "running", records=1)
    record_id = first_record(app, job_id)
    task_id = new_id()
    fetch_po = app.extensions["celery"].tasks["tasks.workflows.fetch_po"]  # this app's, whichever Celery app is current
    outcome = fetch_po.apply(kwargs={"job_id": job_id, "record_id": record_id}, task_id=task_id).get()
    assert outcome == {"record": record_id, "ok": False}

    response = client.get(f"/tasks/{task_id}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<td class="state sql-state">FAILURE</td>' in body
    assert '<td class="state backend-state">FAILURE</td>' in body
    assert "RuntimeError: the ERP client broke &lt;b&gt;badly&lt;/b&gt;" in body
    assert '<pre class="traceback backend-traceback">Traceback (most recent call last)' in body
    assert "raise RuntimeError" in body
    assert "<b>badly</b>" not in body


@pytest.mark.parametrize(
    ("task_name", "ended_ago", "expected"),
    [
        ("tasks.workflows.fetch_po", timedelta(0), "This step does not store its result (ignore_result)"),
        ("tasks.workflows.make_po", timedelta(days=8), "Expired: the result backend keeps a result 7 days (result_expires)"),
        ("tasks.workflows.make_po", timedelta(0), "The backend holds nothing though this task ended"),
    ],
)
def test_a_plain_note_says_why_the_backend_holds_nothing(
    app: Flask, client: FlaskClient, task_name: str, ended_ago: timedelta, expected: str
) -> None:
    """AsyncResult reports PENDING for a step it holds nothing of; the page says why in words."""
    job_id = make_job(app, "succeeded", records=1)
    task_id = add_run(app, task_name, job_id, first_record(app, job_id), ended_ago)
    body = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert '<td class="state sql-state">SUCCESS</td>' in body
    assert '<td class="state backend-state">PENDING</td>' in body
    assert expected in body
    assert "keeps what a task stores for 7 days (result_expires)" in body


def test_a_chain_final_step_shows_its_stored_outcome_and_the_chain(app: Flask, client: FlaskClient) -> None:
    """A make step stores the record's outcome; the view links the fetch before it and shows its group."""
    job_id = make_job(app, "succeeded", records=1)
    record_id = first_record(app, job_id)
    fetch = add_run(app, "tasks.workflows.fetch_po", job_id, record_id)
    group_id, chord_id = new_id(), new_id()
    make = add_run(app, "tasks.workflows.make_po", job_id, record_id, parent_id=fetch, group_id=group_id, chord_id=chord_id)
    store(app, make, {"record": record_id, "ok": True})

    body = client.get(f"/tasks/{make}").get_data(as_text=True)
    assert '<td class="state backend-state">SUCCESS</td>' in body
    assert f"{{&#39;record&#39;: {record_id}, &#39;ok&#39;: True}}" in body
    assert f'href="/tasks/{fetch}">fetch_po</a>' in body
    assert f"<code>{group_id}</code>" in body
    assert 'data-disagrees="no"' in body
    assert "1 completed, 0 failed of 1" in body

    body = client.get(f"/tasks/{fetch}").get_data(as_text=True)
    assert f'href="/tasks/{make}">make_po</a>' in body  # the next step
    assert f"<code>{group_id}</code>" in body  # the fetch finds its group through the step after it


def test_a_group_counted_differently_by_redis_and_sql_is_flagged(app: Flask, client: FlaskClient) -> None:
    """Two chains ended in the SQL log, one stored in Redis: GroupResult's count is shown beside the SQL count, flagged."""
    job_id = make_job(app, "succeeded", records=2)
    group_id = new_id()
    with app.app_context():
        records = db.session.execute(db.select(JobRecord.id).where(JobRecord.job_id == job_id)).scalars().all()
    makes = [add_run(app, "tasks.workflows.make_po", job_id, record_id, group_id=group_id) for record_id in records]
    store(app, makes[0], {"record": records[0], "ok": True})

    body = client.get(f"/tasks/{makes[0]}").get_data(as_text=True)
    assert 'data-disagrees="yes"' in body
    assert "1 completed, 0 failed of 2" in body
    assert "2 ended of 2" in body
    assert "disagree on this group: 1 ended in Redis, 2 in the SQL log" in body


@pytest.mark.parametrize(
    ("task_id", "words"),
    [
        ("0b7cdd5e-1111-4c8e-9a7f-5d6e2b1c0a93", "the task log has no run of it, and Celery&#39;s result backend holds nothing for it"),
        ("no such thing!", "That is not a Celery task id"),
    ],
)
def test_an_unknown_task_id_is_a_404_with_words(client: FlaskClient, task_id: str, words: str) -> None:
    """An id nobody knows is a 404 page saying so, not an empty view."""
    response = client.get(f"/tasks/{task_id}")
    assert response.status_code == 404
    assert words in response.get_data(as_text=True)


@pytest.fixture
def silent_redis(app: Flask) -> Iterator[str]:
    """A result backend URL whose server accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    conf = app.extensions["celery"].conf
    before = conf.result_backend
    conf.result_backend = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    yield conf.result_backend
    conf.result_backend = before
    listener.close()


def test_a_silent_redis_costs_the_page_a_short_timeout_and_a_note(app: Flask, client: FlaskClient, silent_redis: str) -> None:
    """With Redis not answering, the view still renders the SQL log at once and says Celery's state is unknown."""
    job_id = make_job(app, "succeeded", records=1)
    task_id = add_run(app, "tasks.workflows.make_po", job_id, first_record(app, job_id), group_id=new_id())
    started = time.monotonic()
    response = client.get(f"/tasks/{task_id}")
    elapsed = time.monotonic() - started
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert elapsed < 1.5, f"the page took {elapsed:.1f} s with Redis silent"  # one read of 0.5 s, then no more
    assert "Redis did not answer within 0.5 s" in body
    assert '<td class="state sql-state">SUCCESS</td>' in body
    assert 'data-disagrees="no"' in body  # not counted is not a disagreement


def test_the_record_page_links_every_run_to_its_task_view(app: Flask, client: FlaskClient) -> None:
    """Each run on the record page links to the task view of its task id."""
    job_id = make_job(app, "succeeded", records=1)
    record_id = first_record(app, job_id)
    ids = [add_run(app, name, job_id, record_id) for name in ("tasks.workflows.fetch_po", "tasks.workflows.make_po")]
    body = client.get(f"/jobs/{job_id}/records/{record_id}").get_data(as_text=True)
    for task_id in ids:
        assert f'href="/tasks/{task_id}"' in body


def test_a_failed_record_whose_step_returned_says_what_success_means(app: Flask, client: FlaskClient) -> None:
    """A make step that failed its record still returned its outcome: SUCCESS in Redis, FAILURE in SQL, and a note saying why."""
    job_id = make_job(app, "completed_with_failures", records=1)
    record_id = first_record(app, job_id)
    task_id = add_run(app, "tasks.workflows.make_po", job_id, record_id, state="FAILURE", error="the record is gone")
    store(app, task_id, {"record": record_id, "ok": False})
    body = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert '<td class="state sql-state">FAILURE</td>' in body
    assert '<td class="state backend-state">SUCCESS</td>' in body
    assert "SUCCESS means the step returned its record&#39;s outcome to the chord" in body


def test_a_chord_body_not_run_yet_is_shown_not_404(app: Flask, client: FlaskClient) -> None:
    """The job's latest chord body, before it runs, has a view saying so (its id is in jobs.chord_id)."""
    job_id = make_job(app, "running", records=1)
    chord_id = new_id()
    with app.app_context():
        db.session.execute(db.update(Job).where(Job.id == job_id).values(group_id=new_id(), chord_id=chord_id))
        db.session.commit()
    response = client.get(f"/tasks/{chord_id}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<td class="state sql-state">no run yet</td>' in body
    assert "Not run yet: Celery stores a result only once a task ends." in body
    assert f'href="/jobs/{job_id}"' in body
