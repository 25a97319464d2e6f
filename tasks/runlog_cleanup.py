"""Closing the task runs that nobody else will close: their worker died, or the database was down.

A run's own execution closes it (tasks.runlog); these catch the rows left STARTED when it cannot.
"""

from datetime import timedelta

from tasks.runlog import LOST, STARTED
from webapp.extensions import db
from webapp.models import TaskRun, utcnow

# Chord bodies that finalize a job from inside their own run: not abandoned, they are the closer.
JOB_BODIES = ("tasks.workflows.finalize_job", "tasks.workflows.next_window")


def close_abandoned_runs(job_id: int) -> None:
    """Mark LOST the runs of a finished job still shown as started (their worker died after the work).

    A worker killed after storing a task's result but before closing its row leaves the row
    STARTED, and the redelivered message is skipped as already done; once every record of the
    job is final, no such run can still be working for it. The caller commits.
    """
    db.session.execute(
        db.update(TaskRun)
        .where(TaskRun.job_id == job_id, TaskRun.state == STARTED, TaskRun.task_name.not_in(JOB_BODIES))
        .values(state=LOST, finished_at=utcnow(), error="the worker running this execution died after the work was done")
    )


def close_stale_runs(older_than: timedelta) -> int:
    """Mark LOST the runs still STARTED ``older_than`` after they began; return how many.

    Nothing else closes such a row when its worker was killed and the redelivery was skipped as
    already done (or lost with Redis), for a task of no job or of a job already finished; nor when
    the database was down at the moment the task ended. Past the time limit and the visibility
    timeout no execution can still be running. Unfinished runs are the only ones without an end
    time, so the finished_at index finds them.
    """
    result = db.session.execute(
        db.update(TaskRun)
        .where(TaskRun.finished_at.is_(None), TaskRun.state == STARTED, TaskRun.started_at < utcnow() - older_than)
        .values(state=LOST, finished_at=utcnow(), error="no end was recorded: the worker died, or the database was down when it ended")
    )
    db.session.commit()
    return result.rowcount
