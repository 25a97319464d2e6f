"""Soak test: mixed jobs under sustained faults, then the ledger: nothing lost, nothing twice (``make soak``).

For ``--minutes`` it keeps purchase-order, bill-of-materials and reconciliation jobs flowing over
overlapping keys through real workers (a prefork worker on default,db, a threads worker on fetch,
beat), on a private PostgreSQL and a private Redis, against the sandbox ERP served in a thread with
some chaos. Meanwhile a fault thread SIGKILLs a random worker every 5-30 s (and starts a
replacement), restarts Redis empty once and PostgreSQL once. Then it stops launching, waits for
every job to end, stops the workers warm and checks the ledger: every job and record terminal,
every ERP effect present exactly once and as the ERP sent it, no task run left started, no outbox
message pending, the broker's unacked set empty. It prints the figures and exits 1 if a check fails.

    python scripts/soak.py --minutes 10 --seed 1
"""

import argparse
import io
import json
import logging
import os
import random
import signal
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

from scripts.make_date_range_report import write_report  # noqa: E402
from tests.helpers import WorkerSet, free_port, wait_for  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.localpostgres import PrivatePostgres  # noqa: E402
from webapp.localredis import PrivateRedis, start_private_redis  # noqa: E402
from webapp.models import (  # noqa: E402
    ACTIVE_JOB_STATUSES, TERMINAL_RECORD_STATES, Job, JobRecord, JobStatus, TaskRun, utcnow,
)
from webapp.sandbox import data as erp_data  # noqa: E402

T = TypeVar("T")

