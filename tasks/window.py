"""Flow control: a job keeps at most a window of its records in the broker.

A job's canvas is not published whole. Its records are sent in input order, a batch at a time,
each batch a chord of record chains (fetch → make) whose body tops the window up again
(tasks.workflows.next_window). So a 100,000-record job holds ``JOB_WINDOW_RECORDS`` chains in
Redis, not 100,000; a job started later queues behind at most that much of each running job,
which shares the workers between jobs round-robin, a batch at a time; and a cancel stops the
sending at once, leaving at most one window queued.

What has been sent is one number per job, ``Job.sent_through``: every record with a seq up to it
was sent. Records in flight are the unfinished ones up to it (an index on (job, state, seq)
counts them without reading the job's finished records). Moving it is a compare-and-set,
committed before the batches are published, so two top-ups at once (two chord bodies, or one
and the sweep) never send a record twice. It is committed first because the UPDATE locks the
job row, and every ERP-write step of the job takes a share lock on that row for its cancel
check: held through a publish, it stalled the job's writes (measured: a write step waiting on
it in one sample of six). A publish that fails moves the mark back to the last batch sent.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app

from tasks import jobs
from webapp.extensions import db
from webapp.jobs.flow import UNFINISHED, in_flight, window_size
from webapp.models import Job, JobRecord, JobStatus


@dataclass(frozen=True)
class Batch:
    """Records sent together as one chord: their ids, and the canvas ids the chord gets."""

    record_ids: list[int]
    group_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    chord_id: str = field(default_factory=lambda: str(uuid.uuid4()))


# Publishes one batch of a job's records: (kind, job id, batch).
Sender = Callable[[str, int, Batch], None]


@dataclass(frozen=True)
class TopUp:
    """What one top-up did: records sent, records in flight before it, whether the job closed."""

    sent: int = 0
    in_flight: int = 0
    finalized: str | None = None


def batch_size() -> int:
    """Records per chord (at least one, at most the window)."""
    return max(1, min(int(current_app.config["JOB_WINDOW_BATCH"]), window_size()))


def next_unsent(job_id: int, sent_through: int, limit: int) -> list[tuple[int, int]]:
    """(id, seq) of the next unfinished records not sent yet, in input order."""
    return [
        tuple(row)
        for row in db.session.execute(
            db.select(JobRecord.id, JobRecord.seq)
            .where(JobRecord.job_id == job_id, JobRecord.seq > sent_through, JobRecord.state.in_(UNFINISHED))
            .order_by(JobRecord.seq)
            .limit(limit)
        ).all()
    ]


def claim(job_id: int, sent_through: int, new_sent_through: int, last: Batch) -> bool:
    """Move the job's sent mark if nobody moved it since it was read and the job still runs
    uncancelled; remember the last batch's canvas ids. A cancel that comes after its commit finds
    the claimed records pending and cancels them; their steps, published after, skip them."""
    return bool(
        db.session.execute(
            db.update(Job)
            .where(Job.id == job_id, Job.sent_through == sent_through, Job.status == JobStatus.RUNNING, Job.cancel_requested_at.is_(None))
            .values(sent_through=new_sent_through, group_id=last.group_id, chord_id=last.chord_id),
            execution_options={"synchronize_session": False},
        ).rowcount
    )


def unclaim(job_id: int, claimed_through: int, sent_through: int) -> None:
    """Move the sent mark back to ``sent_through`` after a failed publish, if it still is where the
    claim put it and the job is not cancelled (a cancel keeps it: records past the mark would never
    be sent). The records left claimed but not sent are the sweeper's to send again."""
    db.session.rollback()
    db.session.execute(
        db.update(Job)
        .where(Job.id == job_id, Job.sent_through == claimed_through, Job.cancel_requested_at.is_(None))
        .values(sent_through=sent_through),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()


def batches(rows: list[tuple[int, int]], size: int) -> list[Batch]:
    """Split (id, seq) rows into batches of ``size`` records."""
    return [Batch([record_id for record_id, _ in rows[start : start + size]]) for start in range(0, len(rows), size)]


def close_if_done(job_id: int, sent_through: int, flying: int) -> str | None:
    """Finalize a job with nothing in flight and nothing left to send; its status, or None.

    Only a job that sent records: a running job that never did is a reconciliation file still
    being read (its records come with the confirmation), or a dispatch still making its records.
    """
    if flying or sent_through == 0:
        return None
    return jobs.finalize(job_id)["status"]


def top_up(job_id: int, send: Sender, attempts: int = 3) -> TopUp:
    """Send the job's next records until its window is full; close the job when nothing is left.

    A partly filled window is topped up only by whole batches while records are in flight, so a
    job is not sent one record at a time as its records finish. Safe to call any time and from
    anywhere (chord bodies, the dispatch, the sweep): it reads everything it decides on.
    """
    for _ in range(attempts):
        job = db.session.execute(db.select(Job.kind, Job.status, Job.cancel_requested_at, Job.sent_through).where(Job.id == job_id)).first()
        if job is None or job.status != JobStatus.RUNNING:
            db.session.rollback()
            return TopUp()
        flying = in_flight(job_id, job.sent_through)
        if job.cancel_requested_at is not None:
            db.session.rollback()
            return TopUp(in_flight=flying, finalized=close_if_done(job_id, job.sent_through, flying))
        room = window_size() - flying
        if room <= 0 or (flying and room < batch_size()):
            db.session.rollback()
            return TopUp(in_flight=flying)
        rows = next_unsent(job_id, job.sent_through, room)
        if not rows:
            db.session.rollback()
            return TopUp(in_flight=flying, finalized=close_if_done(job_id, job.sent_through, flying))
        chords = batches(rows, batch_size())
        if not claim(job_id, job.sent_through, rows[-1][1], chords[-1]):
            db.session.rollback()  # another top-up or a cancel came first: read again
            continue
        db.session.commit()
        seqs = dict(rows)
        sent_through = job.sent_through
        try:
            for batch in chords:
                send(job.kind, job_id, batch)
                sent_through = seqs[batch.record_ids[-1]]
        except Exception:
            unclaim(job_id, rows[-1][1], sent_through)
            raise
        return TopUp(sent=len(rows), in_flight=flying)
    return TopUp()


def running_job_ids(limit: int = 500) -> list[int]:
    """Running jobs, oldest first: the sweep tops each up in case its chord body was lost."""
    ids = db.session.execute(db.select(Job.id).where(Job.status == JobStatus.RUNNING).order_by(Job.id).limit(limit)).scalars().all()
    db.session.rollback()
    return list(ids)
