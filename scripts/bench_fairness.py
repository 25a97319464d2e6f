"""Many jobs at once: a small job behind a huge one, the broker's footprint, recovery after a crash.

Item 7: a 10-record PO job launched once a 100,000-record PO job is running; seconds from its
launch to its end, against the same two canvases as plain Celery (the whole chord of the big job
published, then the small one's). Item 8: broker messages and Redis ``used_memory`` at their peak
while the 100,000-record job runs, against the same job of 1,000 records. Item 9: seconds from a
SIGKILL of the ``worker`` process group (prefork parent and children, mid-job) until the job is
done, with the default heartbeat, sweep and dead-worker settings.

Items 7 and 8 use no-I/O bodies (scripts/bench_tasks.py, BENCH_NO_IO=1) so that the figures are
the orchestration's, whatever the sandbox ERP knows; item 9 calls the sandbox ERP over HTTP.
Items 7 and 9 run on each broker of BENCH_BROKERS; item 8 reads Redis' queues and memory, so it
runs when Redis is the broker.
"""

import os
import statistics
import threading
import time
from dataclasses import dataclass, field

import redis

from devtools.waiting import wait_for
from scripts.bench_brokers import Broker
from scripts.bench_env import CELERIAC_WORKERS, BenchEnv, bench_env, scaled
from scripts.bench_table import Row, verdict

