"""One Celery task as the task view shows it: its runs in the SQL log, its place in the canvas, and
what Celery's result backend reports for it and for its group.

The canvas comes from the SQL log (each run keeps the parent, group and chord body Celery sent it
with, tasks.runlog_rows.canvas_ids): record steps store no result, so Redis cannot say which task came
before or after one. A job is sent a batch at a time (tasks.window): each batch is one chord, a
group of record chains whose body (next_window) sends the next batch. Celery gives the group and
the chord body to a chain's last step only, so a step earlier in the chain finds its group through
the steps after it.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from webapp.extensions import db
from webapp.jobs.kinds import KINDS
from webapp.models import Job, JobRecord, TaskRun, utcnow
from webapp.monitoring.result_backend import GroupCount, TaskResult, count_group, kept_for, read_task

ENDED = ("SUCCESS", "SKIPPED", "FAILURE")  # run states in which a task ended for good (returned, or failed)
MAX_NEXT = 20  # next steps listed (a batch's body sends a whole window)
CHAIN_HOPS = 3  # the longest chain has three steps
# Tasks that store no result (their ignore_result): every record step but its chain's last, and the outbox relay.
IGNORES_RESULT = frozenset({step.task_name for kind in KINDS.values() for step in kind.steps[:-1]} | {"tasks.workflows.relay_outbox"})


@dataclass(frozen=True)
class Neighbour:
    """Another task of the canvas, as a link: its id, its name and its last state in the SQL log (None: no run yet)."""

    task_id: str
    name: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class GroupView:
    """The group (one batch's record chains) a task belongs to, counted by Celery and by the SQL log."""

    group_id: str
    members: int  # the chains' last steps the SQL log has a run of
    sql_ended: int  # of those, how many ended (returned or failed)
    count: GroupCount  # what GroupResult says of the same members
    chord: Neighbour | None  # the chord body the group feeds

    @property
    def disagrees(self) -> bool:
        """True when Celery's result backend and the SQL log count different ended members."""
        return self.count.error is None and self.count.completed + self.count.failed != self.sql_ended


@dataclass
class TaskView:
    """Everything the task view shows for one task id."""

    task_id: str
    runs: list[TaskRun]
    backend: TaskResult
    job: Job | None = None
    record: JobRecord | None = None
    previous: Neighbour | None = None
    next_steps: list[Neighbour] = field(default_factory=list)
    more_next: int = 0
    group: GroupView | None = None
    kept_seconds: int = 0

    @property
    def name(self) -> str | None:
        """The task's full name, from its latest run."""
        return self.runs[-1].task_name if self.runs else None

    @property
    def latest(self) -> TaskRun | None:
        """The task's latest run."""
        return self.runs[-1] if self.runs else None

    @property
    def ignores_result(self) -> bool:
        """True when this task stores no result in the backend."""
        return self.name in IGNORES_RESULT

    @property
    def retries(self) -> int:
        """Retries the task took (a redelivery is not one: it repeats the same attempt)."""
        return max((run.attempt for run in self.runs), default=1) - 1


def runs_of(task_id: str) -> list[TaskRun]:
    """Every run of the task id, oldest first (the task_id index)."""
    return list(db.session.execute(db.select(TaskRun).where(TaskRun.task_id == task_id).order_by(TaskRun.id)).scalars())


def neighbour(task_id: str) -> Neighbour:
    """The task ``task_id`` as a link, with its name and last state if it has run."""
    last = db.session.execute(
        db.select(TaskRun.task_name, TaskRun.state).where(TaskRun.task_id == task_id).order_by(TaskRun.id.desc()).limit(1)
    ).first()
    return Neighbour(task_id, last.task_name, last.state) if last else Neighbour(task_id)


def latest_states(rows: list) -> dict[str, tuple[str, str]]:
    """task id → (name, state of its latest run), from rows of (task id, name, state) in run order."""
    return {row.task_id: (row.task_name, row.state) for row in rows}


def next_steps(task_id: str) -> tuple[list[Neighbour], int]:
    """The tasks this one sent (the next step of its chain, or the batch a chord body sent), and how many more there are."""
    rows = db.session.execute(
        db.select(TaskRun.task_id, TaskRun.task_name, TaskRun.state).where(TaskRun.parent_id == task_id).order_by(TaskRun.id)
    ).all()
    found = latest_states(rows)
    shown = [Neighbour(tid, name, state) for tid, (name, state) in list(found.items())[:MAX_NEXT]]
    return shown, max(0, len(found) - MAX_NEXT)


def group_of(view: TaskView) -> str | None:
    """The group id of the task's chain: its own, or that of the steps after it in the same record's chain."""
    current = view.task_id
    group_id = view.latest.group_id if view.latest else None
    for _ in range(CHAIN_HOPS):
        if group_id or view.record is None:
            return group_id
        child = db.session.execute(
            db.select(TaskRun.task_id, TaskRun.group_id)
            .where(TaskRun.record_id == view.record.id, TaskRun.parent_id == current)
            .order_by(TaskRun.id.desc())
            .limit(1)
        ).first()
        if child is None:
            return None
        current, group_id = child.task_id, child.group_id
    return group_id


def group_view(group_id: str, unreadable: str | None = None) -> GroupView:
    """The group's members known to the SQL log, how many ended, GroupResult's count of them, and the
    chord body. With the backend ``unreadable`` (why), GroupResult is not asked: one timeout per page is enough."""
    rows = db.session.execute(
        db.select(TaskRun.task_id, TaskRun.task_name, TaskRun.state, TaskRun.chord_id)
        .where(TaskRun.group_id == group_id)
        .order_by(TaskRun.id)
    ).all()
    chord_id = next((row.chord_id for row in rows if row.chord_id), None)
    found = latest_states([row for row in rows if row.task_id != chord_id])  # Celery gives the body its group's id too
    return GroupView(
        group_id,
        len(found),
        sum(1 for _, state in found.values() if state in ENDED),
        GroupCount(error=unreadable) if unreadable else count_group(group_id, list(found)),
        neighbour(chord_id) if chord_id else None,
    )


def known_unrun(task_id: str) -> Job | None:
    """The job whose dispatch or latest chord body has this id, for a task not run yet."""
    return db.session.execute(db.select(Job).where((Job.dispatch_task_id == task_id) | (Job.chord_id == task_id)).limit(1)).scalar()


def task_view(task_id: str) -> TaskView | None:
    """The task view of ``task_id``; None when neither the SQL log nor the result backend knows it."""
    runs = runs_of(task_id)
    backend = read_task(task_id)
    view = TaskView(task_id, runs, backend, kept_seconds=kept_for())
    latest = view.latest
    if latest is None:
        view.job = known_unrun(task_id)
        return view if view.job is not None or backend.stored else None
    view.job = db.session.get(Job, latest.job_id) if latest.job_id else None
    view.record = db.session.get(JobRecord, latest.record_id) if latest.record_id else None
    if latest.parent_id:
        view.previous = neighbour(latest.parent_id)
    view.next_steps, view.more_next = next_steps(task_id)
    group_id = group_of(view)
    view.group = group_view(group_id, backend.error) if group_id else None
    return view


def backend_note(view: TaskView) -> str | None:
    """Why the result backend holds nothing for the task, in words; None when it holds something."""
    if view.backend.error:
        return f"{view.backend.error}: Celery's state is unknown here. The SQL log above is complete without it."
    latest = view.latest
    if view.backend.stored:
        if view.backend.state == "SUCCESS" and latest is not None and latest.state in ("FAILURE", "SKIPPED"):
            return "Celery's SUCCESS means the step returned its record's outcome to the chord; how the record ended is the SQL log's."
        return None
    if latest is None:
        return "Not run yet: Celery stores a result only once a task ends."
    if latest.state in ("STARTED", "RETRY") and not view.ignores_result:
        return "Not finished yet: Celery stores a result only once a task ends."
    if view.ignores_result:
        return (
            "This step does not store its result (ignore_result): the next step reads what it fetched from the "
            "record, so Redis keeps only an unexpected failure of it, with its traceback. Its outcome is in the SQL log."
        )
    ended = latest.finished_at or latest.started_at
    if ended < utcnow() - timedelta(seconds=view.kept_seconds):
        kept = kept_text(view.kept_seconds)
        return f"Expired: the result backend keeps a result {kept} (result_expires), and this task ended {ended:%Y-%m-%d %H:%M} UTC."
    return "The backend holds nothing though this task ended: Redis lost it (restarted empty?), or its worker died before storing it."


def kept_text(seconds: int) -> str:
    """A retention period in words: "7 days", "12 hours"."""
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day{'s' if seconds != 86400 else ''}"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} s"


def runtime(run: TaskRun | None) -> str:
    """How long a run took, in words ("0.042 s", "3.5 min"); empty while it runs."""
    if run is None or run.finished_at is None or run.started_at is None:
        return ""
    seconds = (run.finished_at - run.started_at).total_seconds()
    return f"{seconds:.3f} s" if seconds < 60 else f"{seconds / 60:.1f} min"
