"""Benchmarks of Celeriac (``make bench``): each figure next to its baseline, measured in the same run.

Sections (BENCH_ONLY picks some, comma-separated; BENCH_REPEAT sets the repetitions, default 3,
and each figure is their median):
  overhead  a 2,000-record PO job with no-I/O bodies against the same canvas as plain Celery
  io        a 1,000-product BOM job at 100 ms per ERP call against a prefork pool of 2
  ingest    the 1,000,000-row reconciliation import against a bare csv read (BENCH_ROWS)
  pages     the job page's fragments for 100 and 10,000 records: p50/p95, SQL queries, Redis calls
  launch    POST of a 10,000-record job against applying its canvas inside the request
  viewers   50 clients polling a running 5,000-record job, against nobody watching
  fairness  a 10-record job launched behind a 100,000-record one (BENCH_BIG_RECORDS), against plain
            Celery; broker messages and Redis memory at the big job's peak against a 1,000-record job
  recovery  a PO job whose `worker` process group is SIGKILLed mid-job: seconds from the kill to the end

Runs on a SQLite file and a private Redis unless BENCH_DATABASE_URL / BENCH_REDIS_URL are set
(their schema and data are wiped: never point them at data you keep).

overhead, io, fairness and recovery run once per broker of BENCH_BROKERS (default "redis,rabbitmq";
RabbitMQ at BENCH_RABBITMQ_URL, default amqp://guest:guest@127.0.0.1:5672, on a virtual host made
for each run with rabbitmqctl and deleted after), each next to plain Celery on that broker. When
RabbitMQ cannot be reached its rows are not measured, and the table says why. BENCH_SCALE (default 1)
multiplies their record counts, for a quick check that they run.
"""

import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_brokers import Broker, chosen_brokers, rabbitmq_unavailable  # noqa: E402
from scripts.bench_table import Row, print_rows  # noqa: E402

SECTIONS: dict[str, tuple[str, str]] = {  # name → (title, module:function)
    "overhead": ("1. Orchestration overhead", "scripts.bench_jobs:orchestration_overhead"),
    "io": ("2. I/O-bound throughput", "scripts.bench_jobs:io_throughput"),
    "ingest": ("3. Ingest", "scripts.bench_ingest:ingest"),
    "pages": ("4. Live page cost", "scripts.bench_pages:page_cost"),
    "launch": ("5. Launch latency", "scripts.bench_pages:launch_latency"),
    "viewers": ("6. Viewers under load", "scripts.bench_viewers:viewers"),
    "fairness": ("7–8. A small job behind a huge one; the broker's footprint", "scripts.bench_fairness:fairness"),
    "recovery": ("9. Recovery after a crash", "scripts.bench_fairness:recovery"),
}
PER_BROKER = ("overhead", "io", "fairness", "recovery")  # their function takes (repeat, broker)


def section(target: str) -> Callable[..., list[Row]]:
    """Import a section's function only when it runs (each pulls in its own dependencies)."""
    import importlib

    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def machine() -> str:
    """Cores, memory and Python of this machine, for the table's heading."""
    import psutil

    return (
        f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}, database "
        f"{'from BENCH_DATABASE_URL' if os.environ.get('BENCH_DATABASE_URL') else 'SQLite'}"
    )


def main() -> int:
    """Run the chosen sections and print their table."""
    chosen = [name.strip() for name in os.environ.get("BENCH_ONLY", ",".join(SECTIONS)).split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        print(f"bench: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    try:
        brokers = chosen_brokers()
    except ValueError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    repeat = int(os.environ.get("BENCH_REPEAT", "3"))
    scale = os.environ.get("BENCH_SCALE", "1")
    print(f"Celeriac benchmarks on {machine()}; median of {repeat}" + (f"; BENCH_SCALE={scale}" if scale != "1" else ""), flush=True)
    if any(name in PER_BROKER for name in chosen):
        brokers = reachable(brokers)
    for name in chosen:
        title, target = SECTIONS[name]
        if name not in PER_BROKER:
            print_section(title, section(target)(repeat))
            continue
        for broker in brokers:
            print_section(f"{title}, {broker.name} broker", section(target)(repeat, broker))
    return 0


def reachable(brokers: list[Broker]) -> list[Broker]:
    """The brokers that can be measured; for RabbitMQ, a line saying why its rows are missing when it cannot."""
    kept = []
    for broker in brokers:
        reason = rabbitmq_unavailable(broker) if broker.amqp else ""
        if reason:
            print(f"RabbitMQ rows NOT MEASURED (broker at {broker.url.split('@')[-1]}): {reason}", flush=True)
        else:
            kept.append(broker)
    return kept


def print_section(title: str, rows: list[Row]) -> None:
    """Print a section's rows under its title and the load average after it."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print_rows(f"{title} (load average after: {load})", rows)


if __name__ == "__main__":
    sys.exit(main())
