"""Item 3, ingest: a generated Date Range report (BENCH_ROWS rows, default 1,000,000) read by the
reconciliation reader, against a bare ``csv.reader`` loop over the same file (median of the
repetitions), with the reader's peak memory; then the whole job end to end over HTTP, as an
operator does it: log in to a gunicorn web process (the Procfile's settings), POST the dashboard's
reconciliation form with its CSRF token (the body streamed from disk), wait for the preview read by
a real worker, POST Confirm, wait for the job to succeed. The upload request is timed against a
plain copy of the file in the same run; the web process's and the worker's peak memory are sampled
from their process trees.
"""

import csv
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.memory import PeakRss  # noqa: E402
from devtools.uploads import confirm, post_upload  # noqa: E402
from devtools.waiting import wait_for  # noqa: E402
from devtools.web import gunicorn, logged_in  # noqa: E402
from scripts.bench_env import BenchEnv, bench_env  # noqa: E402
from scripts.bench_pages import PASSWORD  # noqa: E402
from scripts.bench_table import Row, verdict  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
DATA = ROOT / "bench-data"

READ_SNIPPET = """
import resource, sys, time
from webapp.reconciliation.reader.read import preview
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
    out = subprocess.run(
        [sys.executable, "-c", READ_SNIPPET, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, SECRET_KEY="bench"),
    )
    seconds, rows, peak = out.stdout.split()
    return float(seconds), int(rows), int(peak)


def plain_copy(path: Path, folder: Path) -> float:
    """Seconds for shutil.copyfile to copy the file (what saving an upload costs at the least)."""
    target = folder / "copy.csv"
    start = time.perf_counter()
    shutil.copyfile(path, target)
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


@dataclass
class EndToEnd:
    """What one run over HTTP measured."""

    copy: float
    upload: float
    previewed: float
    written: float
    orders: int
    web_idle: int
    web_peak: int
    worker_peak: int


def end_to_end(path: Path) -> EndToEnd:
    """The report uploaded through gunicorn, read by a real worker, confirmed through the form."""
    with bench_env(TASK_TIME_LIMIT="1800", TASK_SOFT_TIME_LIMIT="1700") as bench:
        bench.start_workers((("ingest", "default,db", "prefork", 1),))
        add_operator(bench)
        copy = plain_copy(path, bench.work)
        worker = PeakRss(bench.workers.processes[bench.nodes[0]].pid)
        with gunicorn(bench.env, bench.work / "gunicorn.log") as (base, process):
            session = logged_in(base, "bench", PASSWORD)
            session.get(f"{base}/", timeout=30)  # one render of the dashboard: the web process is warm
            web = PeakRss(process.pid)
            web_idle = web.now()
            web.start()
            worker.start()
            try:
                start = time.perf_counter()
                response = post_upload(session, base, path)
                upload = time.perf_counter() - start
                web_peak = web.stop()
                if response.status_code != 302:
                    raise RuntimeError(f"the upload answered {response.status_code}: {response.text[:300]}")
                job_id = int(response.headers["Location"].rsplit("/", 1)[-1])
                wait_for(lambda: job_status(bench, job_id) == "awaiting_confirmation", timeout=1800, interval=0.2, message="the preview")
                previewed = time.perf_counter() - start
                confirmed = time.perf_counter()
                if confirm(session, base, job_id).status_code != 302:
                    raise RuntimeError("the confirmation was refused")
                if bench.wait_job(job_id, timeout=600) != "succeeded":
                    raise RuntimeError("the reconciliation job did not succeed")
                written = time.perf_counter() - confirmed
            finally:
                web.stopped.set()
                worker_peak = worker.stop()
        return EndToEnd(copy, upload, previewed, written, job_total(bench, job_id), web_idle, web_peak, worker_peak)


def add_operator(bench: BenchEnv) -> None:
    """The operator the benchmark logs in as."""
    from webapp.extensions import db
    from webapp.models import Operator

    with bench.app.app_context():
        operator = Operator(username="bench", role="operator")  # it launches jobs
        operator.set_password(PASSWORD)
        db.session.add(operator)
        db.session.commit()


def job_total(bench: BenchEnv, job_id: int) -> int:
    """The job's number of records (one sales order each)."""
    from webapp.extensions import db
    from webapp.models import Job

    with bench.app.app_context():
        return db.session.get(Job, job_id).total


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
    run = end_to_end(path)
    web_growth = (run.web_peak - run.web_idle) / 1e6
    return [
        (f"bare csv.reader over a {ROWS:,}-row Date Range report, {size_mb:.0f} MB (baseline)", f"{bare:.2f} s", "1.00×", ""),
        (
            "reconciliation reader (detect, decode, cents, states, totals)",
            f"{reader:.2f} s",
            f"{reader / bare:.2f}×",
            f"peak {reader_peak:.0f} MB; goal ≤ 3.00× ({verdict(reader / bare <= 3)})",
        ),
        ("plain copy of the file (shutil.copyfile to a temp dir)", f"{run.copy:.2f} s", f"{run.copy / bare:.2f}×", ""),
        (
            "upload request: POST of the form to gunicorn, file saved, job committed",
            f"{run.upload:.2f} s",
            f"{run.upload / bare:.2f}×",
            f"{run.upload / run.copy:.1f}× the plain copy; web peak {run.web_peak / 1e6:.0f} MB, "
            f"+{web_growth:.0f} MB over idle; goal +< 100 MB ({verdict(web_growth < 100)})",
        ),
        (
            "end to end: POST → worker reads → preview ready",
            f"{run.previewed:.2f} s",
            f"{run.previewed / bare:.2f}×",
            f"worker peak {run.worker_peak / 1e6:.0f} MB; goals ≤ 3.00× ({verdict(run.previewed / bare <= 3)}), "
            f"< 300 MB ({verdict(run.worker_peak < 300e6)})",
        ),
        (f"POST confirm → {run.orders} sales orders written, job succeeded", f"{run.written:.2f} s", "", ""),
        (
            "end to end: upload + preview + confirmed (without the operator's pause)",
            f"{run.previewed + run.written:.2f} s",
            f"{(run.previewed + run.written) / bare:.2f}×",
            f"goal ≤ 3.00× ({verdict((run.previewed + run.written) / bare <= 3)})",
        ),
    ]
