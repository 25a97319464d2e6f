"""What a record's steps went through, in words: tries counted one way, skips apart, past errors kept."""

import pytest

from webapp.jobs.step_history import RecordHistory, StepView, error_trace, step_label


def step(*runs: tuple[str, int, str]) -> StepView:
    """A step with these (task id, attempt, state) runs, in the order they started."""
    view = StepView("fetch")
    for task_id, attempt, state in runs:
        view.add(task_id, attempt, state, None)
    return view


RETRIES_THEN = [("t1", n, "RETRY") for n in range(1, 7)]


@pytest.mark.parametrize(
    ("view", "record_state", "expected"),
    [
        (step(), "pending", "waiting"),
        (step(), "running", "waiting"),
        (step(), "failed", "not run"),
        (step(), "cancelled", "skipped (job cancelled)"),
        (step(("t1", 1, "SKIPPED")), "cancelled", "skipped (job cancelled)"),
        (step(("t1", 1, "SKIPPED"), ("t1", 1, "SKIPPED"), ("t1", 1, "SKIPPED")), "cancelled", "skipped (job cancelled)"),
        (step(("t1", 1, "SKIPPED")), "succeeded", "skipped"),
        (step(("t1", 1, "SKIPPED")), "failed", "not run"),
        (step(("t1", 1, "SUCCESS")), "succeeded", "success"),
        (step(*RETRIES_THEN, ("t1", 7, "SUCCESS")), "succeeded", "success after 7 tries"),
        (step(("t1", 1, "RETRY"), ("t1", 2, "RETRY"), ("t1", 3, "FAILURE")), "failed", "2 retries, then failed"),
        (step(("t1", 1, "RETRY"), ("t1", 2, "FAILURE")), "failed", "1 retry, then failed"),
        (step(("t1", 1, "FAILURE")), "failed", "failed"),
        # One skip (its record had failed in the first round), then the retry's run: one try, not two.
        (step(("t1", 1, "SKIPPED"), ("t2", 1, "SUCCESS")), "succeeded", "success"),
        # A failed first round, then "retry failed": two tries of the step, by two task ids.
        (step(("t1", 1, "FAILURE"), ("t2", 1, "SUCCESS")), "succeeded", "success after 2 tries"),
        # A worker died: the redelivery is the same attempt, so one try.
        (step(("t1", 1, "LOST"), ("t1", 1, "SUCCESS")), "succeeded", "success"),
        (step(("t1", 1, "LOST")), "running", "lost on try 1: its worker died"),
        (step(("t1", 1, "RETRY"), ("t1", 2, "RETRY")), "retrying", "retrying after 2 failed tries"),
        (step(("t1", 1, "STARTED")), "running", "running"),
        (step(("t1", 1, "RETRY"), ("t1", 2, "STARTED")), "running", "running (try 2)"),
        (step(("t1", 1, "RETRY"), ("t1", 2, "RETRY"), ("t1", 3, "SKIPPED")), "cancelled", "2 tries, then skipped (job cancelled)"),
        # A duplicate delivery that finds the record done after it succeeded changes nothing.
        (step(("t1", 1, "SUCCESS"), ("t1", 1, "SKIPPED")), "succeeded", "success"),
    ],
)
def test_step_label(view: StepView, record_state: str, expected: str) -> None:
    """Each run history reads as what happened, never as the final state times the runs."""
    assert step_label(view, record_state) == expected
    assert "×" not in step_label(view, record_state)


def history(runs: list[tuple[int, str, int, str, str | None]]) -> RecordHistory:
    """A two-step record with these (step index, task id, attempt, state, error) runs."""
    record = RecordHistory([StepView("fetch"), StepView("make PO")])
    for index, task_id, attempt, state, error in runs:
        record.add(index, task_id, attempt, state, None, error)
    return record


@pytest.mark.parametrize(
    ("runs", "attempts"),
    [
        ([], 0),
        ([(0, "f", 1, "SUCCESS", None), (1, "m", 1, "SUCCESS", None)], 1),  # a clean record: 1, not one per step
        ([(0, "f", 1, "RETRY", "HTTP 503"), (0, "f", 2, "RETRY", "HTTP 503")], 2),  # at its second failed attempt
        ([(0, "f", 1, "RETRY", "x"), (0, "f", 2, "SUCCESS", None), (1, "m", 1, "STARTED", None)], 1),  # on its next step now
        ([(0, "f", 1, "RETRY", "x"), (0, "f", 2, "LOST", None), (0, "f", 2, "SUCCESS", None)], 2),  # a redelivery is no new attempt
        ([(0, "f", 1, "SUCCESS", None), (1, "m", 1, "SUCCESS", None), (1, "m", 1, "SKIPPED", None)], 1),
    ],
)
def test_attempts_are_the_tries_of_the_current_step(runs: list, attempts: int) -> None:
    """A record's attempts count the tries of the step it is on (or ended on), as its step cell does."""
    record = history(runs)
    assert record.attempts == attempts
    if record.current is not None:
        assert record.steps[record.current].tries == attempts


def test_a_record_that_succeeded_after_errors_keeps_their_trace() -> None:
    """Errors of retries and lost runs are kept in order; the row's error says how many and the last."""
    record = history(
        [
            (0, "f", 1, "RETRY", "HTTP 502 (attempt 1 of 9)"),
            (0, "f", 2, "LOST", "the worker running this execution died or was lost"),
            (0, "f", 2, "RETRY", "HTTP 503 (attempt 2 of 9)"),
            (0, "f", 3, "SUCCESS", None),
            (1, "m", 1, "SKIPPED", "the job was cancelled"),
        ]
    )
    assert len(record.errors) == 3
    assert error_trace("succeeded", None, record.errors) == "succeeded after 3 errors; last: HTTP 503 (attempt 2 of 9)"
    assert error_trace("failed", "gave up after 9 attempts: HTTP 503", record.errors) == "gave up after 9 attempts: HTTP 503"
    assert error_trace("succeeded", None, []) == ""
    assert error_trace("succeeded", None, ["HTTP 503"]) == "succeeded after 1 error; last: HTTP 503"
