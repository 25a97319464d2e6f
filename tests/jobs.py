"""Jobs as tests start them: a PO or BOM job launched as a request would, a job row written
directly, the number of jobs, and the wait until a job ends (with its unfinished records when it
does not)."""

from flask import Flask

from devtools.waiting import wait_for
from webapp.extensions import db
from webapp.jobs.launch import launch_job
from webapp.models import TERMINAL_JOB_STATUSES, Component, Job, JobRecord, Product, TaskRun


def start(app: Flask, keys: list[str]) -> int:
    """Launch a PO job as an operator request would; return its id."""
    with app.app_context():
        return launch_job("purchase_orders", "upload", keys, None, input_name="test.csv").id


def start_bom(app: Flask, codes: list[str]) -> int:
    """Launch a BOM job as the form would; return its id."""
    with app.app_context():
        return launch_job("bills_of_materials", "upload", codes, None, input_name="codes.csv").id


def make_job(app: Flask, status: str, records: int = 3) -> int:
    """A job row with records, written directly (no workers involved)."""
    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", status=status, total=records)
        db.session.add(job)
        db.session.flush()
        for seq in range(1, records + 1):
            db.session.add(
                JobRecord(job_id=job.id, seq=seq, key=f"PO-{100000 + seq}", state="pending" if status == "running" else "succeeded")
            )
        db.session.commit()
        return job.id


def job_count(app: Flask) -> int:
    """Jobs in the database."""
    with app.app_context():
        return db.session.execute(db.select(db.func.count()).select_from(Job)).scalar_one()


def finished_job(app: Flask, job_id: int, timeout: float = 120) -> Job:
    """Wait until the job is terminal; return it (detached, attributes loaded)."""

    def terminal() -> Job | None:
        with app.app_context():
            job = db.session.get(Job, job_id)
            if job is not None and job.status in TERMINAL_JOB_STATUSES:
                db.session.expunge(job)
                return job
            return None

    try:
        return wait_for(terminal, timeout=timeout, interval=0.25, message=f"job {job_id} to finish")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{unfinished_report(app, job_id)}") from None


def unfinished_report(app: Flask, job_id: int) -> str:
    """The records of a job that are not final, with their task runs, to explain a timeout."""
    with app.app_context():
        stuck = (
            db.session.execute(
                db.select(JobRecord).where(JobRecord.job_id == job_id, JobRecord.state.not_in(["succeeded", "failed", "cancelled"]))
            )
            .scalars()
            .all()
        )
        lines = [f"job {job_id}: {len(stuck)} records not final"]
        for record in stuck[:10]:
            runs = db.session.execute(db.select(TaskRun).where(TaskRun.record_id == record.id).order_by(TaskRun.id)).scalars()
            lines.append(
                f"  {record.key} {record.state} {record.error!r}: "
                + ", ".join(f"{run.task_name.rsplit('.', 1)[-1]}#{run.attempt} {run.state} {run.worker}" for run in runs)
            )
        return "\n".join(lines)


def bom_ledger(app: Flask) -> tuple[list[str], int, int]:
    """Product codes in the ERP tables, component rows, and distinct (product, component) pairs."""
    with app.app_context():
        products = db.session.execute(db.select(Product.product_code)).scalars().all()
        components = db.session.execute(db.select(db.func.count()).select_from(Component)).scalar_one()
        pairs = db.session.execute(
            db.select(db.func.count()).select_from(db.select(Component.product_id, Component.component_code).distinct().subquery())
        ).scalar_one()
    return sorted(products), components, pairs
