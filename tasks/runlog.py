"""The SQL task log, written from Celery signals for every task: one TaskRun per execution.

Each execution (first try, retry, redelivery) gets its own row: opened at its start (open_run),
noted while it runs (note), closed at its end (close_run) or in the step's last transaction
(close_in_transaction). A row left STARTED by a killed worker is marked LOST when the task id
is delivered again; the LOST rows count the redeliveries that cap poison pills."""

import functools
import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from celery import Task, current_task
from celery.signals import task_failure, task_postrun, task_prerun
from sqlalchemy import Update
from sqlalchemy.engine import Connection

from tasks import runlog_backlog
from webapp.extensions import db, execute_core, on_postgresql
from webapp.models import JobRecord, TaskRun, utcnow

log = logging.getLogger(__name__)

STARTED, SUCCESS, FAILURE, RETRY, LOST, SKIPPED = "STARTED", "SUCCESS", "FAILURE", "RETRY", "LOST", "SKIPPED"
TERMINAL_RUN_STATES = (SUCCESS, FAILURE, RETRY, LOST, SKIPPED)

# Per execution, keyed by task id and thread (run_key): the TaskRun row id and fields to write when it ends.
_open_runs: dict[tuple[str, int], dict[str, Any]] = {}


def run_key(task_id: str) -> tuple[str, int]:
    """The key of this thread's execution of ``task_id``: in a threads pool, a retry can start in
    another thread before the execution that asked for it has ended (signals run in the task's thread)."""
    return (task_id, threading.get_ident())


_lock = threading.Lock()
# The run log's statements, built once and run without the ORM (a TaskRun is never loaded to
# write one): every task writes two, and building them or the ORM's bookkeeping would cost more
# than running them. An UPDATE without values() sets the columns its parameters name.
_RUNS = TaskRun.__table__
_RUN_INSERT = _RUNS.insert().returning(_RUNS.c.id)
_RUN_UPDATE = runlog_backlog.UPDATE


def note(task_id: str | None = None, **fields: Any) -> None:
    """Remember fields (error, retry_at, state) to write on the run's row when it closes; the run
    of ``task_id``, or of the task running in this thread."""
    if task_id is None:
        task_id = running_task_id()
    with _lock:
        entry = _open_runs.get(run_key(task_id)) if task_id else None
        if entry is not None:
            entry["fields"].update(fields)


def running_task_id() -> str | None:
    """The id of the task running in this thread, if any."""
    return getattr(getattr(current_task, "request", None), "id", None)


def lost_count(task_id: str) -> int:
    """How many earlier executions of this task id died without finishing (counted when its run opened)."""
    with _lock:
        entry = _open_runs.get(run_key(task_id))
    if entry is not None:
        return entry["lost"]
    return db.session.execute(
        db.select(db.func.count()).select_from(TaskRun).where(TaskRun.task_id == task_id, TaskRun.state == LOST)
    ).scalar_one()


def _flask_app(task: Task) -> Any:
    return task.app.flask_app  # type: ignore[attr-defined]


def is_logged(task: Task, kwargs: dict) -> bool:
    """Celeriac's own tasks and any step of a job are logged; other tasks sharing the workers
    (Celery's built-ins, another app's tasks) stay out of the log and cost it nothing."""
    return task.name.startswith("tasks.") or "job_id" in (kwargs or {})


def is_first_delivery(request: Any) -> bool:
    """True for the first delivery of a first attempt, which has no earlier runs: every way a
    message comes back (a retry, kombu restoring an unacknowledged message, a requeue when the
    pool process died) marks it as a retry or as redelivered."""
    return not request.retries and not (request.delivery_info or {}).get("redelivered")


def died_earlier(connection: Connection, task_id: str, attempt: int) -> int:
    """Mark LOST the earlier deliveries of this attempt still STARTED (a message comes back only once
    its holder is gone); return how many of the task id's executions died, these included.

    A STARTED run of an earlier attempt is not counted: it asked for this retry and may still be
    ending in another thread or process. If its worker died instead, the sweeper closes it.
    """
    connection.execute(
        _RUNS.update()
        .where(_RUNS.c.task_id == task_id, _RUNS.c.state == STARTED, _RUNS.c.attempt == attempt)
        .values(state=LOST, finished_at=utcnow(), error="the worker running this execution died or was lost")
    )
    return connection.execute(db.select(db.func.count()).where(_RUNS.c.task_id == task_id, _RUNS.c.state == LOST)).scalar_one()


