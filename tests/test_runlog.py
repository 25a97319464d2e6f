"""The task-run log's bookkeeping that saves a step its own closing transaction."""

from tasks.runlog import FAILURE, RETRY, SKIPPED, SUCCESS, already_settled


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
