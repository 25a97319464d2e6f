"""What each step of a record went through, told in words: tries, the outcome, past errors.

An attempt is one try of one step (a task run's retries + 1). A redelivery after a worker died is
a new task run of the same attempt, so tries are counted as distinct (task id, attempt) pairs; a
run that skipped its step (the record was already final, or its job cancelled) is no try at all.
A record's attempts are the tries of its current step: the one it is on, or the one it ended on.
"""

from dataclasses import dataclass, field
from datetime import datetime

from webapp.extensions import db
from webapp.jobs.kinds import Step
from webapp.jobs.record_status import LatestRun
from webapp.models import RecordState, TaskRun

SKIPPED = "SKIPPED"
ERROR_STATES = ("RETRY", "FAILURE", "LOST")


@dataclass
class StepView:
    """One step of one record: its latest run's state, its runs, and its tries."""

    label: str
    state: str = "waiting"  # the latest run's state (the API has always given it)
    runs: int = 0
    retry_at: datetime | None = None
    outcome: str | None = None  # the state of its latest try (skips aside)
    skipped_last: bool = False
    tried: set[tuple[str, int]] = field(default_factory=set, repr=False)

    @property
    def tries(self) -> int:
        """How many times the step was tried: redeliveries of one attempt count once, skips not at all."""
        return len(self.tried)

    def add(self, task_id: str, attempt: int, state: str, retry_at: datetime | None) -> None:
        """Count one task run of this step (runs come in the order they started)."""
        self.runs += 1
        self.state = state
        self.retry_at = retry_at
        self.skipped_last = state == SKIPPED
        if state != SKIPPED:
            self.tried.add((task_id, attempt))
            self.outcome = state


@dataclass
class RecordHistory:
    """Every step of one record, its current step, and the errors its runs met on the way."""

    steps: list[StepView]
    current: int | None = None  # index of the step of the latest try
    errors: list[str] = field(default_factory=list)
    latest: LatestRun | None = None  # its latest run, skips included

    def add(self, index: int, task_id: str, attempt: int, state: str, retry_at: datetime | None, error: str | None) -> None:
        """Count one run of step ``index``."""
        self.steps[index].add(task_id, attempt, state, retry_at)
        if state != SKIPPED:
            self.current = index
        if state in ERROR_STATES and error:
            self.errors.append(error)

    @property
    def attempts(self) -> int:
        """Tries of the current step (0 before any step ran)."""
        return self.steps[self.current].tries if self.current is not None else 0


def plural(count: int, one: str, many: str) -> str:
    """``1 try``, ``3 tries``."""
    return f"{count} {one if count == 1 else many}"


def step_label(step: StepView, record_state: str) -> str:
    """What happened to one step, e.g. "success after 7 tries", "2 retries, then failed", "skipped (job cancelled)"."""
    cancelled = record_state == RecordState.CANCELLED
    tries = step.tries
    if tries == 0:
        if cancelled:
            return "skipped (job cancelled)"
        if record_state == RecordState.FAILED:
            return "not run"  # an earlier step failed (its chain's later steps only skip)
        if step.runs:
            return "skipped"
        return "not run" if record_state == RecordState.SUCCEEDED else "waiting"
    if cancelled and step.skipped_last:
        return f"{plural(tries, 'try', 'tries')}, then skipped (job cancelled)"
    if step.outcome == "SUCCESS":
        return "success" if tries == 1 else f"success after {tries} tries"
    if step.outcome == "FAILURE":
        return "failed" if tries == 1 else f"{plural(tries - 1, 'retry', 'retries')}, then failed"
    if step.outcome == "RETRY":
        return f"retrying after {plural(tries, 'failed try', 'failed tries')}"
    if step.outcome == "LOST":
        return f"lost on try {tries}: its worker died"
    return "running" if tries == 1 else f"running (try {tries})"


def error_trace(record_state: str, record_error: str | None, errors: list[str]) -> str:
    """The row's error: the record's own, or for a record that succeeded after errors, a trace of them."""
    if record_state == RecordState.SUCCEEDED and errors:
        return f"succeeded after {plural(len(errors), 'error', 'errors')}; last: {errors[-1]}"
    return record_error or ""


def read_histories(record_ids: list[int], steps: tuple[Step, ...]) -> dict[int, RecordHistory]:
    """The history of each of these records, from their task runs in one query (in the order they started)."""
    histories = {record_id: RecordHistory([StepView(step.label) for step in steps]) for record_id in record_ids}
    if not record_ids:
        return histories
    index = {step.task_name: i for i, step in enumerate(steps)}
    columns = (TaskRun.task_id, TaskRun.attempt, TaskRun.state, TaskRun.retry_at, TaskRun.error, TaskRun.worker, TaskRun.started_at)
    runs = db.session.execute(
        db.select(TaskRun.record_id, TaskRun.task_name, *columns).where(TaskRun.record_id.in_(record_ids)).order_by(TaskRun.id)
    ).all()
    for record_id, task_name, task_id, attempt, state, retry_at, error, worker, started_at in runs:
        if task_name in index:
            history = histories[record_id]
            history.add(index[task_name], task_id, attempt, state, retry_at, error)
            history.latest = LatestRun(history.steps[index[task_name]].label, state, worker, started_at, attempt)
    return histories