# The tests' short timeouts, so Redis' redelivery and the sweeper both act within the run.
WORKER_SETTINGS = {
    "ERP_TIMEOUT": "1", "FETCH_BACKOFF_BASE": "0.05", "FETCH_BACKOFF_MAX": "0.5", "FETCH_MAX_RETRIES": "10",
    "BROKER_VISIBILITY_TIMEOUT": "20", "TASK_TIME_LIMIT": "15", "TASK_SOFT_TIME_LIMIT": "12",
    "STUCK_AFTER_SECONDS": "30", "DB_BACKOFF_MAX": "2", "DB_RETRY_MAX": "60", "SWEEP_SECONDS": "3",
    "OUTBOX_RELAY_SECONDS": "1", "HEARTBEAT_SECONDS": "2", "PYTHONUNBUFFERED": "1",
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


def say(text: str) -> None:
    """Print a progress line at once."""
    print(text, flush=True)


def worker_env(database_url: str, redis_url: str, erp_port: int, uploads: Path) -> dict[str, str]:
    """Environment of the worker and beat processes: the private servers and the short timeouts."""
    return dict(os.environ, SECRET_KEY="soak", DATABASE_URL=database_url, REDIS_URL=redis_url,
                ERP_API_URL=f"http://127.0.0.1:{erp_port}/sandbox/api", UPLOAD_FOLDER=str(uploads), **WORKER_SETTINGS)


def make_app(env: dict[str, str]) -> Flask:
    """The soak's own app: it launches and confirms jobs, sets the sandbox's chaos and reads the ledger."""
    from webapp import create_app

    return create_app({
        "SECRET_KEY": env["SECRET_KEY"], "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "REDIS_URL": env["REDIS_URL"],
        "ERP_API_URL": env["ERP_API_URL"], "UPLOAD_FOLDER": env["UPLOAD_FOLDER"],
    })


def make_sandbox_app(env: dict[str, str]) -> Flask:
    """The sandbox ERP the workers call, as its own process runs it (here served in a thread)."""
    from webapp.sandbox.app import create_sandbox_app

    return create_sandbox_app({
        "SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "SANDBOX_ENABLED": True, "SANDBOX_TIMEOUT_SLEEP": 2,
    })


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
                    reason = next((line.strip() for line in log.read_text(errors="replace").splitlines()
                                   if "Unrecoverable error" in line), f"exit code {process.returncode}")
                    self.crashes.append(f"{node}: {reason}")
                    del self.nodes[node], self.workers.processes[node]
                    self.start_worker(kind)
                elif self.stalled(node, kind):
                    self.stalls.append(f"{node}: took no task for {STALL_SECONDS} s with messages waiting "
                                       f"(its threads' stacks are at the end of {node.split('-')[0]}.log)")
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
    from flask_migrate import upgrade

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
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
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
        self.services.redis_servers.append(start_private_redis(port=old.port, workdir=str(self.services.work)))

    def restart_postgres(self) -> None:
        """Stop PostgreSQL (open connections are cut), keep it down a few seconds, start it again."""
        self.services.postgres.stop()
        time.sleep(OUTAGE_SECONDS)  # fault timing: the outage itself
        self.services.postgres.start()


class Launcher:
    """Launches jobs as operators would: POs and BOMs over overlapping keys, Date Range files (some twice)."""

    def __init__(self, app: Flask, rng: random.Random) -> None:
        self.app, self.rng = app, rng
        self.files: list[bytes] = []
        self.awaiting: set[int] = set()  # reconciliation jobs not confirmed yet
        self.launched: Counter[str] = Counter()
        self.repeats = 0

    def tick(self) -> None:
        """Confirm the previews that are ready; launch one job if few records are unfinished."""
        self.confirm_ready()
        unfinished = guarded(self.app, unfinished_records)
        if unfinished is not None and unfinished < MAX_UNFINISHED:
            kind = self.rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
            launch = self.launch_reconciliation if kind == "reconciliation" else lambda: self.launch_keys(kind)
            if guarded(self.app, launch) is not None:
                self.launched[kind] += 1

    def launch_keys(self, kind: str) -> int:
        """A PO or BOM job over a random window of the sandbox's keys (windows overlap across jobs)."""
        from webapp.launch import launch_job

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
        from webapp.reconcile import launch_reconciliation

        index = self.next_file()
        upload = FileStorage(io.BytesIO(self.files[index]), filename=f"soak-date-range-{index}.csv")
        job_id = launch_reconciliation(upload, None, None).id
        self.awaiting.add(job_id)
        return job_id

    def confirm_ready(self) -> None:
        """Confirm each waiting reconciliation whose preview is ready; forget those that ended otherwise."""
        from webapp.reconcile import ReconError, confirm

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


def unfinished_records() -> int:
    """Records of any job not final yet."""
    return db.session.execute(
        db.select(db.func.count()).select_from(JobRecord).where(JobRecord.state.not_in(TERMINAL_RECORD_STATES))
    ).scalar_one()


def active_jobs() -> int:
    """Jobs not ended yet (queued, running, or waiting for their confirmation)."""
    return db.session.execute(
        db.select(db.func.count()).select_from(Job)
        .where(Job.status.in_([*ACTIVE_JOB_STATUSES, JobStatus.AWAITING_CONFIRMATION]))
    ).scalar_one()


def progress_line(app: Flask, started: float, launcher: Launcher, faults: Faults) -> str:
    """One line on how far the run is."""
    records = guarded(app, lambda: db.session.execute(db.select(db.func.count()).select_from(JobRecord)).scalar_one())
    unfinished = guarded(app, unfinished_records)
    shown = ["?" if value is None else value for value in (records, unfinished)]
    return (f"{time.monotonic() - started:5.0f} s  jobs {sum(launcher.launched.values())}  records {shown[0]}"
            f" ({shown[1]} unfinished)  kills {faults.done['kill']}"
            f"  redis restarts {faults.done['redis']}  postgres restarts {faults.done['postgres']}")


def run_load(services: Services, minutes: float, seed: int) -> tuple[Launcher, Faults, datetime]:
    """Launch jobs for ``minutes`` while the fault thread strikes; return both, and when the faults stopped."""
    launcher = Launcher(services.app, random.Random(seed))
    faults = Faults(services, random.Random(seed + 1), minutes * 60)
    started = time.monotonic()
    end, next_report = started + minutes * 60, started + 30
    faults.start()
    try:
        while time.monotonic() < end:
            services.supervise()
            launcher.tick()
            if time.monotonic() >= next_report:
                say(progress_line(services.app, started, launcher, faults))
                next_report += 30
            time.sleep(0.2)  # the launcher's polling interval
    finally:
        faults.stopping.set()
        faults.join(timeout=120)
    return launcher, faults, utcnow()


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
    return sql_rows(f"SELECT r.key, r.erp_ref, r.payload, e.* FROM job_records r JOIN jobs j ON j.id = r.job_id "
                    f"LEFT JOIN {effect_sql} WHERE j.kind = '{kind}' AND r.state = 'succeeded'")


def po_effects() -> Check:
    """Every succeeded PO record has the PO its erp_ref names, with the ERP's lines and total."""
    lines: dict[str, list[tuple]] = {}
    for number, *line in sql_rows("SELECT po.po_number, l.line_no, l.sku, l.quantity, l.unit_price_cents "
                                  "FROM erp_purchase_order_lines l "
                                  "JOIN erp_purchase_orders po ON po.id = l.purchase_order_id ORDER BY po.po_number, l.line_no"):
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
    for code, *component in sql_rows("SELECT p.product_code, c.component_code, c.quantity "
                                     "FROM erp_components c JOIN erp_products p ON p.id = c.product_id"):
        components.setdefault(code, set()).add(tuple(component))
    problems = []
    for row in succeeded("bills_of_materials", "erp_products e ON e.product_code = r.key"):
        sent = erp_data.bill_of_materials(row.key)
        expected = {(c["component_code"], c["quantity"]) for c in sent["components"]}
        made = row.id is not None and row.erp_ref == str(row.id)
        if not made or row.name != sent["name"] or components.get(row.key) != expected:
            problems.append(f"{row.key}: product {row.id} (record says {row.erp_ref}) is not the ERP's")
    return Check("every succeeded BOM record has its product and components, as the ERP sent them",
                 len(problems), problems[:5])


def sales_order_effects() -> Check:
    """Every sales order equals its lines; each (settlement, state) holds every confirmed transaction once."""
    from tasks.ledger_checks import invariant_problems

    problems = invariant_problems()
    return Check("the ERP's sales orders hold each confirmed transaction once", len(problems), problems[:5])


def ledger_checks() -> list[Check]:
    """The ledger invariants, read from the database once the workers have stopped."""
    from webapp.models import TERMINAL_JOB_STATUSES

    jobs_ended, records_ended = sql_list(TERMINAL_JOB_STATUSES), sql_list(TERMINAL_RECORD_STATES)
    checks = [
        none_found("every job terminal", f"SELECT id, kind, status FROM jobs WHERE status NOT IN ({jobs_ended}) ORDER BY id"),
        none_found("every record terminal", "SELECT r.id, j.kind, r.key, r.state FROM job_records r "
                   f"JOIN jobs j ON j.id = r.job_id WHERE r.state NOT IN ({records_ended}) ORDER BY r.id"),
        none_found("every reconciliation file read and confirmed (or with nothing new)", "SELECT j.id, j.status, j.error "
                   "FROM jobs j LEFT JOIN recon_imports u ON u.job_id = j.id WHERE j.kind = 'reconciliation' "
                   "AND u.confirmed_at IS NULL AND j.status <> 'succeeded' ORDER BY j.id"),
    ]
    checks += [none_found(f"no duplicate {what}", f"SELECT {key}, count(*) FROM {table} GROUP BY {key} HAVING count(*) > 1")
               for what, table, key in NATURAL_KEYS]
    checks += [po_effects(), bom_effects(), sales_order_effects()]
    checks.append(none_found("no task run left started", "SELECT id, task_name, task_id, job_id, record_id, worker, "
                             "started_at FROM task_runs WHERE state = 'STARTED' ORDER BY id"))
    checks.append(none_found("no outbox message left pending",
                             "SELECT id, task_name, job_id, last_error FROM outbox WHERE status = 'pending'"))
    return checks


def failure(record_id: int, key: str, error: str | None) -> list[str]:
    """A failed record in words: its error, then each of its task runs, then the last traceback."""
    runs = sql_rows(f"SELECT task_name, state, attempt, worker, error, traceback FROM task_runs "
                    f"WHERE record_id = {int(record_id)} ORDER BY id")
    lines = [f"Failed record {key}: {error}"]
    lines += [f"    {name.rsplit('.', 1)[-1]} {state} (attempt {attempt} on {worker}){': ' + why if why else ''}"
              for name, state, attempt, worker, why, _ in runs]
    trace = next((run[5] for run in reversed(runs) if run[5]), "")
    return lines + [f"      {line}" for line in trace.strip().splitlines()[-4:]]


def figures() -> dict[str, Any]:
    """What the run did, from the SQL log."""
    return {
        "jobs": sql_rows("SELECT kind, status, count(*) FROM jobs GROUP BY kind, status ORDER BY kind, status"),
        "records": sql_rows("SELECT j.kind, r.state, count(*) FROM job_records r JOIN jobs j ON j.id = r.job_id "
                            "GROUP BY j.kind, r.state ORDER BY j.kind, r.state"),
        "effects": {what: sql_value(f"SELECT count(*) FROM {table}") for what, table in (
            ("POs", "erp_purchase_orders"), ("products", "erp_products"), ("components", "erp_components"),
            ("sales orders", "erp_sales_orders"))},
        "resent": sql_value("SELECT coalesce(sum(resent_records), 0) FROM jobs"),
        # Executions of a record's step beyond one (retries excluded): redeliveries after kills, sweeper resends.
        "duplicates": sql_value("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM task_runs "
                                "WHERE record_id IS NOT NULL AND state <> 'RETRY' GROUP BY record_id, task_name) runs"),
        "lost_runs": sql_value("SELECT count(*) FROM task_runs WHERE state = 'LOST'"),
        "failures": [failure(*row) for row in sql_rows(
            "SELECT id, key, error FROM job_records WHERE state = 'failed' ORDER BY id LIMIT 5")],
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
        lines = [f"Soak: {self.minutes:g} min of load (seed {self.seed}), drained in {self.drained:.0f} s; "
                 f"{self.elapsed:.0f} s in all; {os.cpu_count()} cores",
                 f"Faults: {self.faults['kill']} worker SIGKILLs, Redis restarted empty {self.faults['redis']}×, "
                 f"PostgreSQL restarted {self.faults['postgres']}× ({OUTAGE_SECONDS:g} s down); "
                 f"{len(self.crashes)} workers exited on their own and {len(self.stalls)} stopped taking work while alive; "
                 "each was replaced, as a supervisor with a liveness probe would",
                 *[f"  {event}" for event in self.crashes + self.stalls],
                 f"Jobs launched: {sum(self.launched.values()):,} ({self.repeats} uploads of a file already uploaded)"]
        for title, table in (("Jobs", f["jobs"]), ("Records", f["records"])):
            for kind in sorted({row[0] for row in table}):
                parts = [f"{status} {count:,}" for k, status, count in table if k == kind]
                total = sum(count for k, _, count in table if k == kind)
                lines.append(f"  {title.lower():7} {kind:19} {total:6,}: {', '.join(parts)}")
        lines.append("ERP rows: " + ", ".join(f"{what} {count:,}" for what, count in f["effects"].items()))
        lines.append(f"Records re-sent by the sweeper: {f['resent']:,}; duplicate executions (a record's step run again, "
                     f"retries aside): {f['duplicates']:,}; runs marked LOST: {f['lost_runs']:,}; task runs: {f['runs']:,}")
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
        launcher, faults, faults_ended = run_load(services, minutes, seed)
        drained = drain(services, launcher, faults_ended)
        broker, leftover = stop_workers(services)
        with services.app.app_context():
            checks = ledger_checks()
            found = figures()
    checks.append(Check("the broker's unacked set empty (HLEN unacked, ZCARD unacked_index)", sum(broker),
                        [] if broker == (0, 0) else [f"unacked {broker[0]}, unacked_index {broker[1]}", *leftover[:8]]))
    missed = (faults.done["kill"] == 0) + (faults.done["redis"] != 1) + (faults.done["postgres"] != 1)
    checks.append(Check("every fault struck: SIGKILLs, Redis restarted once, PostgreSQL once",
                        missed + len(faults.errors), faults.errors[:5]))
    report = Report(minutes, seed, time.monotonic() - started, drained, faults.done, launcher.launched,
                    launcher.repeats, services.crashes, services.stalls, found, checks)
    report.checks.append(Check(f"at least {min_records:,} records", int(report.records < min_records),
                               [] if report.records >= min_records else [f"{report.records:,} records"]))
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
