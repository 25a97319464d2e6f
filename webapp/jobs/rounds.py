"""A job's rounds: its first run, then each retry of its failed records, each kept as it ended.

"Retry failed records" runs a job again under the same id, and the job ends anew; the round that
ended is written first (webapp.models.JobRound), so the job page, the jobs list and the API can
say e.g. "succeeded on retry 1 (first run: 3 failed)" instead of showing a job that never failed.
"""

from collections import defaultdict
from dataclasses import dataclass

from webapp.extensions import db
from webapp.models import Job, JobRound, RecordState, TaskRun, utcnow


def round_name(number: int) -> str:
    """The name of round ``number``: first run, then retry 1, retry 2, …"""
    return "first run" if number == 1 else f"retry {number - 1}"


def end_round(job: Job, counts: dict[str, int], retried_by: str | None) -> JobRound:
    """Keep the job's round that just ended, with its status and counts, before a retry starts the
    next one. The caller holds the job locked and commits."""
    number = 1 + db.session.execute(db.select(db.func.count()).select_from(JobRound).where(JobRound.job_id == job.id)).scalar_one()
    last_run_id = db.session.execute(db.select(db.func.max(TaskRun.id)).where(TaskRun.job_id == job.id)).scalar_one()
    previous = db.session.execute(db.select(JobRound.retried_at).where(JobRound.job_id == job.id, JobRound.number == number - 1)).scalar()
    ended = JobRound(
        job_id=job.id,
        number=number,
        status=job.status,
        started_at=previous or job.started_at,
        finished_at=job.finished_at,
        succeeded=counts.get(RecordState.SUCCEEDED, 0),
        failed=counts.get(RecordState.FAILED, 0),
        cancelled=counts.get(RecordState.CANCELLED, 0),
        last_run_id=last_run_id,
        retried_at=utcnow(),
        retried_by=retried_by,
    )
    db.session.add(ended)
    return ended


def rounds_of(job_ids: list[int]) -> dict[int, list[JobRound]]:
    """The ended rounds of each of these jobs, oldest first (one query for a page of jobs)."""
    found: dict[int, list[JobRound]] = defaultdict(list)
    if job_ids:
        query = db.select(JobRound).where(JobRound.job_id.in_(job_ids)).order_by(JobRound.job_id, JobRound.number)
        for ended in db.session.execute(query).scalars():
            found[ended.job_id].append(ended)
    return found


def outcome_words(ended: JobRound) -> str:
    """How a round ended, in a few words: "3 failed", "3 failed, 2 cancelled", or its status."""
    parts = [f"{ended.failed} failed"] if ended.failed else []
    parts += [f"{ended.cancelled} cancelled"] if ended.cancelled else []
    return ", ".join(parts) or ended.status.replace("_", " ")


def history_words(job: Job, ended: list[JobRound]) -> str | None:
    """The job's rounds in one line, e.g. "succeeded on retry 1 (first run: 3 failed)"; None for a
    job never retried (its status says it all)."""
    if not ended:
        return None
    current = round_name(len(ended) + 1)
    status = job.status.replace("_", " ")
    lead = f"{current}: {status}" if job.is_active else f"{status} on {current}"
    return f"{lead} ({'; '.join(f'{round_name(r.number)}: {outcome_words(r)}' for r in ended)})"


def rounds_json(job: Job, ended: list[JobRound]) -> list[dict[str, object]]:
    """Every round of the job for the API: the ended ones as they ended, then the current one."""
    rounds: list[dict[str, object]] = [
        {
            "number": r.number,
            "name": round_name(r.number),
            "status": r.status,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "counts": {"succeeded": r.succeeded, "failed": r.failed, "cancelled": r.cancelled},
            "retried_at": r.retried_at,
            "retried_by": r.retried_by,
        }
        for r in ended
    ]
    current = len(ended) + 1
    started = ended[-1].retried_at if ended else job.started_at
    rounds.append(
        {"number": current, "name": round_name(current), "status": job.status, "started_at": started, "finished_at": job.finished_at}
    )
    return rounds


@dataclass
class JobHistory:
    """What the job page shows of a job's rounds: the one line, and each ended round by name."""

    words: str | None
    ended: list[tuple[str, JobRound]]


def job_history(job: Job, ended: list[JobRound] | None = None) -> JobHistory:
    """The job's history for its page (``ended`` if already read)."""
    if ended is None:
        ended = rounds_of([job.id])[job.id]
    return JobHistory(history_words(job, ended), [(round_name(r.number), r) for r in ended])


def round_of_runs(job: Job, run_ids: list[int]) -> dict[int, str]:
    """The name of the round each of these task runs of the job belongs to: a run up to an ended
    round's last run is of that round (or an earlier one), a later run of the round under way."""
    ended = rounds_of([job.id])[job.id]
    current = round_name(len(ended) + 1)
    return {run_id: next((round_name(r.number) for r in ended if r.last_run_id and run_id <= r.last_run_id), current) for run_id in run_ids}
