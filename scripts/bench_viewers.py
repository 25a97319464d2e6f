"""Item 6: 50 operators watching a running 5,000-record (BOM) job, against nobody watching.

The site runs under gunicorn as the Procfile's web process does; the sandbox ERP the workers call
is served apart (by the benchmark process), so the viewers and the ERP do not share threads.
Each viewer logs in, then polls the job's summary and rows fragments once a second, as htmx does,
until the job ends.
"""

import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from scripts.bench_env import CELERIAC_WORKERS, ROOT, BenchEnv, bench_env
from scripts.bench_pages import PASSWORD, csrf_token, logged_in_client, percentile
from scripts.bench_table import Row, verdict
from tests.helpers import free_port, wait_for

VIEWERS = 50
RECORDS = 5_000
ERP_LATENCY_MS = 20


@contextmanager
def gunicorn(bench: BenchEnv) -> Iterator[str]:
    """The site under gunicorn with the Procfile's web settings; yields its base URL."""
    port = free_port()
    log = open(bench.work / "gunicorn.log", "wb")
    args = [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", "--threads", "8"]
    process = subprocess.Popen(args, cwd=ROOT, env=bench.env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(f"{base}/login", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(answers, timeout=60, interval=0.2, message="gunicorn")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


class Viewer(threading.Thread):
    """One operator's browser tab on the job page: both fragments every second until told to stop."""

    def __init__(self, base: str, job_id: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base, self.job_id, self.stop = base, job_id, stop
        self.times: list[float] = []
        self.errors: list[str] = []
        self.session = requests.Session()

    def log_in(self) -> None:
        """Log in through the form, CSRF token and all."""
        token = csrf_token(self.session.get(f"{self.base}/login", timeout=10).text)
        response = self.session.post(f"{self.base}/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token},
                                     allow_redirects=False, timeout=10)
        if response.status_code != 302:
            raise RuntimeError(f"a viewer could not log in ({response.status_code})")

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            for fragment in ("summary", "rows"):
                self.fetch(f"{self.base}/jobs/{self.job_id}/{fragment}")
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def fetch(self, url: str) -> None:
        """One fragment request; its time, or the error."""
        start = time.perf_counter()
        try:
            response = self.session.get(url, headers={"HX-Request": "true"}, timeout=30)
            if response.status_code != 200:
                self.errors.append(f"{response.status_code} {url}")
        except requests.RequestException as exc:
            self.errors.append(f"{type(exc).__name__} {url}")
        self.times.append((time.perf_counter() - start) * 1000)


def run_job(bench: BenchEnv, base: str | None) -> tuple[float, list[Viewer]]:
    """Seconds the 5,000-record job takes, watched by VIEWERS viewers of ``base`` (or nobody)."""
    from webapp.launch import launch_job

    bench.reset_tables()
    logged_in_client(bench.app)  # (re)creates the operator the viewers log in as
    keys = [f"P-{10_000 + i}" for i in range(RECORDS)]
    stop = threading.Event()
    viewers: list[Viewer] = []
    start = time.perf_counter()
    with bench.app.app_context():
        job_id = launch_job("bills_of_materials", "bench", keys, None, input_name="bench").id
    if base is not None:
        viewers = [Viewer(base, job_id, stop) for _ in range(VIEWERS)]
        for viewer in viewers:
            viewer.log_in()
            viewer.start()
    status = bench.wait_job(job_id)
    elapsed = time.perf_counter() - start
    stop.set()
    for viewer in viewers:
        viewer.join(timeout=60)
    if status != "succeeded":
        raise RuntimeError(f"the benchmark job ended {status}")
    return elapsed, viewers


def viewers(repeat: int) -> list[Row]:
    """Throughput alone and watched (median of the repetitions), viewers' errors and fragment p95."""
    alone, watched, times, errors = [], [], [], []
    with bench_env(ERP_TIMEOUT="10") as bench, gunicorn(bench) as base:
        bench.set_chaos(latency_ms=ERP_LATENCY_MS)
        bench.start_workers(CELERIAC_WORKERS)
        for _ in range(repeat):  # interleaved, so drift in the machine's load hits both alike
            alone.append(run_job(bench, None)[0])
            seconds, tabs = run_job(bench, base)
            watched.append(seconds)
            times += [t for tab in tabs for t in tab.times]
            errors += [e for tab in tabs for e in tab.errors]
    alone_s, watched_s = statistics.median(alone), statistics.median(watched)
    ratio = alone_s / watched_s
    p95 = percentile(times, 0.95)
    return [
        (f"{RECORDS:,}-product BOM job, nobody watching (baseline)", f"{RECORDS / alone_s:,.1f} rec/s", "1.00×", f"{alone_s:.1f} s"),
        (f"same job, {VIEWERS} viewers polling both fragments every second", f"{RECORDS / watched_s:,.1f} rec/s",
         f"{ratio:.2f}×", f"{watched_s:.1f} s; goal ≥ 0.90× ({verdict(ratio >= 0.9)})"),
        ("fragment requests of the viewers", f"p95 {p95:.0f} ms", "",
         f"p50 {statistics.median(times):.0f} ms; {len(times):,} requests, {len(errors)} errors; "
         f"goals p95 ≤ 100 ms ({verdict(p95 <= 100)}), 0 errors ({verdict(not errors)})"),
    ]
