"""The services one benchmark section runs against: database, Redis, broker, the app over HTTP, workers.

Uses BENCH_DATABASE_URL / BENCH_REDIS_URL when set (the schema is dropped and migrated again and
the Redis database emptied: never point them at data you keep), else a SQLite file and a private
Redis. The broker is that Redis, or a RabbitMQ virtual host made for the environment
(scripts/bench_brokers.py); results stay in Redis either way, as in a deploy. The app is served
over real HTTP in a thread (the site the viewers poll), and the sandbox ERP the workers call on a
server of its own, as its own process runs it.
"""

import gc
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from devtools.ports import free_port  # noqa: E402
from devtools.schema import migrate_fresh  # noqa: E402
from devtools.waiting import wait_for  # noqa: E402
from devtools.workers import WorkerSet  # noqa: E402
from scripts.bench_brokers import REDIS, Broker, purge_amqp, rabbitmq_vhost, without_broker_choice  # noqa: E402

# The same worker layout as the Procfile: a prefork pool for the database steps, a threads pool
# for the ERP fetches (IO_CONCURRENCY), on two cores.
CELERIAC_WORKERS = (("db", "default,db", "prefork", 2), ("io", "fetch", "threads", 32))
# The environment the benchmark was started with, less any broker choice: each section's services
# start from it, not from what an earlier section added (BENCH_NO_IO, CELERY_EXTRA_IMPORTS, BROKER_URL).
BASE_ENVIRON = without_broker_choice(dict(os.environ))


def scaled(records: int) -> int:
    """A section's record count times BENCH_SCALE (default 1; e.g. 0.05 for a quick check that
    every section runs, whose figures are not comparable with the full ones)."""
    return max(1, round(records * float(os.environ.get("BENCH_SCALE", "1"))))


@dataclass
class BenchEnv:
    """A running set of services; ``app`` talks to the same database and Redis as the workers."""

    work: Path
    env: dict[str, str]
    app: Flask
    base_url: str
    workers: WorkerSet
    nodes: list[str] = field(default_factory=list)

    def start_workers(self, layout: tuple[tuple[str, str, str, int], ...], **extra_env: str) -> None:
        """Start one worker per (name, queues, pool, concurrency) and wait until all answer."""
        self.workers.env = dict(self.env, **extra_env)
        for name, queues, pool, concurrency in layout:
            self.nodes.append(self.workers.start(name, queues=queues, pool=pool, concurrency=concurrency))
        self.workers.wait_ready(timeout=120)

    def stop_workers(self) -> None:
        """Warm-stop every worker (they finish what they hold)."""
        self.workers.stop_all()
        self.nodes.clear()

    def set_chaos(self, **settings: Any) -> None:
        """The sandbox ERP's behaviour: calm, plus what is given (latency_ms, error_rate, …)."""
        from webapp.sandbox import chaos

        with self.app.app_context():
            _, errors = chaos.update_settings({**chaos.CALM, **settings}, "bench")
            if errors:
                raise ValueError(errors)

    def reset_tables(self) -> None:
        """Empty the job log and ERP tables between runs so each run starts alike."""
        from webapp.extensions import db

        with self.app.app_context():
            names = [t.name for t in reversed(db.metadata.sorted_tables) if t.name not in ("operators", "sandbox_settings")]
            for name in names:
                db.session.execute(db.text(f"DELETE FROM {name}"))
            db.session.commit()
        self.purge_queues()

    def purge_queues(self) -> None:
        """Drop queued messages, results and heartbeats left by a previous run (the benchmark's own
        Redis, and its own RabbitMQ virtual host when that is the broker)."""
        import redis

        redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()
        if self.env.get("BROKER_URL"):
            purge_amqp(self.env["BROKER_URL"])

    def wait_job(self, job_id: int, timeout: float = 1800) -> str:
        """Poll the job's status until it is terminal; return it."""
        from webapp.extensions import db
        from webapp.models import TERMINAL_JOB_STATUSES, Job

        def terminal() -> str | None:
            with self.app.app_context():
                status = db.session.get(Job, job_id).status
                db.session.rollback()
            return status if status in TERMINAL_JOB_STATUSES else None

        return wait_for(terminal, timeout=timeout, interval=0.05, message=f"job {job_id}")


def make_app(env: dict[str, str]) -> Flask:
    """The app on a fresh schema of the configured database; this process's environment becomes
    ``env`` (the app reads its settings, broker included, from there)."""
    os.environ.clear()
    os.environ.update(env)
    from webapp.app import create_app

    app = create_app()
    migrate_fresh(app)
    return app


def make_sandbox_app(app: Flask) -> Flask:
    """The sandbox ERP's app on the same database, sharing ``app``'s chaos settings cache so that
    ``set_chaos`` takes effect at the next call."""
    from webapp.sandbox.app import create_sandbox_app
    from webapp.sandbox.chaos import SettingsCache

    sandbox = create_sandbox_app()
    sandbox.extensions["sandbox_settings_cache"] = app.extensions.setdefault("sandbox_settings_cache", SettingsCache())
    return sandbox


def serve(app: Flask, port: int) -> Callable[[], None]:
    """Serve ``app`` over HTTP in a thread (a thread per request); return the function that stops it."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per ERP call would drown the table
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server.shutdown


@contextmanager
def bench_env(broker: Broker = REDIS, **settings: str) -> Iterator[BenchEnv]:
    """Start the services on ``broker`` (plus any extra environment for app and workers); stop them all after."""
    if broker.amqp:
        with rabbitmq_vhost(broker) as url:
            with services(BROKER_URL=url, **settings) as bench:
                yield bench
    else:
        with services(**settings) as bench:
            yield bench


@contextmanager
def services(**settings: str) -> Iterator[BenchEnv]:
    """Start database, Redis, app and sandbox ERP (BROKER_URL in ``settings`` picks the broker, else Redis)."""
    from devtools.localredis import start_private_redis

    work = Path(tempfile.mkdtemp(prefix="celeriac-bench-"))
    redis_server = None if os.environ.get("BENCH_REDIS_URL") else start_private_redis(workdir=str(work))
    port, erp_port = free_port(), free_port()
    env = dict(
        BASE_ENVIRON,
        SECRET_KEY="bench",
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{work / 'bench.db'}",
        REDIS_URL=os.environ.get("BENCH_REDIS_URL") or redis_server.url,
        ERP_API_URL=f"http://127.0.0.1:{erp_port}/sandbox/api",
        SANDBOX_ENABLED="1",
        UPLOAD_FOLDER=str(work / "uploads"),
        COOKIE_SECURE="0",
        **settings,
    )
    app = make_app(env)
    stop_server = serve(app, port)
    stop_erp = serve(make_sandbox_app(app), erp_port)
    bench = BenchEnv(work=work, env=env, app=app, base_url=f"http://127.0.0.1:{port}", workers=WorkerSet(env, work))
    bench.purge_queues()
    try:
        yield bench
    finally:
        bench.stop_workers()
        stop_server()
        stop_erp()
        gc.collect()  # a plain canvas's results, held in cycles, unsubscribe from Redis when freed: while it runs
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)