def canvas_ids(request: Any) -> dict[str, str | None]:
    """Where the run sits in its canvas: the task that sent it (the previous step of its chain, or
    the task that sent its batch), and for a chain's last task its group and that group's chord body."""
    chord = getattr(request, "chord", None) or {}
    return {
        "parent_id": getattr(request, "parent_id", None),
        "group_id": getattr(request, "group", None),
        "chord_id": (chord.get("options") or {}).get("task_id"),
    }


def opens_with_claim(task: Task) -> bool:
    """True for a step whose run row can be inserted by its first statement (a fetch step's claim,
    on PostgreSQL, where one statement can insert into one table and update another): the fetch
    steps, which take no lock and commit each statement. A write step's run commits before its
    transaction begins, so that a worker killed mid-write leaves it STARTED for the poison-pill
    count."""
    return getattr(task, "writes_erp", True) is False and _flask_app(task).config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def deferred_row() -> dict[str, Any] | None:
    """The STARTED row of the running task's first delivery, left for its claim to insert; None
    when its run is open already (or the task is not logged)."""
    task_id = running_task_id()
    with _lock:
        entry = _open_runs.get(run_key(task_id)) if task_id else None
        return entry["row"] if entry is not None and entry.get("deferred") and entry["id"] is None else None


def opened(run_id: int) -> None:
    """The claim inserted the running task's row: close_run() updates it from now on."""
    task_id = running_task_id()
    with _lock:
        entry = _open_runs.get(run_key(task_id)) if task_id else None
        if entry is not None:
            entry["id"] = run_id


@task_prerun.connect
def open_run(task_id: str, task: Task, args: tuple, kwargs: dict, **_: Any) -> None:
    """Insert a STARTED row; rows of earlier deliveries still open are marked LOST.

    Written on a connection of its own, committed before the task runs: a worker killed
    mid-task leaves the row STARTED, which is how its redelivery counts it. A first delivery has
    no earlier rows to mark, so its row is one INSERT in autocommit mode: one round trip to the
    database instead of three (BEGIN, INSERT, COMMIT), on every task; a fetch step's, none of its
    own (opens_with_claim). If the row cannot be written, close_run() inserts it whole."""
    if not is_logged(task, kwargs):
        return
    request = task.request
    delivery = request.delivery_info or {}
    row = {
        "task_id": task_id,
        "task_name": task.name,
        "job_id": kwargs.get("job_id"),
        "record_id": kwargs.get("record_id"),
        "state": STARTED,
        "attempt": (request.retries or 0) + 1,
        "queue": delivery.get("routing_key"),
        "worker": request.hostname,
        "started_at": utcnow(),
        **canvas_ids(request),
    }
    if is_first_delivery(request) and opens_with_claim(task):
        with _lock:  # the row goes in with the step's claim (tasks.records.claim_for_fetch)
            _open_runs[run_key(task_id)] = {"id": None, "lost": 0, "fields": {}, "row": row, "deferred": True}
        return
    try:
        with _flask_app(task).app_context():
            if is_first_delivery(request):
                lost = 0
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    run_id = connection.execute(_RUN_INSERT, row).scalar_one()
            else:
                with db.engine.begin() as connection:
                    lost = died_earlier(connection, task_id, row["attempt"])
                    run_id = connection.execute(_RUN_INSERT, row).scalar_one()
        with _lock:
            _open_runs[run_key(task_id)] = {"id": run_id, "lost": lost, "fields": {}}
    except Exception:  # the log must never stop the work itself; the row is written when the run ends
        log.exception("could not open the task run of %s: its row is written when it ends", task_id)
        with _lock:
            _open_runs[run_key(task_id)] = {"id": None, "lost": 0, "fields": {}, "row": row}
        return
    write_backlog(task)


@task_failure.connect
def note_failure(task_id: str, exception: BaseException, einfo: Any = None, **_: Any) -> None:
    """Keep the exception and traceback for the run's row."""
    note(task_id, state=FAILURE, error=f"{type(exception).__name__}: {exception}", traceback=getattr(einfo, "traceback", None))


