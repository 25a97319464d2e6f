"""Item 3, ingest: a generated Date Range report (BENCH_ROWS rows, default 1,000,000) read by the
reconciliation reader, against a bare ``csv.reader`` loop over the same file (median of the
repetitions), with the reader's peak memory; then the whole job end to end through a real worker
(upload saved, read with progress, preview, confirm, one sales order per state written), with the
worker's peak memory sampled from its process tree.
"""

import csv
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_env import BenchEnv, bench_env  # noqa: E402
from scripts.bench_table import Row, verdict  # noqa: E402
from tests.helpers import wait_for  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
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
    from werkzeug.datastructures import FileStorage

    from webapp import reconcile

    with bench_env(TASK_TIME_LIMIT="1800", TASK_SOFT_TIME_LIMIT="1700") as bench:
        bench.start_workers((("ingest", "default,db", "prefork", 1),))
        sampler = PeakRss(bench.workers.processes[bench.nodes[0]].pid)
        sampler.start()
        try:
            start = time.perf_counter()
            with bench.app.test_request_context(), open(path, "rb") as handle:
                job_id = reconcile.launch_reconciliation(FileStorage(handle, filename=path.name), None, None).id
            wait_for(lambda: job_status(bench, job_id) == "awaiting_confirmation", timeout=1800, interval=0.2, message="the preview")
            previewed = time.perf_counter() - start
            with bench.app.test_request_context():
                total = reconcile.confirm(job_id, None).total
            confirmed = time.perf_counter()
            if bench.wait_job(job_id, timeout=600) != "succeeded":
                raise RuntimeError("the reconciliation job did not succeed")
            return previewed, time.perf_counter() - confirmed, total, sampler.peak
        finally:
            sampler.running = False


def job_status(bench: BenchEnv, job_id: int) -> str:
    """The job's status now."""
    from webapp.extensions import db
    from webapp.models import Job

    with bench.app.app_context():
        return db.session.get(Job, job_id).status


def ingest(repeat: int) -> list[Row]:
    """Item 3's rows: the bare read, the reader, the job end to end, confirm to sales orders."""
    path = report_file()
    size_mb = path.stat().st_size / 1e6
    bares, runs = [], []
    for _ in range(repeat):  # interleaved, so a change in the machine's load hits both alike
        bares.append(bare_csv_read(path))
        runs.append(reader_run(path))
    bare = statistics.median(bares)
    reader = statistics.median(r[0] for r in runs)
    reader_peak = max(r[2] for r in runs) / 1024
    previewed, written, orders, worker_peak = end_to_end(path)
    return [
        (f"bare csv.reader over a {ROWS:,}-row Date Range report, {size_mb:.0f} MB (baseline)", f"{bare:.2f} s", "1.00×", ""),
        ("reconciliation reader (detect, decode, cents, states, totals)", f"{reader:.2f} s", f"{reader / bare:.2f}×",
         f"peak {reader_peak:.0f} MB; goal ≤ 3.00× ({verdict(reader / bare <= 3)})"),
        ("end to end: upload → worker reads → preview ready", f"{previewed:.2f} s", f"{previewed / bare:.2f}×",
         f"worker peak {worker_peak / 1e6:.0f} MB; goals ≤ 3.00× ({verdict(previewed / bare <= 3)}), "
         f"< 300 MB ({verdict(worker_peak < 300e6)})"),
        (f"confirm → {orders} sales orders written", f"{written:.2f} s", "", ""),
    ]
