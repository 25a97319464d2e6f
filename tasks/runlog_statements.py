"""The task log's statements that write a step's record too, built once.

A step's last write to its record and its run's close go to PostgreSQL as one statement (one
round trip instead of two); tasks.runlog.close_in_transaction sends them, or each on its own
on SQLite, which has no data-modifying WITH.
"""

import functools

from sqlalchemy import Update

from webapp.extensions import db
from webapp.models import JobRecord, TaskRun

_RECORDS = JobRecord.__table__
_RUNS = TaskRun.__table__

# A record's columns by id (bind record_id): the SET takes the columns its parameters name.
RECORD_UPDATE = _RECORDS.update().where(_RECORDS.c.id == db.bindparam("record_id"))


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
