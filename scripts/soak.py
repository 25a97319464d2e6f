"""Soak test: mixed jobs under sustained faults, then the ledger: nothing lost, nothing twice (``make soak``).

For ``--minutes`` it keeps purchase-order, bill-of-materials and reconciliation jobs flowing over
overlapping keys through real workers (a prefork worker on default,db, a threads worker on fetch,
beat), on a private PostgreSQL and a private Redis, against the sandbox ERP served in a thread with
some chaos. Beside them run one large job at a time (4,000 records; the last one is cancelled when
the load stops) and small jobs of 5-20 records, timed; running BOM jobs are cancelled mid-run; a
thread reads each job's messages in the broker every second. Meanwhile a fault thread SIGKILLs a
random worker every 5-30 s (and starts a replacement), restarts Redis empty once and PostgreSQL
once. Then it stops launching, waits for every job to end, stops the workers warm and checks the
ledger: every job and record terminal, every ERP effect present exactly once and as the ERP sent
it, no task run left started, no outbox message pending, the broker's unacked set empty; no
cancelled record with ERP rows of its job, no product lacking a component, nothing sent after a
cancel, never more than a window of a job's records still to run in the broker, small jobs ending
while the large one runs (their waits printed against a bound). It prints the figures and exits 1
if a check fails.

    python scripts/soak.py --minutes 10 --seed 1
"""

import argparse
import io
import json
import logging
import os
import random
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from flask import Flask  # noqa: E402
from sqlalchemy.exc import InterfaceError, OperationalError  # noqa: E402
from werkzeug.datastructures import FileStorage  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from devtools.localpostgres import PrivatePostgres  # noqa: E402
from devtools.localredis import PrivateRedis, start_private_redis  # noqa: E402
from devtools.ports import free_port  # noqa: E402
from devtools.waiting import wait_for  # noqa: E402
from devtools.workers import WorkerSet  # noqa: E402
from scripts.make_date_range_report import write_report  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import ACTIVE_JOB_STATUSES, TERMINAL_RECORD_STATES, Job, JobRecord, JobStatus, RecordState, TaskRun, utcnow  # noqa: E402
from webapp.monitoring.queues import task_ids  # noqa: E402
from webapp.sandbox import data as erp_data  # noqa: E402

T = TypeVar("T")

# The tests' short timeouts, so Redis' redelivery and the sweeper both act within the run.
WORKER_SETTINGS = {
    "ERP_TIMEOUT": "1",
    "FETCH_BACKOFF_BASE": "0.05",
    "FETCH_BACKOFF_MAX": "0.5",
    "FETCH_MAX_RETRIES": "10",
    "BROKER_VISIBILITY_TIMEOUT": "20",
    "TASK_TIME_LIMIT": "15",
    "TASK_SOFT_TIME_LIMIT": "12",
    "STUCK_AFTER_SECONDS": "30",
    "DB_BACKOFF_MAX": "2",
    "DB_RETRY_MAX": "60",
    "SWEEP_SECONDS": "3",
    "OUTBOX_RELAY_SECONDS": "1",
    "HEARTBEAT_SECONDS": "2",
    "PYTHONUNBUFFERED": "1",
}
STUCK_AFTER = int(WORKER_SETTINGS["STUCK_AFTER_SECONDS"])
VISIBILITY = int(WORKER_SETTINGS["BROKER_VISIBILITY_TIMEOUT"])
CHAOS = {"error_rate": 0.1, "timeout_rate": 0.01, "throttle_rate": 0.02, "retry_after_s": 1, "latency_ms": 20}
# Worker kind → (queues, pool, concurrency), as the Procfile's worker and io processes.
WORKER_KINDS = {"db": ("default,db", "prefork", 2), "io": ("fetch", "threads", 16)}
KILL_EVERY = (5.0, 30.0)  # seconds between two SIGKILLs, drawn uniformly
OUTAGE_SECONDS = 3.0  # how long PostgreSQL stays down
STALL_SECONDS = 30  # a worker that takes no task this long while its queues hold messages is restarted
# The sweeper resends a stalled job's records after STUCK_AFTER; a frozen worker is replaced after STALL_SECONDS.
DRAIN_SECONDS = STUCK_AFTER * 3 + STALL_SECONDS
MAX_UNFINISHED = 200  # the launcher waits while this many records are unfinished
KIND_WEIGHTS = {"purchase_orders": 45, "bills_of_materials": 35, "reconciliation": 20}
SETTLEMENTS = (b"24702193891", b"24702193892")  # the generator's settlement ids, made unique per file
PRODUCT_WINDOW = 600  # products drawn from the first 600 only, so jobs overlap and each is made several times
# Flow control under load: one large job at a time (BOM, then PO, ...) beside small jobs that keep starting.
LARGE_RECORDS = 4000  # half keys the sandbox knows, interleaved with keys it does not know (fetched, "not found")
LARGE_KINDS = ("bills_of_materials", "purchase_orders")
LARGE_MIN_LEFT = 30.0  # no large job is started with less load time left than this
SMALL_RECORDS = (5, 20)
SMALL_EVERY = (2.0, 6.0)  # seconds between two small jobs, drawn uniformly
SMALL_AT_ONCE = 2  # a small job waits for a slot: they probe the queue's wait, they do not add to the load
CANCEL_EVERY = (4.0, 12.0)  # seconds between two cancels of a running BOM job, drawn uniformly
CANCEL_PARTLY_WRITTEN = 0.75  # how often a cancel picks a job with records whose product is written, when there is one
SAMPLE_SECONDS = 1.0  # how often the broker is read for each job's messages
# Besides its queue time, a small job may wait out one recovery of each fault: messages lost with
# Redis are re-sent once the job made no progress for STUCK_AFTER, a worker frozen by the restart is
# replaced after STALL_SECONDS, a killed worker's messages come back after the visibility timeout
# (twice when the redelivery lands on the next worker killed).
FAULT_ALLOWANCE = STUCK_AFTER + STALL_SECONDS + 2 * VISIBILITY


def say(text: str) -> None:
    """Print a progress line at once."""
    print(text, flush=True)


def worker_env(database_url: str, redis_url: str, erp_port: int, uploads: Path) -> dict[str, str]:
    """Environment of the worker and beat processes: the private servers and the short timeouts."""
    return dict(
        os.environ,
        SECRET_KEY="soak",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ERP_API_URL=f"http://127.0.0.1:{erp_port}/sandbox/api",
        UPLOAD_FOLDER=str(uploads),
        **WORKER_SETTINGS,
    )


def make_app(env: dict[str, str]) -> Flask:
    """The soak's own app: it launches and confirms jobs, sets the sandbox's chaos and reads the ledger."""
    from webapp.app import create_app

    return create_app(
        {
            "SECRET_KEY": env["SECRET_KEY"],
            "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"],
            "REDIS_URL": env["REDIS_URL"],
            "ERP_API_URL": env["ERP_API_URL"],
            "UPLOAD_FOLDER": env["UPLOAD_FOLDER"],
        }
    )