BIG_RECORDS = int(os.environ.get("BENCH_BIG_RECORDS") or scaled(100_000))
BIG_RUNNING = min(500, BIG_RECORDS // 4)  # records of the big job done before the small one is launched
SMALL_RECORDS = 10
FOOTPRINT_SMALL = scaled(1_000)
# How much of the big job is watched for its footprint: its window is full within seconds, so
# the peak is reached long before; running all 100,000 records would take many minutes.
WATCH_RECORDS = int(os.environ.get("BENCH_WATCH_RECORDS") or scaled(10_000))
PLAIN_SMALL_TIMEOUT = float(os.environ.get("BENCH_PLAIN_TIMEOUT", "1200"))
RECOVERY_RECORDS = scaled(600)
RECOVERY_LATENCY_MS = 50
QUEUES = ("fetch", "db", "default")


@dataclass
class Footprint:
    """The broker's peak while sampled: messages (queued + unacknowledged) and used_memory."""

    messages: int = 0
    used_memory: int = 0
    idle_memory: int = 0
    samples: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def broker_messages(client: redis.Redis, options: dict) -> int:  # type: ignore[type-arg]
    """Messages queued on the workers' queues and delivered but not acknowledged (one round trip)."""
    from webapp.monitoring.queues import read_queues

    queues, unacked = read_queues(client, QUEUES, options)
    return sum(queue.depth for queue in queues) + unacked


def sample(client: redis.Redis, options: dict, footprint: Footprint) -> None:  # type: ignore[type-arg]
    """Keep the peaks until told to stop (every 50 ms)."""
    while not footprint.stop.wait(0.05):
        footprint.messages = max(footprint.messages, broker_messages(client, options))
        footprint.used_memory = max(footprint.used_memory, int(client.info("memory")["used_memory"]))
        footprint.samples += 1


def watching(bench: BenchEnv) -> tuple[Footprint, threading.Thread]:
    """Start sampling the benchmark's Redis (when it is the broker: else a thread that only waits
    for ``stop``); the caller sets ``stop`` and joins."""
    if bench.env.get("BROKER_URL"):
        footprint = Footprint()
        thread = threading.Thread(target=footprint.stop.wait, daemon=True)
        thread.start()
        return footprint, thread
    client = redis.Redis.from_url(bench.env["REDIS_URL"])
    options = bench.app.extensions["celery"].conf.broker_transport_options or {}
    footprint = Footprint(idle_memory=int(client.info("memory")["used_memory"]))
    thread = threading.Thread(target=sample, args=(client, options, footprint), daemon=True)
    thread.start()
    return footprint, thread


def po_keys(count: int, first: int = 100_000) -> list[str]:
    """PO numbers; the no-I/O fetch answers any of them (scripts/bench_tasks.py)."""
    return [f"PO-{first + i:06d}" for i in range(count)]


def launch(bench: BenchEnv, keys: list[str]) -> int:
    """Launch a PO job as an operator would; its id."""
    from webapp.jobs.launch import launch_job

    with bench.app.app_context():
        return launch_job("purchase_orders", "bench", keys, None, input_name="bench").id


def done_records(bench: BenchEnv, job_id: int) -> int:
    """Records of the job in a final state."""
    from webapp.extensions import db
    from webapp.jobs.progress import state_counts

    with bench.app.app_context():
        counts = state_counts([job_id])[job_id]
        db.session.rollback()
    return counts["succeeded"] + counts["failed"] + counts["cancelled"]


def cancel(bench: BenchEnv, job_id: int) -> None:
    """Cancel the job as an operator would."""
    from webapp.jobs.control import cancel_job

    with bench.app.app_context():
        cancel_job(job_id, None)


def celeriac_small_behind_big(bench: BenchEnv) -> tuple[float, Footprint, int]:
    """Items 7 and 8 on Celeriac: seconds for the small job, the big job's footprint, records it did."""
    bench.reset_tables()
    footprint, sampler = watching(bench)
    big = launch(bench, po_keys(BIG_RECORDS))
    wait_for(lambda: done_records(bench, big) >= BIG_RUNNING, timeout=600, interval=0.05, message="the big job to run")
    start = time.perf_counter()
    small = launch(bench, po_keys(SMALL_RECORDS, first=900_000))
    status = bench.wait_job(small, timeout=600)
    small_seconds = time.perf_counter() - start
    if status != "succeeded":
        raise RuntimeError(f"the small job ended {status}")
    wait_for(
        lambda: done_records(bench, big) >= WATCH_RECORDS, timeout=1800, interval=0.05, message=f"{WATCH_RECORDS} records of the big job"
    )
    footprint.stop.set()
    sampler.join()
    did = done_records(bench, big)
    cancel(bench, big)
    bench.wait_job(big, timeout=600)
    return small_seconds, footprint, did


def celeriac_footprint_small(bench: BenchEnv) -> Footprint:
    """Item 8's baseline: the same job of 1,000 records, sampled from launch to end."""
    bench.reset_tables()
    footprint, sampler = watching(bench)
    status = bench.wait_job(launch(bench, po_keys(FOOTPRINT_SMALL)), timeout=600)
    footprint.stop.set()
    sampler.join()
    if status != "succeeded":
        raise RuntimeError(f"the 1,000-record job ended {status}")
    return footprint


def plain_small_behind_big(bench: BenchEnv) -> tuple[float | None, float, Footprint]:
    """Item 7's baseline: the big chord published whole (as plain Celery does), then the small
    one's; seconds for the small chord (None past the timeout), seconds to publish the big one."""
    from celery import chain, chord, group

    celery = bench.app.extensions["celery"]
    fetch, make, body = (celery.signature(name) for name in ("bench.plain_fetch", "bench.plain_make", "bench.plain_finalize"))

    def canvas(count: int, first: int):  # type: ignore[no-untyped-def]
        header = group(
            chain(fetch.clone(args=(first + i,)).set(queue="fetch", immutable=True), make.clone().set(queue="db")) for i in range(count)
        )
        return chord(header, body.clone().set(queue="db"))

    bench.purge_queues()
    footprint, sampler = watching(bench)
    began = time.perf_counter()
    big = canvas(BIG_RECORDS, 0).apply_async()
    published = time.perf_counter() - began
    start = time.perf_counter()
    small = canvas(SMALL_RECORDS, BIG_RECORDS).apply_async()
    try:
        small.get(timeout=PLAIN_SMALL_TIMEOUT, interval=0.05, follow_parents=False)
        small_seconds: float | None = time.perf_counter() - start
    except Exception:  # celery's TimeoutError: past the bound the figure is "more than"
        small_seconds = None
    footprint.stop.set()
    sampler.join()
    big.forget()
    bench.purge_queues()
    return small_seconds, published, footprint


def fairness(repeat: int, broker: Broker) -> list[Row]:
    """Items 7 and 8: a small job behind a 100,000-record one; the broker's footprint against a
    1,000-record job (Redis only: on RabbitMQ item 7 alone)."""
    with bench_env(broker, CELERY_EXTRA_IMPORTS="scripts.bench_tasks", BENCH_NO_IO="1") as bench:
        bench.start_workers(CELERIAC_WORKERS, BENCH_NO_IO="1")
        runs = [celeriac_small_behind_big(bench) for _ in range(repeat)]
        smalls = [] if broker.amqp else [celeriac_footprint_small(bench) for _ in range(repeat)]
        plain_seconds, published, plain_print = plain_small_behind_big(bench)
    small_seconds = statistics.median(run[0] for run in runs)
    plain = f"{plain_seconds:.1f} s" if plain_seconds is not None else f"> {PLAIN_SMALL_TIMEOUT:.0f} s"
    rows = [
        (
            f"plain Celery: {SMALL_RECORDS}-chain chord published after a {BIG_RECORDS:,}-chain chord (baseline, 1 run)",
            plain,
            "",
            f"the big chord took {published:.1f} s to publish"
            + ("" if broker.amqp else f"; broker peak {plain_print.messages:,} messages, {plain_print.used_memory / 2**20:,.1f} MiB"),
        ),
        (
            f"Celeriac: {SMALL_RECORDS}-record PO job launched while a {BIG_RECORDS:,}-record PO job runs",
            f"{small_seconds:.2f} s",
            "",
            f"goal ≤ 10 s ({verdict(small_seconds <= 10)}); runs " + ", ".join(f"{run[0]:.2f}" for run in runs) + " s",
        ),
    ]
    if broker.amqp:
        return rows + [("item 8 (the broker's footprint) not measured on RabbitMQ: its sampler reads Redis' queues and memory", "", "", "")]
    return rows + footprint_rows(runs, smalls)


def footprint_rows(runs: list[tuple[float, Footprint, int]], smalls: list[Footprint]) -> list[Row]:
    """Item 8's rows: the big job's peaks against the 1,000-record job's."""
    big_messages = max(run[1].messages for run in runs)
    big_memory = max(run[1].used_memory for run in runs)
    small_messages = max(footprint.messages for footprint in smalls)
    small_memory = max(footprint.used_memory for footprint in smalls)
    mib = 2**20
    return [
        (
            f"Celeriac broker peak, {BIG_RECORDS:,}-record job (first {min(run[2] for run in runs):,}+ records) "
            f"against {FOOTPRINT_SMALL:,}-record job: messages",
            f"{big_messages:,} / {small_messages:,}",
            f"{big_messages / max(1, small_messages):.2f}×",
            f"goal ≤ 1.5× ({verdict(big_messages <= 1.5 * max(1, small_messages))})",
        ),
        (
            f"Celeriac Redis used_memory peak, {BIG_RECORDS:,}-record job against {FOOTPRINT_SMALL:,}-record job",
            f"{big_memory / mib:,.1f} / {small_memory / mib:,.1f} MiB",
            f"{big_memory / small_memory:.2f}×",
            f"goal ≤ 1.5× ({verdict(big_memory <= 1.5 * small_memory)}); idle {runs[0][1].idle_memory / mib:,.1f} MiB",
        ),
    ]


def run_recovery(bench: BenchEnv, kill: bool) -> tuple[float, float | None]:
    """A PO job; with ``kill``, SIGKILL the `worker` process group once a third of it is done and start
    a replacement at once (as a process manager would). Seconds of the whole job, and from the kill
    to the job's end."""
    bench.reset_tables()
    db_node = next(node for node in bench.nodes if node.startswith("db"))
    wait_for(lambda: has_beaten(bench, db_node), timeout=60, interval=0.1, message=f"a heartbeat of {db_node}")
    start = time.perf_counter()
    job_id = launch(bench, po_keys(RECOVERY_RECORDS))
    killed_at = None
    if kill:
        wait_for(lambda: done_records(bench, job_id) >= RECOVERY_RECORDS // 3, timeout=600, interval=0.05, message="a third of the job")
        bench.workers.kill(db_node)
        killed_at = time.perf_counter()
        bench.nodes.remove(db_node)
        bench.nodes.append(bench.workers.start("db", queues="default,db", pool="prefork", concurrency=2))
    status = bench.wait_job(job_id, timeout=900)
    end = time.perf_counter()
    if status != "succeeded":
        raise RuntimeError(f"the recovery job ended {status}")
    return end - start, (end - killed_at) if killed_at is not None else None


def has_beaten(bench: BenchEnv, node: str) -> bool:
    """Whether Redis holds a heartbeat of the worker since reset_tables emptied it. The sweep judges
    only a worker it has heard from dead, as after a Redis restart; a small job (BENCH_SCALE) can
    reach its third before the worker's next beat, and its killed steps would then wait forever.
    Waited for before the job is launched, so that the wait is not part of the figures."""
    from webapp.monitoring.heartbeats import KEY_PREFIX, SEEN_KEY

    client = redis.Redis.from_url(bench.env["REDIS_URL"])
    return bool(client.exists(KEY_PREFIX + node) or client.hexists(SEEN_KEY, node))


def recovery(repeat: int, broker: Broker) -> list[Row]:
    """Item 9: seconds from a SIGKILL of the `worker` process group mid-job to the job's end, default settings."""
    with bench_env(broker) as bench:
        bench.set_chaos(latency_ms=RECOVERY_LATENCY_MS)
        bench.start_workers(CELERIAC_WORKERS)
        bench.workers.start_beat()
        plain_runs, kill_runs = [], []
        for _ in range(repeat):  # interleaved
            plain_runs.append(run_recovery(bench, kill=False)[0])
            kill_runs.append(run_recovery(bench, kill=True))
    whole = statistics.median(plain_runs)
    after_kill = statistics.median(run[1] for run in kill_runs)
    with_kill = statistics.median(run[0] for run in kill_runs)
    return [
        (f"PO job, {RECOVERY_RECORDS} records, {RECOVERY_LATENCY_MS} ms per ERP call, no crash (baseline)", f"{whole:.1f} s", "1.00×", ""),
        (
            "same job, `worker` process group SIGKILLed a third of the way, replaced at once",
            f"{with_kill:.1f} s",
            f"{with_kill / whole:.2f}×",
            f"{with_kill - whole:+.1f} s for the crash",
        ),
        (
            "from the SIGKILL to every record done (default settings: heartbeats every 10 s, dead after 3, sweep every 10 s)",
            f"{after_kill:.1f} s",
            "",
            f"goal ≤ 60 s ({verdict(after_kill <= 60)}); runs "
            + ", ".join(f"{run[1]:.1f}" for run in kill_runs)
            + " s"
            + ("; RabbitMQ requeues a dead connection's unacknowledged messages at once" if broker.amqp else ""),
        ),
    ]