def close_in_transaction(record: dict[str, Any] | None = None, **fields: Any) -> None:
    """Close the running task's run (as SUCCESS, unless ``fields`` say otherwise) inside the
    step's own final transaction; with ``record`` ({"record_id": id, column: value, …}), write the
    step's record in the same round trip.

    Saves each step a transaction of its own, and whoever sees the record's outcome sees its run
    closed too; close_run() then writes nothing unless the task ends otherwise (its commit failed,
    or it raised afterwards), or something else was noted since. Call it just before the step's
    last commit. A fetch, whose record gets no outcome, sends it with its payload in autocommit
    mode (see tasks.base.commit_each_statement).
    """
    task_id = running_task_id()
    with _lock:
        entry = _open_runs.get(run_key(task_id)) if task_id else None
        if entry is not None and entry["id"] is not None:  # a run never opened is inserted whole by close_run
            fields = {"state": SUCCESS, "finished_at": utcnow(), **entry["fields"], **fields}
            entry["closed"] = dict(fields)
    if entry is None or entry["id"] is None:
        if record is not None:
            execute_core(_RECORD_UPDATE, record)
        return
    run = {"run_id": entry["id"], **fields}
    if record is None:
        execute_core(_RUN_UPDATE, run)  # SET takes the keys given
    elif on_postgresql():
        statement = record_and_run_update(tuple(key for key in record if key != "record_id"), tuple(fields))
        parameters = {f"r_{key}": value for key, value in record.items()} | {f"t_{key}": value for key, value in run.items()}
        execute_core(statement, parameters)
    else:
        execute_core(_RECORD_UPDATE, record)
        execute_core(_RUN_UPDATE, run)


_RECORDS = JobRecord.__table__
_RECORD_UPDATE = _RECORDS.update().where(_RECORDS.c.id == db.bindparam("record_id"))


@functools.cache
def record_and_run_update(record_columns: tuple[str, ...], run_columns: tuple[str, ...]) -> Update:
    """One statement that writes a record's columns and closes a run (PostgreSQL: the record's
    UPDATE is a data-modifying WITH of the run's). Parameters: r_record_id and r_<column> for the
    record, t_run_id and t_<column> for the run. Built once for each pair of column lists: a
    step writes few of them."""
    record_update = (
        _RECORDS.update()
        .where(_RECORDS.c.id == db.bindparam("r_record_id"))
        .values({name: db.bindparam(f"r_{name}", type_=_RECORDS.c[name].type) for name in record_columns})
        .cte("record_update")
    )
    return (
        _RUNS.update()
        .where(_RUNS.c.id == db.bindparam("t_run_id"))
        .values({name: db.bindparam(f"t_{name}", type_=_RUNS.c[name].type) for name in run_columns})
        .add_cte(record_update)
    )


def commit_closed(**fields: Any) -> None:
    """Commit the step's transaction with its run closed as ``fields`` say (state, error), then
    note the same for close_run(), which finds it written. If the commit fails, nothing is noted
    and close_run() writes what the task's end says instead."""
    close_in_transaction(**fields)
    db.session.commit()
    note(**fields)


def already_closed(entry: dict[str, Any], state: str) -> bool:
    """True when close_in_transaction() wrote exactly what close_run() would write."""
    closed = entry.get("closed")
    if closed is None:
        return False
    final = entry["fields"].get("state", state)
    return closed["state"] == final and all(closed.get(key) == value for key, value in entry["fields"].items())


@task_postrun.connect
def close_run(task_id: str, task: Task, retval: Any = None, state: str | None = None, **_: Any) -> None:
    """Close the run's row with its final state, error and retry time."""
    with _lock:
        entry = _open_runs.pop(run_key(task_id), None)
    if entry is None or already_closed(entry, state or SUCCESS):
        return
    fields = {"state": state or SUCCESS, "finished_at": utcnow()}
    fields.update(entry["fields"])
    kind, values = ("update", {"run_id": entry["id"], **fields}) if entry["id"] is not None else ("insert", {**entry["row"], **fields})
    try:
        with _flask_app(task).app_context(), db.engine.begin() as connection:
            connection.execute(_RUN_UPDATE if kind == "update" else runlog_backlog.INSERT, values)
    except Exception:
        log.exception("could not close the task run of %s: kept to write when the database is back", task_id)
        runlog_backlog.keep(_flask_app(task), kind, values)
        return
    write_backlog(task)


def write_backlog(task: Task) -> None:
    """Write what this process kept while the database was down (tasks.runlog_backlog)."""
    if runlog_backlog.waiting():
        runlog_backlog.write_all(_flask_app(task))


def retry_time(countdown: float) -> datetime:
    """The UTC time a retry with this countdown is due."""
    return utcnow() + timedelta(seconds=countdown)