def make_sandbox_app(env: dict[str, str]) -> Flask:
    """The sandbox ERP the workers call, as its own process runs it (here served in a thread)."""
    from webapp.sandbox.app import create_sandbox_app

    return create_sandbox_app({"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "SANDBOX_ENABLED": True, "SANDBOX_TIMEOUT_SLEEP": 2})


@dataclass
class Services:
    """What the soak started: private servers, the ERP's web server, and the worker processes."""

    work: Path
    postgres: PrivatePostgres
    redis_servers: list[PrivateRedis]
    app: Flask
    workers: WorkerSet
    nodes: dict[str, str] = field(default_factory=dict)  # running worker node → its kind
    beat: str = ""
    crashes: list[str] = field(default_factory=list)  # workers that exited on their own, and why
    stalls: list[str] = field(default_factory=list)  # workers alive but taking no work, restarted
    progress: dict[str, tuple[int, float]] = field(default_factory=dict)  # node → (tasks taken, since when)
    client: redis.Redis | None = None  # the same port whatever Redis restarts: one client serves throughout
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def redis(self) -> PrivateRedis:
        """The Redis server running now (a restart starts a new one on the same port)."""
        return self.redis_servers[-1]

    def start_worker(self, kind: str) -> str:
        """Start a worker of ``kind`` (db or io); return its node name."""
        queues, pool, concurrency = WORKER_KINDS[kind]
        node = self.workers.start(kind, queues=queues, pool=pool, concurrency=concurrency)
        self.nodes[node] = kind
        return node

    def kill_worker(self, rng: random.Random) -> None:
        """SIGKILL a random worker, main process and pool children at once, and start another like it."""
        with self.lock:
            node = rng.choice(sorted(self.nodes))
            kind = self.nodes.pop(node)
            self.workers.kill(node)
            self.start_worker(kind)

    def supervise(self) -> None:
        """Restart workers that exited, or that took no task for STALL_SECONDS while their queues held some,
        as a process supervisor with a liveness probe would."""
        with self.lock:
            for node, kind in list(self.nodes.items()):
                process = self.workers.processes[node]
                if process.poll() is not None:
                    log = self.workers.log_dir / f"{node.split('-')[0]}.log"
                    reason = next(
                        (line.strip() for line in log.read_text(errors="replace").splitlines() if "Unrecoverable error" in line),
                        f"exit code {process.returncode}",
                    )
                    self.crashes.append(f"{node}: {reason}")
                    del self.nodes[node], self.workers.processes[node]
                    self.start_worker(kind)
                elif self.stalled(node, kind):
                    self.stalls.append(
                        f"{node}: took no task for {STALL_SECONDS} s with messages waiting "
                        f"(its threads' stacks are at the end of {node.split('-')[0]}.log)"
                    )
                    dump_stacks(process.pid, self.workers.log_dir / f"{node.split('-')[0]}.log")
                    del self.nodes[node]
                    self.workers.kill(node)
                    self.start_worker(kind)

    def stalled(self, node: str, kind: str) -> bool:
        """True when the worker's heartbeat shows no new task for STALL_SECONDS and its queues are not empty."""
        try:
            client = self.client or redis.Redis.from_url(self.redis.url, socket_timeout=2)
            self.client = client
            beat = client.get(f"celeriac:workers:{node}")
            waiting = sum(client.llen(queue) for queue in WORKER_KINDS[kind][0].split(","))
        except redis.RedisError:
            return False
        if beat is None:
            return False
        taken, now = json.loads(beat)["processed"], time.monotonic()
        if self.progress.get(node, (None, 0.0))[0] != taken:
            self.progress[node] = (taken, now)
        return waiting > 0 and now - self.progress[node][1] > STALL_SECONDS


def dispose_engine(app: Flask) -> None:
    """Close the app's database connections (before its server goes away)."""
    with app.app_context():
        db.engine.dispose()


def dump_stacks(pid: int, log: Path) -> None:
    """Have a worker write every thread's stack to its log (Celery's SIGUSR1 handler), for the diagnosis."""
    size = log.stat().st_size
    os.kill(pid, signal.SIGUSR1)

    def written() -> bool:
        with open(log, "rb") as handle:
            handle.seek(size)
            return b"MainThread" in handle.read()

    try:
        wait_for(written, timeout=5, interval=0.2, message="the worker's stacks")
    except AssertionError:
        pass


@contextmanager
def running_services(work: Path) -> Iterator[Services]:
    """Start PostgreSQL, Redis, the sandbox ERP and the workers; stop them all on the way out."""
    from celery import current_app as current_celery

    from webapp import migrations
    from webapp.sandbox.chaos import update_settings

    previous_celery = current_celery._get_current_object()
    with ExitStack() as stack:
        stack.callback(previous_celery.set_default)  # create_app made the soak's Celery app the default
        stack.callback(previous_celery.set_current)
        postgres = PrivatePostgres()
        stack.callback(postgres.destroy)
        postgres.start()
        redis_servers = [start_private_redis(workdir=str(work))]
        stack.callback(lambda: [server.stop() for server in redis_servers])
        port = free_port()
        env = worker_env(postgres.url, redis_servers[0].url, port, work / "uploads")
        app = make_app(env)
        migrations.upgrade(app)
        with app.app_context():
            update_settings(CHAOS, "soak")
            stack.callback(dispose_engine, app)
        sandbox = make_sandbox_app(env)
        stack.callback(dispose_engine, sandbox)
        server = make_server("127.0.0.1", port, sandbox, threaded=True)
        threading.Thread(target=server.serve_forever, name="soak-erp", daemon=True).start()
        stack.callback(server.shutdown)
        (work / "logs").mkdir(exist_ok=True)
        services = Services(work, postgres, redis_servers, app, WorkerSet(env, work / "logs"))
        stack.callback(services.workers.stop_all)
        for kind in WORKER_KINDS:
            services.start_worker(kind)
        services.beat = services.workers.start_beat()
        services.workers.wait_ready(timeout=120)
        yield services


def guarded(app: Flask, action: Callable[[], T]) -> T | None:
    """Run ``action`` in a request context of ``app``; None while the database does not answer."""
    with app.test_request_context():  # its teardown drops a session whose connection died (webapp.db_teardown)
        try:
            return action()
        except (OperationalError, InterfaceError):
            try:
                db.session.rollback()
            except Exception:  # the connection is gone; the context's teardown discards the session
                pass
            return None


class Faults(threading.Thread):
    """SIGKILLs a random worker every 5-30 s and starts a replacement; restarts Redis and PostgreSQL once each."""

    def __init__(self, services: Services, rng: random.Random, seconds: float) -> None:
        super().__init__(name="soak-faults", daemon=True)
        self.services, self.rng = services, rng
        self.stopping = threading.Event()
        self.done: Counter[str] = Counter()
        self.errors: list[str] = []
        self.plan = [(rng.uniform(0.25, 0.4) * seconds, "redis"), (rng.uniform(0.55, 0.7) * seconds, "postgres")]

    def run(self) -> None:
        """Strike each fault when it is due, until stopped."""
        start = time.monotonic()
        due = sorted((start + offset, name) for offset, name in self.plan)
        next_kill = start + self.rng.uniform(*KILL_EVERY)
        while not self.stopping.is_set():
            now = time.monotonic()
            if due and due[0][0] <= now:
                self.strike(due.pop(0)[1])
            elif next_kill <= now:
                self.strike("kill")
                next_kill = time.monotonic() + self.rng.uniform(*KILL_EVERY)
            else:
                self.stopping.wait(min([next_kill] + [moment for moment, _ in due[:1]]) - now)  # fault timing

    def strike(self, fault: str) -> None:
        """Do one fault; remember it, or why it could not be done."""
        action = {"kill": self.kill_worker, "redis": self.restart_redis, "postgres": self.restart_postgres}[fault]
        try:
            action()
            self.done[fault] += 1
        except Exception as exc:
            self.errors.append(f"{fault}: {type(exc).__name__}: {exc}")

    def kill_worker(self) -> None:
        """SIGKILL a random worker and start another like it."""
        self.services.kill_worker(self.rng)

    def restart_redis(self) -> None:
        """Stop Redis and start it again empty on the same port: every queued and unacked message is gone."""
        old = self.services.redis
        old.stop()
        self.services.redis_servers.append(start_private_redis(port=old.port, workdir=str(self.services.work), password=old.password))

    def restart_postgres(self) -> None:
        """Stop PostgreSQL (open connections are cut), keep it down a few seconds, start it again."""
        self.services.postgres.stop()
        time.sleep(OUTAGE_SECONDS)  # fault timing: the outage itself
        self.services.postgres.start()


class Launcher:
    """Launches jobs as operators would: POs and BOMs over overlapping keys, Date Range files (some twice)."""

    def __init__(self, app: Flask, rng: random.Random, large_ids: set[int]) -> None:
        self.app, self.rng = app, rng
        self.large_ids = large_ids  # of the large jobs, the launcher's pace counts only the records in flight
        self.files: list[bytes] = []
        self.awaiting: set[int] = set()  # reconciliation jobs not confirmed yet
        self.launched: Counter[str] = Counter()
        self.repeats = 0

    def tick(self) -> None:
        """Confirm the previews that are ready; launch one job if few records are unfinished."""
        self.confirm_ready()
        unfinished = guarded(self.app, lambda: unfinished_records(self.large_ids))
        if unfinished is not None and unfinished < MAX_UNFINISHED:
            kind = self.rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
            launch = self.launch_reconciliation if kind == "reconciliation" else lambda: self.launch_keys(kind)
            if guarded(self.app, launch) is not None:
                self.launched[kind] += 1

    def launch_keys(self, kind: str) -> int:
        """A PO or BOM job over a random window of the sandbox's keys (windows overlap across jobs)."""
        from webapp.jobs.launch import launch_job

        if kind == "purchase_orders":
            size = self.rng.randint(20, 80)
            first = erp_data.PO_FIRST + self.rng.randrange(erp_data.PO_COUNT - size)
            keys = [f"PO-{n}" for n in range(first, first + size)]
        else:
            size = self.rng.randint(10, 40)
            first = erp_data.PRODUCT_FIRST + self.rng.randrange(PRODUCT_WINDOW - size)
            keys = [f"P-{n}" for n in range(first, first + size)]
        return launch_job(kind, "upload", keys, None, input_name=f"soak-{kind}.csv").id

    def next_file(self) -> int:
        """Index of the Date Range file to upload: the second upload repeats the first, later ones one in five."""
        if (len(self.files) == 1 and not self.repeats) or (len(self.files) > 1 and self.rng.random() < 0.2):
            self.repeats += 1
            return self.rng.randrange(len(self.files))
        out = io.BytesIO()
        write_report(out, rows=self.rng.randint(150, 400), seed=self.rng.randrange(1 << 30))
        number = 30_000_000_000 + 2 * len(self.files)  # each new file settles its own pair of settlements
        report = out.getvalue().replace(SETTLEMENTS[0], b"%d" % number)
        self.files.append(report.replace(SETTLEMENTS[1], b"%d" % (number + 1)))
        return len(self.files) - 1

    def launch_reconciliation(self) -> int:
        """Upload a Date Range file; it is confirmed once its preview is ready."""
        from webapp.reconciliation.imports import launch_reconciliation

        index = self.next_file()
        upload = FileStorage(io.BytesIO(self.files[index]), filename=f"soak-date-range-{index}.csv")
        job_id = launch_reconciliation(upload, None, None).id
        self.awaiting.add(job_id)
        return job_id

    def confirm_ready(self) -> None:
        """Confirm each waiting reconciliation whose preview is ready; forget those that ended otherwise."""
        from webapp.reconciliation.imports import ReconError, confirm

        def confirm_all() -> None:
            rows = db.session.execute(db.select(Job.id, Job.status).where(Job.id.in_(self.awaiting))).all()
            for job_id, status in rows:
                if status == JobStatus.AWAITING_CONFIRMATION:
                    try:
                        confirm(job_id, None)
                    except ReconError:
                        db.session.rollback()
                if status not in ACTIVE_JOB_STATUSES:
                    self.awaiting.discard(job_id)

        if self.awaiting:
            guarded(self.app, confirm_all)


@dataclass
class Cancel:
    """A cancel the soak made: the job's sent mark just after it, and the records it found with their product written."""

    job_id: int
    sent_through: int
    partly_written: list[int]


class FlowLoad:
    """Beside the launcher: one large job at a time, small jobs every few seconds, cancels of running BOM jobs.

    The large job is far bigger than a window; with flow control the small jobs started beside it
    queue behind at most a window of it, so they end while it still runs. The cancels hit BOM jobs
    mid-run, mostly ones with records whose product is written and whose components are not.
    """

    def __init__(self, app: Flask, rng: random.Random) -> None:
        self.app, self.rng = app, rng
        self.large: list[int] = []
        self.large_ids: set[int] = set()  # the same set as the launcher's: it counts only their records in flight
        self.small: list[int] = []
        self.cancels: dict[int, Cancel] = {}
        now = time.monotonic()
        self.next_small = now + rng.uniform(*SMALL_EVERY)
        self.next_cancel = now + rng.uniform(*CANCEL_EVERY)

    def tick(self, end: float) -> None:
        """Start a large job if none runs and time is left; a small job and a cancel when each is due."""
        now = time.monotonic()
        if end - now > LARGE_MIN_LEFT and guarded(self.app, self.large_running) is False:
            self.launch_large()
        if now >= self.next_small and self.small_slot_free():
            self.launch_small()
            self.next_small = now + self.rng.uniform(*SMALL_EVERY)
        if now >= self.next_cancel:
            self.cancel_bom_job()
            self.next_cancel = now + self.rng.uniform(*CANCEL_EVERY)

    def large_running(self) -> bool:
        """True while the last large job has not ended."""
        if not self.large:
            return False
        status = db.session.execute(db.select(Job.status).where(Job.id == self.large[-1])).scalar_one()
        return status in (*ACTIVE_JOB_STATUSES, JobStatus.AWAITING_CONFIRMATION)

    def small_slot_free(self) -> bool:
        """True when fewer than SMALL_AT_ONCE small jobs are running (False while PostgreSQL does not answer)."""
        running = guarded(
            self.app,
            lambda: db.session.execute(
                db.select(db.func.count()).select_from(Job).where(Job.id.in_(self.small), Job.finished_at.is_(None))
            ).scalar_one(),
        )
        return running is not None and running < SMALL_AT_ONCE

    def launch_large(self) -> None:
        """A job of LARGE_RECORDS, a BOM job first, then a PO job, and so on."""
        from webapp.jobs.launch import launch_job

        kind = LARGE_KINDS[len(self.large) % len(LARGE_KINDS)]
        keys = large_keys(kind)
        job_id = guarded(self.app, lambda: launch_job(kind, "upload", keys, None, input_name="soak-large.csv").id)
        if job_id is not None:
            self.large.append(job_id)
            self.large_ids.add(job_id)

    def launch_small(self) -> None:
        """A PO or BOM job of 5-20 records."""
        from webapp.jobs.launch import launch_job

        size = self.rng.randint(*SMALL_RECORDS)
        if self.rng.random() < 0.5:
            first = erp_data.PO_FIRST + self.rng.randrange(erp_data.PO_COUNT - size)
            kind, keys = "purchase_orders", [f"PO-{n}" for n in range(first, first + size)]
        else:
            first = erp_data.PRODUCT_FIRST + self.rng.randrange(PRODUCT_WINDOW - size)
            kind, keys = "bills_of_materials", [f"P-{n}" for n in range(first, first + size)]
        job_id = guarded(self.app, lambda: launch_job(kind, "upload", keys, None, input_name="soak-small.csv").id)
        if job_id is not None:
            self.small.append(job_id)

    def cancel_bom_job(self) -> None:
        """Cancel a running BOM job of the launcher's, mostly one with records whose product is written."""
        candidates = guarded(self.app, self.running_bom_jobs)
        if not candidates:
            return
        partly = [job_id for job_id, written in candidates if written]
        pool = partly if partly and self.rng.random() < CANCEL_PARTLY_WRITTEN else [job_id for job_id, _ in candidates]
        job_id = self.rng.choice(pool)
        cancel = guarded(self.app, lambda: cancel_and_read(job_id))
        if cancel is not None:
            self.cancels[job_id] = cancel

    def running_bom_jobs(self) -> list[tuple[int, int]]:
        """(job, records with their product written and their components not) of the launcher's running BOM jobs
        (not the small jobs, whose waits are measured, nor the large one, cancelled at the end of the load)."""
        partly = db.func.count(JobRecord.id).filter(JobRecord.erp_ref.is_not(None), JobRecord.state.not_in(TERMINAL_RECORD_STATES))
        rows = db.session.execute(
            db.select(Job.id, partly)
            .join(JobRecord, JobRecord.job_id == Job.id)
            .where(
                Job.kind == "bills_of_materials",
                Job.status == JobStatus.RUNNING,
                Job.cancel_requested_at.is_(None),
                Job.id.not_in(self.small + self.large or [0]),
            )
            .group_by(Job.id)
            .order_by(Job.id)
        ).all()
        return [(job_id, written) for job_id, written in rows]

    def cancel_large(self) -> None:
        """Cancel the large job still running at the end of the load (retried while PostgreSQL does not answer)."""

        def cancelled() -> bool:
            running = guarded(self.app, self.large_running)
            if running is False:
                return True
            job_id = self.large[-1]
            cancel = guarded(self.app, lambda: cancel_and_read(job_id)) if running else None
            if cancel is not None:
                self.cancels[job_id] = cancel
            return cancel is not None

        try:
            wait_for(cancelled, timeout=30, interval=1.0, message="the large job's cancel")
        except AssertionError as exc:
            say(f"load: {exc}")

    def small_waits(self) -> list[float]:
        """Seconds from launch to end of each small job that ended, in launch order."""
        rows = db.session.execute(
            db.select(Job.created_at, Job.finished_at).where(Job.id.in_(self.small), Job.finished_at.is_not(None)).order_by(Job.id)
        ).all()
        return [(finished - created).total_seconds() for created, finished in rows]

    def progress(self) -> str:
        """The large job's records ended so far, and the small jobs' waits."""
        parts = []
        if self.large:
            ended = db.session.execute(
                db.select(db.func.count())
                .select_from(JobRecord)
                .where(JobRecord.job_id == self.large[-1], JobRecord.state.in_(TERMINAL_RECORD_STATES))
            ).scalar_one()
            parts.append(f"large #{self.large[-1]} {ended:,}/{LARGE_RECORDS:,} ended")
        return "  ".join(parts + [f"small jobs: {wait_summary(self.small_waits())}"])


def large_keys(kind: str) -> list[str]:
    """LARGE_RECORDS keys: each one the sandbox knows followed by one it does not (well formed, "not found").
    Its POs are all of the sandbox's; its products start past those the launcher uses, so most are new."""
    if kind == "purchase_orders":
        pairs = [(f"PO-{erp_data.PO_FIRST + n}", f"PO-{200_000 + n}") for n in range(LARGE_RECORDS // 2)]
    else:
        pairs = [(f"P-{erp_data.PRODUCT_FIRST + PRODUCT_WINDOW + n}", f"P-{20_000 + n}") for n in range(LARGE_RECORDS // 2)]
    return [key for pair in pairs for key in pair]


def wait_summary(waits: list[float]) -> str:
    """How many small jobs ended and their waits' median and maximum."""
    if not waits:
        return "none ended"
    return f"{len(waits)} ended, wait p50 {statistics.median(waits):.1f} s, max {max(waits):.1f} s"


def cancel_and_read(job_id: int) -> Cancel | None:
    """Cancel the job as an operator would; read its sent mark and its records with their product written
    right after (nothing can move the mark once the cancel committed). None if it had ended meanwhile."""
    from webapp.jobs.control import ControlError, cancel_job

    try:
        cancel_job(job_id, None)
    except ControlError:
        db.session.rollback()
        return None
    sent_through = db.session.execute(db.select(Job.sent_through).where(Job.id == job_id)).scalar_one()
    partly = (
        db.session.execute(
            db.select(JobRecord.id).where(
                JobRecord.job_id == job_id, JobRecord.erp_ref.is_not(None), JobRecord.state.not_in(TERMINAL_RECORD_STATES)
            )
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    return Cancel(job_id, sent_through, list(partly))


@dataclass
class Peak:
    """The most of one job the broker was seen to hold: messages, records, and records not ended yet."""

    messages: int = 0
    records: int = 0
    unfinished: int = 0


class BrokerWatch(threading.Thread):
    """Reads the broker every SAMPLE_SECONDS and keeps, per job, the most of it seen there at once.

    A record's chain has one message at a time, but a message outlives its record's end until the
    worker acknowledges it, and redeliveries and the sweeper's resends can queue a record twice. So
    the window bounds the records that are still to run: those seen in the broker whose state is
    not final when read just after (each was sent and unfinished then, so in flight at once).
    """

    def __init__(self, services: Services) -> None:
        super().__init__(name="soak-broker", daemon=True)
        self.services = services
        self.client = redis.Redis.from_url(services.redis.url, socket_timeout=5)  # Redis restarts on the same port
        self.stopping = threading.Event()
        self.peaks: dict[int, Peak] = {}
        self.queues: Counter[str] = Counter()  # the longest each queue was seen
        self.samples = 0

    def run(self) -> None:
        """Sample until stopped."""
        while not self.stopping.wait(SAMPLE_SECONDS):  # the sampling period
            self.sample()

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self.stopping.set()
        self.join(timeout=30)

    def sample(self) -> None:
        """One look at the broker; skipped while Redis or PostgreSQL does not answer."""
        try:
            seen = broker_records(self.client)
            lengths = queue_lengths(self.client)
        except redis.RedisError:
            return
        ids = [record_id for _, records in seen.values() for record_id in records]
        unfinished = guarded(self.services.app, lambda: unfinished_by_job(ids))
        if unfinished is None:
            return
        self.samples += 1
        for queue, length in lengths.items():
            self.queues[queue] = max(self.queues[queue], length)
        for job_id, (messages, records) in seen.items():
            peak = self.peaks.setdefault(job_id, Peak())
            peak.messages = max(peak.messages, messages)
            peak.records = max(peak.records, len(records))
            peak.unfinished = max(peak.unfinished, unfinished.get(job_id, 0))


def broker_messages(client: redis.Redis) -> Iterator[dict[str, Any]]:
    """Every message in the broker: queued on any queue, or delivered and not acknowledged."""
    for key in client.scan_iter(_type="list", count=1000):
        for raw in client.lrange(key, 0, -1):
            try:
                yield json.loads(raw)
            except ValueError:
                continue
    for raw in client.hvals("unacked"):
        yield json.loads(raw)[0]


def queue_lengths(client: redis.Redis) -> dict[str, int]:
    """Messages waiting on each queue (priority lists counted with their queue), and delivered but unacknowledged."""
    lengths: Counter[str] = Counter()
    for key in client.scan_iter(_type="list", count=1000):
        lengths[key.decode(errors="replace").split("\x06")[0]] += client.llen(key)
    lengths["unacked"] = client.hlen("unacked")
    return dict(lengths)


def broker_records(client: redis.Redis) -> dict[int, tuple[int, set[int]]]:
    """Per job: its messages in the broker, and the records they are steps of (kombu's body is
    base64 of JSON [args, kwargs, embed]; every task of a job takes job_id as a keyword)."""
    seen: dict[int, tuple[int, set[int]]] = {}
    for message in broker_messages(client):
        job_id, record_id = task_ids(message)
        if job_id is None:
            continue
        messages, records = seen.get(job_id, (0, set()))
        if record_id is not None:
            records.add(record_id)
        seen[job_id] = (messages + 1, records)
    return seen


def unfinished_by_job(record_ids: list[int]) -> dict[int, int]:
    """Per job, how many of these records are not final."""
    if not record_ids:
        return {}
    rows = db.session.execute(
        db.select(JobRecord.job_id, db.func.count())
        .where(JobRecord.id.in_(record_ids), JobRecord.state.not_in(TERMINAL_RECORD_STATES))
        .group_by(JobRecord.job_id)
    ).all()
    db.session.rollback()
    return dict(rows)


def unfinished_records(large: set[int] | None = None) -> int:
    """Records not final yet; of the ``large`` jobs only those sent (in flight), not those still to send.

    The launcher's pace counts what is in the broker or running, so the large job takes its window's
    share of it instead of stopping the launcher (its unsent records) or adding a window on top:
    a queue longer than STUCK_AFTER of work makes the sweeper take every waiting job for stalled.
    """
    query = (
        db.select(db.func.count())
        .select_from(JobRecord)
        .join(Job, Job.id == JobRecord.job_id)
        .where(JobRecord.state.not_in(TERMINAL_RECORD_STATES))
    )
    if large:
        query = query.where(db.or_(JobRecord.job_id.not_in(large), JobRecord.seq <= Job.sent_through))
    return db.session.execute(query).scalar_one()


def active_jobs() -> int:
    """Jobs not ended yet (queued, running, or waiting for their confirmation)."""
    return db.session.execute(
        db.select(db.func.count()).select_from(Job).where(Job.status.in_([*ACTIVE_JOB_STATUSES, JobStatus.AWAITING_CONFIRMATION]))
    ).scalar_one()


def progress_line(app: Flask, started: float, launcher: Launcher, flow: FlowLoad, faults: Faults) -> str:
    """Two lines on how far the run is: the whole load, then the large job beside the small ones."""
    records = guarded(app, lambda: db.session.execute(db.select(db.func.count()).select_from(JobRecord)).scalar_one())
    unfinished = guarded(app, unfinished_records)
    shown = ["?" if value is None else value for value in (records, unfinished)]
    return (
        f"{time.monotonic() - started:5.0f} s  jobs {sum(launcher.launched.values())}  records {shown[0]}"
        f" ({shown[1]} unfinished)  kills {faults.done['kill']}"
        f"  redis restarts {faults.done['redis']}  postgres restarts {faults.done['postgres']}"
        f"\n        {guarded(app, flow.progress) or '?'}  BOM jobs cancelled {len(flow.cancels)}"
    )


def run_load(services: Services, minutes: float, seed: int) -> tuple[Launcher, FlowLoad, Faults, datetime]:
    """Launch jobs for ``minutes`` while the fault thread strikes, then cancel the large job still
    running; return the launchers and the faults, and when the faults stopped."""
    flow = FlowLoad(services.app, random.Random(seed + 2))
    launcher = Launcher(services.app, random.Random(seed), flow.large_ids)
    faults = Faults(services, random.Random(seed + 1), minutes * 60)
    started = time.monotonic()
    end, next_report = started + minutes * 60, started + 30
    faults.start()
    try:
        while time.monotonic() < end:
            services.supervise()
            launcher.tick()
            flow.tick(end)
            if time.monotonic() >= next_report:
                say(progress_line(services.app, started, launcher, flow, faults))
                next_report += 30
            time.sleep(0.2)  # the launcher's polling interval
    finally:
        faults.stopping.set()
        faults.join(timeout=120)
    flow.cancel_large()
    return launcher, flow, faults, utcnow()


def open_runs(before: datetime) -> int:
    """Task runs still STARTED that began before ``before``."""
    return db.session.execute(
        db.select(db.func.count()).select_from(TaskRun).where(TaskRun.state == "STARTED", TaskRun.started_at < before)
    ).scalar_one()


def drain(services: Services, launcher: Launcher, faults_ended: datetime) -> float:
    """Wait until every job has ended (confirming previews on the way) and every run begun under faults
    has ended or been declared lost by the sweeper; return the seconds it took."""
    started = time.monotonic()

    def settled() -> bool:
        services.supervise()
        launcher.confirm_ready()
        return guarded(services.app, active_jobs) == 0 and guarded(services.app, lambda: open_runs(faults_ended)) == 0

    try:
        wait_for(settled, timeout=DRAIN_SECONDS, interval=1.0, message="every job and run begun under faults to end")
    except AssertionError as exc:
        say(f"drain: {exc}")
    return time.monotonic() - started


def unacked(redis_url: str) -> tuple[int, int]:
    """(HLEN unacked, ZCARD unacked_index) of the broker: messages delivered but not acknowledged."""
    client = redis.Redis.from_url(redis_url)
    return client.hlen("unacked"), client.zcard("unacked_index")


def unacked_messages(redis_url: str) -> list[str]:
    """What the unacked messages are: task, id, queue and how long ago each was delivered."""
    client = redis.Redis.from_url(redis_url)
    delivered = dict(client.zrange("unacked_index", 0, -1, withscores=True))
    found = []
    for tag, raw in client.hgetall("unacked").items():
        message, _, queue = json.loads(raw)
        headers = message.get("headers", {})
        age = time.time() - delivered[tag] if tag in delivered else float("nan")
        found.append(f"{headers.get('task')} {headers.get('id')} on {queue}, delivered {age:.0f} s ago")
    if found and client.exists("unacked_mutex"):  # a worker killed mid-restore blocks every restore until it expires
        found.insert(0, f"the restore mutex is held for {client.ttl('unacked_mutex')} s more")
    return found


def stop_workers(services: Services) -> tuple[tuple[int, int], list[str]]:
    """Stop beat, let the workers take back what killed workers held, stop them warm; return what stays unacked."""
    beat = services.workers.processes.pop(services.beat)
    beat.terminate()
    beat.wait(timeout=30)

    def redelivered() -> bool:
        services.supervise()
        return unacked(services.redis.url) == (0, 0)

    try:
        wait_for(redelivered, timeout=VISIBILITY * 3, interval=1.0, message="killed workers' messages to be redelivered")
    except AssertionError as exc:
        say(f"drain: {exc}")
    services.workers.stop_all()
    return unacked(services.redis.url), unacked_messages(services.redis.url)


@dataclass
class Check:
    """One ledger check: what must hold, how many problems it found, and the first few of them."""

    name: str
    problems: int
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return self.problems == 0


# (what, table, natural key): each key must appear once, however many jobs wrote it.
NATURAL_KEYS = (
    ("PO numbers", "erp_purchase_orders", "po_number"),
    ("PO lines", "erp_purchase_order_lines", "purchase_order_id, line_no"),
    ("product codes", "erp_products", "product_code"),
    ("(product, component) pairs", "erp_components", "product_id, component_code"),
    ("(settlement, state, job) sales orders", "erp_sales_orders", "settlement_id, state, job_id"),
    ("sales order lines", "erp_sales_order_lines", "sales_order_id, line_no"),
)


def sql_rows(sql: str) -> list[Any]:
    """Every row of a query."""
    return list(db.session.execute(db.text(sql)).all())


def sql_value(sql: str) -> Any:
    """The single value of a query."""
    return db.session.execute(db.text(sql)).scalar_one()


def sql_list(values: tuple[str, ...]) -> str:
    """Our own constants as a SQL list literal."""
    return ", ".join(f"'{value}'" for value in values)


def none_found(name: str, sql: str) -> Check:
    """A check that holds when the query finds no rows; each row found is a problem."""
    found = sql_rows(sql)
    return Check(name, len(found), [" ".join(map(str, row)) for row in found[:5]])


def succeeded(kind: str, effect_sql: str) -> list[Any]:
    """(key, erp_ref, payload, effect columns...) of the succeeded records of ``kind``, the effect left-joined."""
    return sql_rows(
        f"SELECT r.key, r.erp_ref, r.payload, e.* FROM job_records r JOIN jobs j ON j.id = r.job_id "
        f"LEFT JOIN {effect_sql} WHERE j.kind = '{kind}' AND r.state = 'succeeded'"
    )


def po_effects() -> Check:
    """Every succeeded PO record has the PO its erp_ref names, with the ERP's lines and total."""
    lines: dict[str, list[tuple]] = {}
    for number, *line in sql_rows(
        "SELECT po.po_number, l.line_no, l.sku, l.quantity, l.unit_price_cents "
        "FROM erp_purchase_order_lines l "
        "JOIN erp_purchase_orders po ON po.id = l.purchase_order_id ORDER BY po.po_number, l.line_no"
    ):
        lines.setdefault(number, []).append(tuple(line))
    problems = []
    for row in succeeded("purchase_orders", "erp_purchase_orders e ON e.po_number = r.key"):
        sent = erp_data.purchase_order(row.key)
        expected = [(n["line_no"], n["sku"], n["quantity"], n["unit_price_cents"]) for n in sent["lines"]]
        made = row.id is not None and row.erp_ref == str(row.id)
        if not made or row.total_cents != sent["total_cents"] or lines.get(row.key) != expected:
            problems.append(f"{row.key}: PO {row.id} (record says {row.erp_ref}) is not the ERP's")
    return Check("every succeeded PO record has its PO, as the ERP sent it", len(problems), problems[:5])


def bom_effects() -> Check:
    """Every succeeded BOM record has the product its erp_ref names, with the ERP's components."""
    components: dict[str, set[tuple]] = {}
    for code, *component in sql_rows(
        "SELECT p.product_code, c.component_code, c.quantity FROM erp_components c JOIN erp_products p ON p.id = c.product_id"
    ):
        components.setdefault(code, set()).add(tuple(component))
    problems = []
    for row in succeeded("bills_of_materials", "erp_products e ON e.product_code = r.key"):
        sent = erp_data.bill_of_materials(row.key)
        expected = {(c["component_code"], c["quantity"]) for c in sent["components"]}
        made = row.id is not None and row.erp_ref == str(row.id)
        if not made or row.name != sent["name"] or components.get(row.key) != expected:
            problems.append(f"{row.key}: product {row.id} (record says {row.erp_ref}) is not the ERP's")
    return Check("every succeeded BOM record has its product and components, as the ERP sent them", len(problems), problems[:5])


def sales_order_effects() -> Check:
    """Every sales order equals its lines; each (settlement, state) holds every confirmed transaction once."""
    from webapp.reconciliation.ledger.checks import invariant_problems

    problems = invariant_problems()
    return Check("the ERP's sales orders hold each confirmed transaction once", len(problems), problems[:5])


def cancelled_wrote_nothing() -> Check:
    """No cancelled record has an ERP row written by its own job. A row names the job that inserted
    it; another job's record may write the same key, which says nothing of this one."""
    cancelled = sql_value("SELECT count(*) FROM job_records WHERE state = 'cancelled'")
    check = none_found(
        f"no cancelled record has ERP rows of its job ({cancelled:,} cancelled records)",
        "SELECT r.job_id, j.kind, r.key FROM job_records r JOIN jobs j ON j.id = r.job_id WHERE r.state = 'cancelled' AND ("
        "(j.kind = 'purchase_orders' AND EXISTS (SELECT 1 FROM erp_purchase_orders e "
        "WHERE e.po_number = r.key AND e.job_id = r.job_id)) OR (j.kind = 'bills_of_materials' AND EXISTS "
        "(SELECT 1 FROM erp_products e WHERE e.product_code = r.key AND e.job_id = r.job_id))) ORDER BY r.id",
    )
    if not cancelled:
        check.problems += 1
        check.examples.append("no record was cancelled: the check saw nothing")
    return check


def products_whole() -> Check:
    """Every product in the ERP has exactly the components its bill of materials lists, whichever
    job wrote it and however that job ended (a cancel never leaves half a record)."""
    have: dict[str, set[tuple]] = {}
    for code, component, quantity in sql_rows(
        "SELECT p.product_code, c.component_code, c.quantity FROM erp_products p LEFT JOIN erp_components c ON c.product_id = p.id"
    ):
        have.setdefault(code, set())
        if component is not None:
            have[code].add((component, quantity))
    problems = []
    for code, components in sorted(have.items()):
        bom = erp_data.bill_of_materials(code)
        expected = {(c["component_code"], c["quantity"]) for c in bom["components"]} if bom else set()
        if components != expected:
            missing = ", ".join(sorted(component for component, _ in expected - components))
            problems.append(f"{code}: {len(components)} components, its BOM lists {len(expected)} (missing: {missing or '-'})")
    return Check(f"every product in the ERP has the components its BOM lists ({len(have):,} products)", len(problems), problems[:5])


def sent_nothing_after_cancel(cancels: dict[int, Cancel]) -> Check:
    """Each job the soak cancelled ended with the sent mark it had just after its cancel."""
    ended = dict(sql_rows(f"SELECT id, sent_through FROM jobs WHERE id IN ({', '.join(map(str, cancels)) or '0'})"))
    problems = [
        f"job #{c.job_id}: sent through seq {c.sent_through} at its cancel, {ended.get(c.job_id)} at its end"
        for c in cancels.values()
        if ended.get(c.job_id) != c.sent_through
    ]
    if not cancels:
        problems.append("no job was cancelled: the check saw nothing")
    return Check(f"a cancelled job sends nothing after its cancel ({len(cancels)} cancels)", len(problems), problems[:5])


def broker_window(peaks: dict[int, Peak], samples: int, window: int, large: list[int]) -> Check:
    """No job ever had more than a window of records still to run in the broker; the large job was seen there."""
    problems = [
        f"job #{job_id}: {peak.unfinished} records still to run in the broker at once"
        for job_id, peak in sorted(peaks.items())
        if peak.unfinished > window
    ]
    if not any(job_id in peaks for job_id in large):
        problems.append(f"no large job was seen in the broker in {samples} samples: the check saw nothing")
    return Check(
        f"the broker never held more than a window ({window}) of a job's records still to run ({samples} samples)",
        len(problems),
        problems[:5],
    )


@dataclass
class Beside:
    """Small jobs launched while a large job ran: how many, how many ended before it ended or was
    cancelled, the bound on their waits, and the problems."""

    launched: int = 0
    ended_during: int = 0
    bound: float = 0.0
    problems: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)  # over the bound: printed, not failed (see small_beside_large)


def wait_bound(window: int) -> float:
    """Seconds a small job may take: the records ahead of it at the run's own pace, plus FAULT_ALLOWANCE.

    Ahead of a small job are at most the launcher's unfinished records and a window of each large
    job (one at a time), whatever the large job's size: that is what flow control promises.
    """
    ended = db.session.execute(
        db.select(db.func.count()).select_from(JobRecord).where(JobRecord.state != RecordState.CANCELLED)
    ).scalar_one()
    first, last = db.session.execute(db.select(db.func.min(Job.created_at), db.func.max(Job.finished_at))).one()
    seconds = (last - first).total_seconds() if first and last else 0.0
    pace = ended / max(seconds, 1.0)
    return (MAX_UNFINISHED + window + SMALL_RECORDS[1]) / max(pace, 1.0) + FAULT_ALLOWANCE


def job_spans(job_ids: list[int]) -> list[tuple[int, datetime, datetime | None]]:
    """(id, launched, ended or cancelled, whichever came first) of these jobs, in id order."""
    rows = db.session.execute(
        db.select(Job.id, Job.created_at, Job.finished_at, Job.cancel_requested_at).where(Job.id.in_(job_ids)).order_by(Job.id)
    ).all()
    return [
        (job_id, created, min((moment for moment in (finished, cancelled) if moment), default=None))
        for job_id, created, finished, cancelled in rows
    ]


def small_beside_large(small: list[int], large: list[int], window: int) -> Beside:
    """Each small job launched while a large job ran ended, and some ended while the large one still
    ran uncancelled (without flow control they would all queue behind it).

    A small job slower than the bound is listed with the figures, not failed: the faults of a short
    run (Redis emptied, PostgreSQL restarted, SIGKILLs) can all strike while one small job waits,
    and the run's average pace does not see that, so the bound is a yardstick, not a promise.
    """
    spans = job_spans(large)
    beside = Beside(bound=wait_bound(window))
    smalls = db.session.execute(db.select(Job.id, Job.created_at, Job.finished_at).where(Job.id.in_(small)).order_by(Job.id)).all()
    for job_id, created, finished in smalls:
        big = next(((big_id, ended) for big_id, since, ended in spans if since <= created and (ended is None or created < ended)), None)
        if big is None:
            continue
        beside.launched += 1
        if finished is None:
            beside.problems.append(f"small job #{job_id} did not end")
            continue
        big_id, big_ended = big
        if big_ended is None or finished <= big_ended:
            beside.ended_during += 1
        if (finished - created).total_seconds() > beside.bound:
            beside.slow.append(f"small job #{job_id} took {(finished - created).total_seconds():.0f} s (large job #{big_id} beside it)")
    if not beside.launched:
        beside.problems.append("no small job was launched while a large job ran: the check saw nothing")
    elif not beside.ended_during:
        beside.problems.append(f"none of the {beside.launched} small jobs ended before the large job beside it ended or was cancelled")
    return beside


def flow_checks(flow: FlowLoad, watch: BrokerWatch, window: int) -> tuple[list[Check], Beside]:
    """The ledger's checks of flow control and whole records, and the small jobs beside the large ones."""
    beside = small_beside_large(flow.small, flow.large, window)
    checks = [
        Check(
            f"small jobs launched beside a large job all ended, some while it still ran ({beside.ended_during} of {beside.launched})",
            len(beside.problems),
            beside.problems[:5],
        ),
        cancelled_wrote_nothing(),
        products_whole(),
        sent_nothing_after_cancel(flow.cancels),
        broker_window(watch.peaks, watch.samples, window, flow.large),
    ]
    return checks, beside


def flow_figures(flow: FlowLoad, watch: BrokerWatch, window: int, beside: Beside) -> list[str]:
    """The large jobs, the small jobs' waits, the cancels and the broker's peaks, as printed."""
    lines = []
    for job_id in flow.large:
        job = db.session.get(Job, job_id)
        seconds = (job.finished_at - job.created_at).total_seconds() if job.finished_at else 0.0
        states = ", ".join(
            f"{state} {count:,}"
            for state, count in sql_rows(
                f"SELECT state, count(*) FROM job_records WHERE job_id = {int(job_id)} GROUP BY state ORDER BY state"
            )
        )
        peak = watch.peaks.get(job_id, Peak())
        lines.append(
            f"Large job #{job_id} ({job.kind}, {LARGE_RECORDS:,} keys, half unknown to the ERP): {job.status} in "
            f"{seconds:.0f} s, sent {job.sent_through:,} ({states}); broker peak {peak.unfinished} records "
            f"still to run, {peak.records} records and {peak.messages} messages in all (window {window})"
        )
    queues = ", ".join(f"{queue} {length:,}" for queue, length in sorted(watch.queues.items()))
    lines.append(f"Broker, the most messages seen at once: {queues or 'none'}")
    lines.append(
        f"Small jobs ({SMALL_RECORDS[0]}-{SMALL_RECORDS[1]} records, launch to end): {len(flow.small)} launched, "
        f"{wait_summary(flow.small_waits())}; {beside.launched} launched beside a large job, "
        f"{beside.ended_during} of them ended before it ended or was cancelled; bound {beside.bound:.0f} s"
        + (f", over it: {'; '.join(beside.slow)}" if beside.slow else "")
    )
    mid_run = [cancel for cancel in flow.cancels.values() if cancel.job_id not in flow.large_ids]
    at_end = [cancel for cancel in flow.cancels.values() if cancel.job_id in flow.large_ids]
    lines.append(
        f"Cancels: {len(mid_run)} BOM jobs mid-run, {sum(bool(c.partly_written) for c in mid_run)} of them "
        f"with {caught_records(mid_run)}; {len(at_end)} large job at the end of the load, with {caught_records(at_end)}"
    )
    return lines


def caught_records(cancels: list[Cancel]) -> str:
    """How many records these cancels found with their product written, and how those records ended."""
    caught = [record_id for cancel in cancels for record_id in cancel.partly_written]
    fates = ", ".join(
        f"{state} {count}"
        for state, count in sql_rows(
            f"SELECT state, count(*) FROM job_records WHERE id IN ({', '.join(map(str, caught)) or '0'}) GROUP BY state ORDER BY state"
        )
    )
    return f"{len(caught)} records whose product was written (they ended: {fates or '-'})"


def ledger_checks() -> list[Check]:
    """The ledger invariants, read from the database once the workers have stopped."""
    from webapp.models import TERMINAL_JOB_STATUSES

    jobs_ended, records_ended = sql_list(TERMINAL_JOB_STATUSES), sql_list(TERMINAL_RECORD_STATES)
    checks = [
        none_found("every job terminal", f"SELECT id, kind, status FROM jobs WHERE status NOT IN ({jobs_ended}) ORDER BY id"),
        none_found(
            "every record terminal",
            "SELECT r.id, j.kind, r.key, r.state FROM job_records r "
            f"JOIN jobs j ON j.id = r.job_id WHERE r.state NOT IN ({records_ended}) ORDER BY r.id",
        ),
        none_found(
            "every reconciliation file read and confirmed (or with nothing new)",
            "SELECT j.id, j.status, j.error "
            "FROM jobs j LEFT JOIN recon_imports u ON u.job_id = j.id WHERE j.kind = 'reconciliation' "
            "AND u.confirmed_at IS NULL AND j.status <> 'succeeded' ORDER BY j.id",
        ),
    ]
    checks += [
        none_found(f"no duplicate {what}", f"SELECT {key}, count(*) FROM {table} GROUP BY {key} HAVING count(*) > 1")
        for what, table, key in NATURAL_KEYS
    ]
    checks += [po_effects(), bom_effects(), sales_order_effects()]
    checks.append(
        none_found(
            "no task run left started",
            "SELECT id, task_name, task_id, job_id, record_id, worker, started_at FROM task_runs WHERE state = 'STARTED' ORDER BY id",
        )
    )
    checks.append(
        none_found("no outbox message left pending", "SELECT id, task_name, job_id, last_error FROM outbox WHERE status = 'pending'")
    )
    return checks


def failure(record_id: int, key: str, error: str | None) -> list[str]:
    """A failed record in words: its error, then each of its task runs, then the last traceback."""
    runs = sql_rows(
        f"SELECT task_name, state, attempt, worker, error, traceback FROM task_runs WHERE record_id = {int(record_id)} ORDER BY id"
    )
    lines = [f"Failed record {key}: {error}"]
    lines += [
        f"    {name.rsplit('.', 1)[-1]} {state} (attempt {attempt} on {worker}){': ' + why if why else ''}"
        for name, state, attempt, worker, why, _ in runs
    ]
    trace = next((run[5] for run in reversed(runs) if run[5]), "")
    return lines + [f"      {line}" for line in trace.strip().splitlines()[-4:]]


def figures(large: list[int]) -> dict[str, Any]:
    """What the run did, from the SQL log (failed records listed but the large jobs' POs the ERP does not know)."""
    return {
        "jobs": sql_rows("SELECT kind, status, count(*) FROM jobs GROUP BY kind, status ORDER BY kind, status"),
        "records": sql_rows(
            "SELECT j.kind, r.state, count(*) FROM job_records r JOIN jobs j ON j.id = r.job_id "
            "GROUP BY j.kind, r.state ORDER BY j.kind, r.state"
        ),
        "effects": {
            what: sql_value(f"SELECT count(*) FROM {table}")
            for what, table in (
                ("POs", "erp_purchase_orders"),
                ("products", "erp_products"),
                ("components", "erp_components"),
                ("sales orders", "erp_sales_orders"),
            )
        },
        "resent": sql_value("SELECT coalesce(sum(resent_records), 0) FROM jobs"),
        # Executions of a record's step beyond one (retries excluded): redeliveries after kills, sweeper resends.
        "duplicates": sql_value(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM task_runs "
            "WHERE record_id IS NOT NULL AND state <> 'RETRY' GROUP BY record_id, task_name) runs"
        ),
        "lost_runs": sql_value("SELECT count(*) FROM task_runs WHERE state = 'LOST'"),
        "failures": [
            failure(*row)
            for row in sql_rows(
                f"SELECT id, key, error FROM job_records WHERE state = 'failed' AND job_id NOT IN ({', '.join(map(str, large)) or '0'}) "
                "ORDER BY id LIMIT 5"
            )
        ],
        "runs": sql_value("SELECT count(*) FROM task_runs"),
    }


@dataclass
class Report:
    """The outcome of one soak: what was done, the figures, and the ledger checks."""

    minutes: float
    seed: int
    elapsed: float
    drained: float
    faults: Counter[str]
    launched: Counter[str]
    repeats: int
    crashes: list[str]
    stalls: list[str]
    figures: dict[str, Any]
    checks: list[Check]
    flow: list[str] = field(default_factory=list)  # the large and small jobs, the cancels, the broker's peaks

    @property
    def ok(self) -> bool:
        """True when every check holds."""
        return all(check.ok for check in self.checks)

    @property
    def records(self) -> int:
        """Records of every job."""
        return sum(count for _, _, count in self.figures["records"])

    def text(self) -> str:
        """The figures and the ledger, as printed."""
        f = self.figures
        lines = [
            f"Soak: {self.minutes:g} min of load (seed {self.seed}), drained in {self.drained:.0f} s; "
            f"{self.elapsed:.0f} s in all; {os.cpu_count()} cores",
            f"Faults: {self.faults['kill']} worker SIGKILLs, Redis restarted empty {self.faults['redis']}×, "
            f"PostgreSQL restarted {self.faults['postgres']}× ({OUTAGE_SECONDS:g} s down); "
            f"{len(self.crashes)} workers exited on their own and {len(self.stalls)} stopped taking work while alive; "
            "each was replaced, as a supervisor with a liveness probe would",
            *[f"  {event}" for event in self.crashes + self.stalls],
            f"Jobs launched: {sum(self.launched.values()):,} ({self.repeats} uploads of a file already uploaded)",
        ]
        for title, table in (("Jobs", f["jobs"]), ("Records", f["records"])):
            for kind in sorted({row[0] for row in table}):
                parts = [f"{status} {count:,}" for k, status, count in table if k == kind]
                total = sum(count for k, _, count in table if k == kind)
                lines.append(f"  {title.lower():7} {kind:19} {total:6,}: {', '.join(parts)}")
        lines += self.flow
        lines.append("ERP rows: " + ", ".join(f"{what} {count:,}" for what, count in f["effects"].items()))
        lines.append(
            f"Records re-sent by the sweeper: {f['resent']:,}; duplicate executions (a record's step run again, "
            f"retries aside): {f['duplicates']:,}; runs marked LOST: {f['lost_runs']:,}; task runs: {f['runs']:,}"
        )
        for failed in f["failures"]:
            lines += failed
        lines.append("Ledger:")
        for check in self.checks:
            lines.append(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name}" + ("" if check.ok else f": {check.problems}"))
            lines += [f"          {example}" for example in check.examples]
        lines.append("PASS: nothing lost, nothing twice" if self.ok else "FAILED")
        return "\n".join(lines)


def soak(minutes: float, seed: int = 1, work: Path | None = None, min_records: int = 2000) -> Report:
    """Run the soak for ``minutes`` of load, drain, and check the ledger; return the report."""
    import tempfile

    work = work or Path(tempfile.mkdtemp(prefix="celeriac-soak-"))
    started = time.monotonic()
    with running_services(work) as services:
        say(f"soak: {minutes:g} min of load, seed {seed}, logs in {work / 'logs'}")
        window = int(services.app.config["JOB_WINDOW_RECORDS"])
        watch = BrokerWatch(services)
        watch.start()
        launcher, flow, faults, faults_ended = run_load(services, minutes, seed)
        drained = drain(services, launcher, faults_ended)
        watch.stop()
        broker, leftover = stop_workers(services)
        with services.app.app_context():
            checks = ledger_checks()
            found = figures(flow.large)
            more_checks, beside = flow_checks(flow, watch, window)
            checks += more_checks
            flow_lines = flow_figures(flow, watch, window, beside)
    checks.append(
        Check(
            "the broker's unacked set empty (HLEN unacked, ZCARD unacked_index)",
            sum(broker),
            [] if broker == (0, 0) else [f"unacked {broker[0]}, unacked_index {broker[1]}", *leftover[:8]],
        )
    )
    missed = (faults.done["kill"] == 0) + (faults.done["redis"] != 1) + (faults.done["postgres"] != 1)
    checks.append(
        Check("every fault struck: SIGKILLs, Redis restarted once, PostgreSQL once", missed + len(faults.errors), faults.errors[:5])
    )
    report = Report(
        minutes,
        seed,
        time.monotonic() - started,
        drained,
        faults.done,
        launcher.launched,
        launcher.repeats,
        services.crashes,
        services.stalls,
        found,
        checks,
        flow_lines,
    )
    report.checks.append(
        Check(
            f"at least {min_records:,} records",
            int(report.records < min_records),
            [] if report.records >= min_records else [f"{report.records:,} records"],
        )
    )
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line: run the soak, print the report, exit 1 if a check fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of load and faults (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the job mix and the fault timing (default 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for name in ("werkzeug", "webapp", "celery", "kombu"):  # outages make these log every failed call
        logging.getLogger(name).setLevel(logging.CRITICAL)
    report = soak(args.minutes, args.seed)
    say(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
