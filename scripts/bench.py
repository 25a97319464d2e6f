"""Benchmarks of Celeriac, each measured next to its baseline in the same run (``make bench``).

Ingest: a generated Date Range report (BENCH_ROWS rows, default 1,000,000) read by the
reconciliation reader, against a bare ``csv.reader`` loop over the same file (median of
BENCH_REPEAT runs each, default 3), with the reader's peak memory; then the whole job end to end
through a real worker (upload saved, read with progress, preview, confirm, one sales order per
state written), with the worker's peak memory sampled from its process tree.

Uses DATABASE_URL / REDIS_URL when set, else a SQLite file and a private Redis, like the tests.
"""

import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
DATA = ROOT / "bench-data"

READ_SNIPPET = """
import resource, sys, time
from webapp.recon.reader import preview
start = time.perf_counter()
summary = preview(sys.argv[1])
elapsed = time.perf_counter() - start
assert summary.ok, summary.errors[:3]
print(elapsed, summary.rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def report_file() -> Path:
    """The generated report, made once per row count and kept in bench-data/."""
    from scripts.make_date_range_report import write_report

    DATA.mkdir(exist_ok=True)
    path = DATA / f"date-range-{ROWS}.csv"
    if not path.exists():
        partial = path.with_suffix(".part")
        with open(partial, "wb") as out:
            write_report(out, ROWS, seed=1)
        partial.rename(path)
    return path


def bare_csv_read(path: Path) -> float:
    """Seconds for csv.reader to walk every row of the file (the baseline any importer pays)."""
    start = time.perf_counter()
    with open(path, newline="", encoding="utf-8") as handle:
        for _ in csv.reader(handle):
            pass
    return time.perf_counter() - start


def reader_run(path: Path) -> tuple[float, int, int]:
    """(seconds, rows, peak RSS in KiB) of the reconciliation reader in a fresh process."""
    out = subprocess.run([sys.executable, "-c", READ_SNIPPET, str(path)], cwd=ROOT, capture_output=True, text=True,
                         check=True, env=dict(os.environ, SECRET_KEY="bench"))
    seconds, rows, peak = out.stdout.split()
    return float(seconds), int(rows), int(peak)


class PeakRss(threading.Thread):
    """Samples the summed RSS of a process and its children every 0.1 s; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        import psutil

        root = psutil.Process(self.pid)
        while self.running:
            try:
                family = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in family if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)


def end_to_end(path: Path) -> tuple[float, float, int, int]:
    """(seconds to preview, seconds from confirm to done, sales orders, worker peak RSS bytes) through a real worker."""
    from tests.helpers import WorkerSet, wait_for
    from webapp.localredis import start_private_redis

    work = Path(tempfile.mkdtemp(prefix="celeriac-bench-"))
    redis_server = None if os.environ.get("REDIS_URL") else start_private_redis(workdir=str(work))
    redis_url = os.environ.get("REDIS_URL") or redis_server.url
    database = os.environ.get("DATABASE_URL") or f"sqlite:///{work / 'bench.db'}"
    env = dict(os.environ, SECRET_KEY="bench", DATABASE_URL=database, REDIS_URL=redis_url,
               UPLOAD_FOLDER=str(work / "uploads"), TASK_TIME_LIMIT="1800", TASK_SOFT_TIME_LIMIT="1700")
    os.environ.update(env)
    from flask_migrate import upgrade
    from werkzeug.datastructures import FileStorage

    from webapp import create_app, reconcile
    from webapp.extensions import db
    from webapp.models import Job

    app = create_app()
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade(directory=str(ROOT / "migrations"))
    workers = WorkerSet(env, work)
    node = workers.start("bench", queues="default,db", pool="prefork", concurrency=1)
    workers.wait_ready()
    sampler = PeakRss(workers.processes[node].pid)
    sampler.start()

    def status(job_id: int) -> str:
        with app.app_context():
            return db.session.get(Job, job_id).status

    try:
        start = time.perf_counter()
        with app.test_request_context(), open(path, "rb") as handle:
            job_id = reconcile.launch_reconciliation(FileStorage(handle, filename=path.name), None, None).id
        wait_for(lambda: status(job_id) == "awaiting_confirmation", timeout=1800, interval=0.2, message="the preview")
        previewed = time.perf_counter() - start
        with app.test_request_context():
            total = reconcile.confirm(job_id, None).total
        confirmed = time.perf_counter()
        wait_for(lambda: status(job_id) == "succeeded", timeout=600, interval=0.2, message="the sales orders")
        return previewed, time.perf_counter() - confirmed, total, sampler.peak
    finally:
        sampler.running = False
        workers.stop_all()
        if redis_server is not None:
            redis_server.stop()


def main() -> int:
    """Run the ingest benchmark and print its table."""
    path = report_file()
    size_mb = path.stat().st_size / 1e6
    print(f"Ingest: {ROWS:,}-row Date Range report, {size_mb:.0f} MB; {os.cpu_count()} cores; median of {REPEAT}")
    bare = statistics.median(bare_csv_read(path) for _ in range(REPEAT))
    runs = [reader_run(path) for _ in range(REPEAT)]
    reader = statistics.median(r[0] for r in runs)
    reader_peak = max(r[2] for r in runs) / 1024
    previewed, written, orders, worker_peak = end_to_end(path)
    rows = [
        ("bare csv.reader over the file (baseline)", f"{bare:.2f} s", "1.00×", ""),
        ("reconciliation reader (detect, decode, cents, states, totals)", f"{reader:.2f} s", f"{reader / bare:.2f}×",
         f"peak {reader_peak:.0f} MB"),
        ("end to end: upload → worker reads → preview ready", f"{previewed:.2f} s", f"{previewed / bare:.2f}×",
         f"worker peak {worker_peak / 1e6:.0f} MB"),
        (f"confirm → {orders} sales orders written", f"{written:.2f} s", "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, seconds, ratio, note in rows:
        print(f"  {name:<{width}}  {seconds:>9}  {ratio:>7}  {note}")
    print(f"  goals: reader ≤ 3.00× the bare read ({'met' if reader / bare <= 3 else 'MISSED'}); "
          f"worker peak < 300 MB ({'met' if worker_peak < 300e6 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
