"""Job throughput: Celeriac's orchestration against a plain canvas, and its I/O-bound pools against prefork 2."""

import statistics
import time
from collections.abc import Callable
from typing import Any

from scripts.bench_brokers import Broker
from scripts.bench_env import CELERIAC_WORKERS, BenchEnv, bench_env, scaled
from scripts.bench_table import Row, verdict

OVERHEAD_RECORDS = scaled(2_000)
IO_PRODUCTS = scaled(1_000)
IO_LATENCY_MS = 100
TUTORIAL_WORKERS = (("prefork", "default,db,fetch", "prefork", 2),)  # the tutorials' default: one pool for all


def run_job(bench: BenchEnv, kind: str, keys: list[str]) -> float:
    """Launch a job as an operator would and return seconds until it is terminal (it must succeed)."""
    from webapp.jobs.launch import launch_job

    bench.reset_tables()
    start = time.perf_counter()
    with bench.app.app_context():
        job_id = launch_job(kind, "bench", keys, None, input_name="bench").id
    status = bench.wait_job(job_id)
    elapsed = time.perf_counter() - start
    if status != "succeeded":
        raise RuntimeError(f"the benchmark job ended {status}")
    return elapsed


def run_plain_canvas(bench: BenchEnv, records: int) -> float:
    """The same shape as plain Celery: chord of fetch → make chains, no SQL log; seconds to the chord result."""
    celery = bench.app.extensions["celery"]
    fetch, make = celery.signature("bench.plain_fetch"), celery.signature("bench.plain_make")
    chains = [[fetch.clone(args=(i,)).set(queue="fetch", immutable=True), make.clone().set(queue="db")] for i in range(records)]
    return run_plain_chord(bench, chains)


def run_io_ceiling(bench: BenchEnv, keys: list[str]) -> float:
    """The BOM job's shape as plain Celery, chain(GET the BOM → make → make) per product, with
    bodies that only make the HTTP call; seconds to the chord result."""
    celery = bench.app.extensions["celery"]
    fetch, make = celery.signature("bench.plain_erp_fetch"), celery.signature("bench.plain_make")
    erp = bench.env["ERP_API_URL"]
    chains = [
        [
            fetch.clone(args=(f"{erp}/boms/{key}",)).set(queue="fetch", immutable=True),
            make.clone().set(queue="db"),
            make.clone().set(queue="db"),
        ]
        for key in keys
    ]
    return run_plain_chord(bench, chains)


def run_plain_chord(bench: BenchEnv, chains: list[list[Any]]) -> float:
    """Apply chord(group(chains) → plain_finalize) and return seconds until every chain counted as ok."""
    from celery import chain, chord, group

    celery = bench.app.extensions["celery"]
    bench.purge_queues()
    header = group(chain(*steps) for steps in chains)
    start = time.perf_counter()
    result = chord(header, celery.signature("bench.plain_finalize").set(queue="db")).apply_async()
    done = result.get(timeout=1800, interval=0.05, follow_parents=False)
    elapsed = time.perf_counter() - start
    if done != len(chains):
        raise RuntimeError(f"the plain canvas made {done} of {len(chains)}")
    return elapsed


def median_of(repeat: int, run: Callable[[], float]) -> float:
    """Median seconds of ``repeat`` runs."""
    return statistics.median(run() for _ in range(repeat))


def orchestration_overhead(repeat: int, broker: Broker) -> list[Row]:
    """Item 1: a 2,000-record PO job with no-I/O bodies against the plain canvas, same workers and broker."""
    keys = [f"PO-{100_000 + i}" for i in range(OVERHEAD_RECORDS)]
    with bench_env(broker, CELERY_EXTRA_IMPORTS="scripts.bench_tasks") as bench:
        bench.start_workers(CELERIAC_WORKERS, BENCH_NO_IO="1")
        plain_runs, celeriac_runs = [], []
        for _ in range(repeat):  # interleaved, so drift in the machine's load hits both alike
            plain_runs.append(run_plain_canvas(bench, OVERHEAD_RECORDS))
            celeriac_runs.append(run_job(bench, "purchase_orders", keys))
        plain, celeriac = statistics.median(plain_runs), statistics.median(celeriac_runs)
    ratio = plain / celeriac
    return [
        (
            f"plain Celery canvas, {OVERHEAD_RECORDS:,} chains of 2 no-op tasks (baseline)",
            f"{OVERHEAD_RECORDS / plain:,.0f} rec/s",
            "1.00×",
            f"{plain:.2f} s",
        ),
        (
            f"Celeriac PO job, {OVERHEAD_RECORDS:,} records, no-I/O bodies",
            f"{OVERHEAD_RECORDS / celeriac:,.0f} rec/s",
            f"{ratio:.2f}×",
            f"{celeriac:.2f} s; goal ≥ 0.80× ({verdict(ratio >= 0.8)})",
        ),
    ]


def io_throughput(repeat: int, broker: Broker) -> list[Row]:
    """Item 2: a 1,000-product BOM job at 100 ms per ERP call, Celeriac's pools against prefork 2, on one broker."""
    keys = [f"P-{10_000 + i}" for i in range(IO_PRODUCTS)]
    with bench_env(broker, FETCH_BACKOFF_BASE="0.2") as bench:
        bench.set_chaos(latency_ms=IO_LATENCY_MS)
        bench.start_workers(TUTORIAL_WORKERS)
        prefork = median_of(repeat, lambda: run_job(bench, "bills_of_materials", keys))
    with bench_env(broker, FETCH_BACKOFF_BASE="0.2", CELERY_EXTRA_IMPORTS="scripts.bench_tasks") as bench:
        bench.set_chaos(latency_ms=IO_LATENCY_MS)
        bench.start_workers(CELERIAC_WORKERS)
        ceiling_runs, celeriac_runs = [], []
        for _ in range(repeat):  # interleaved, so drift in the machine's load hits both alike
            ceiling_runs.append(run_io_ceiling(bench, keys))
            celeriac_runs.append(run_job(bench, "bills_of_materials", keys))
        ceiling, celeriac = statistics.median(ceiling_runs), statistics.median(celeriac_runs)
    ratio = prefork / celeriac
    return [
        (
            f"BOM job, {IO_PRODUCTS:,} products, {IO_LATENCY_MS} ms per ERP call, prefork pool of 2 (baseline)",
            f"{IO_PRODUCTS / prefork:,.1f} rec/s",
            "1.00×",
            f"{prefork:.2f} s",
        ),
        (
            "same job on Celeriac's workers (prefork 2 for SQL, 32 threads for the ERP)",
            f"{IO_PRODUCTS / celeriac:,.1f} rec/s",
            f"{ratio:.2f}×",
            f"{celeriac:.2f} s; goal ≥ 10× ({verdict(ratio >= 10)})",
        ),
        (
            "ceiling: plain Celery chains of the same shape on those workers (the GET, then 2 no-op tasks)",
            f"{IO_PRODUCTS / ceiling:,.1f} rec/s",
            f"{prefork / ceiling:.2f}×",
            f"{ceiling:.2f} s; the most this canvas shape reaches here",
        ),
        (
            "Celeriac's job against that ceiling (its rate ÷ the ceiling's)",
            f"{IO_PRODUCTS / celeriac:,.1f} rec/s",
            f"{ceiling / celeriac:.2f}×",
            f"goal ≥ 0.80× ({verdict(ceiling / celeriac >= 0.8)}); 10× needs the ceiling at 10× ({verdict(prefork / ceiling >= 10)})",
        ),
    ]
