"""Launching jobs: one transaction writes the job, its key list and its outbox message."""

from webapp import audit
from webapp.extensions import db, on_postgresql
from webapp.jobs import outbox
from webapp.jobs.kinds import DISPATCH_TASK, KINDS
from webapp.models import Job, JobKeyList, JobRecord, Operator, RecordState
from webapp.plurals import counted


def launch_job(
    kind: str,
    source: str,
    keys: list[str],
    operator: Operator | None,
    input_name: str | None = None,
    input_text: str | None = None,
    rerun_of: Job | None = None,
) -> Job:
    """Commit a new job with its keys, then hand it to the relay; return at once.

    The keys are kept as one list: the dispatch task makes a record of each (add_listed_records),
    so the request does not wait for thousands of rows. With ``source="pending"`` the key list
    is empty: the dispatch task asks the ERP for it, so the request never waits on the ERP.
    """
    job = Job(
        kind=kind,
        source=source,
        total=len(keys),
        created_by=operator,
        input_name=input_name,
        input_text=input_text,
        rerun_of_id=rerun_of.id if rerun_of else None,
    )
    db.session.add(job)
    db.session.flush()
    if keys:
        db.session.add(JobKeyList(job_id=job.id, keys=list(keys)))
    message = outbox.add(DISPATCH_TASK, job_id=job.id)
    origin = f" (re-run of job #{rerun_of.id})" if rerun_of else ""
    size = counted(len(keys), "record") if keys else "records listed by the ERP"
    audit.record("launch", f"{KINDS[kind].label}: {size} from {input_name or source}{origin}", job, operator)
    db.session.commit()
    outbox.relay_quietly([message.id])
    return job


def add_listed_records(job: Job) -> int:
    """Make the records of the job's key list, pending, and drop the list; return how many.

    The dispatch task calls it, and so does a cancel that comes first, so a job's records always
    exist once it runs or ends. Deleting the list is the claim: of two callers at once, the
    second's DELETE waits for the first to commit and then finds nothing, so the records are
    made once. The caller commits; the dispatch task does so at once, before it touches the job
    row that a cancel holds locked while it waits here.
    """
    claimed = db.session.execute(
        db.delete(JobKeyList).where(JobKeyList.job_id == job.id).returning(JobKeyList.keys),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if not claimed:
        return 0
    insert_pending_records(job.id, list(enumerate(claimed, 1)))
    return len(claimed)


def insert_pending_records(job_id: int, numbered_keys: list[tuple[int, str]]) -> None:
    """Insert a job's records, pending, from (seq, key) pairs, in one statement.

    PostgreSQL gets one INSERT … SELECT FROM unnest() of two arrays, several times faster than the
    same rows sent as a batch of parameter sets (docs/BENCHMARKS.md, item 5); SQLite gets the
    batch, already fast there.
    """
    if not numbered_keys:
        return
    if on_postgresql():
        db.session.execute(
            db.text(
                "INSERT INTO job_records (job_id, seq, key, state) "
                "SELECT :job_id, seq, key, :state FROM unnest(CAST(:seqs AS integer[]), CAST(:keys AS text[])) AS t(seq, key)"
            ),
            {
                "job_id": job_id,
                "state": RecordState.PENDING.value,
                "seqs": [seq for seq, _ in numbered_keys],
                "keys": [key for _, key in numbered_keys],
            },
        )
        return
    db.session.execute(
        db.insert(JobRecord), [{"job_id": job_id, "seq": seq, "key": key, "state": RecordState.PENDING} for seq, key in numbered_keys]
    )
