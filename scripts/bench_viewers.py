"""Item 6: 50 operators watching a running 5,000-record (BOM) job, against nobody watching.

The site runs under gunicorn as the Procfile's web process does; the sandbox ERP the workers call
is served apart, by the benchmark process. Each viewer logs in before the job starts, and the
clock with it (logging in is not watching, and 50 password checks cost seconds of CPU), then polls
the job page's live fragment (rows, with the summary out of band) once a second, as htmx does,
until the job ends.
The viewers run in a process of their own: they stand for other people's browsers, so they share
the machine's two cores with the site and the workers but not the interpreter lock of the
benchmark process.
"""

import multiprocessing
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests

from devtools.ports import free_port
from devtools.waiting import wait_for
from scripts.bench_env import CELERIAC_WORKERS, ROOT, BenchEnv, bench_env
from scripts.bench_pages import PASSWORD, csrf_token, logged_in_client, percentile
from scripts.bench_table import Row, verdict

VIEWERS = 50
RECORDS = 5_000
ERP_LATENCY_MS = 20
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


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
    """One operator's browser tab on the job page: its poll every second until told to stop."""

    def __init__(self, base: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base, self.stop = base, stop
        self.job_id = 0  # set once the job is launched, before the tab starts polling
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
        """Poll over one kept-alive connection with the session's cookie, as a browser tab does.

        The request is written once as bytes and the answer read by its Content-Length over a
        bare socket: the viewers stand for browsers on other machines, yet share this machine's
        cores with the site and the workers, so what they cost themselves is kept as low as it
        goes (an http.client tab cost about three times as much).
        """
        address = urlsplit(self.base)
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)
        # The same User-Agent as at login, as a browser sends: Flask-Login's session protection
        # would otherwise mark the session not fresh at every poll and re-sign its cookie.
        agent = self.session.headers["User-Agent"]
        request = (f"GET /jobs/{self.job_id}/live HTTP/1.1\r\nHost: {address.netloc}\r\nUser-Agent: {agent}\r\n"
                   f"HX-Request: true\r\nCookie: {cookie}\r\n\r\n").encode()
        connection = None
        while not self.stop.is_set():
            started = time.monotonic()
            connection = self.fetch(connection, (address.hostname, address.port), request)
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))
        if connection is not None:
            connection.close()

    def fetch(self, connection: socket.socket | None, address: tuple[str, int], request: bytes) -> socket.socket | None:
        """One poll; its time, or the error. Returns the connection to use next (None after an error)."""
        start = time.perf_counter()
        try:
            if connection is None:
                connection = socket.create_connection(address, timeout=30)
            connection.sendall(request)
            status = read_response(connection)
            if status != 200:
                self.errors.append(f"{status} live")
        except (OSError, ValueError) as exc:
            self.errors.append(f"{type(exc).__name__} live")
            if connection is not None:
                connection.close()
            connection = None
        self.times.append((time.perf_counter() - start) * 1000)
        return connection


def read_response(connection: socket.socket) -> int:
    """Read one HTTP/1.1 response with a Content-Length off ``connection``; return its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the site closed the connection")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = CONTENT_LENGTH.search(head)
    if length is None:
        raise ValueError("an answer without Content-Length")
    remaining = int(length.group(1)) - len(body)
    while remaining > 0:
        chunk = connection.recv(min(remaining, 65536))
        if not chunk:
            raise ConnectionError("the site closed the connection")
        remaining -= len(chunk)
    return int(head[9:12])


def watch(base: str, jobs: "multiprocessing.Queue[int]", stop: threading.Event,
          results: "multiprocessing.Queue[tuple[list[float], list[str]]]") -> None:
    """In the viewers' process: log VIEWERS viewers in, put 0 on ``results`` once they are, then
    poll the job whose id comes on ``jobs`` until ``stop``; put (times, errors) on ``results``."""
    halt = threading.Event()
    tabs = [Viewer(base, halt) for _ in range(VIEWERS)]
    for tab in tabs:
        tab.log_in()
    results.put(0)
    job_id = jobs.get(timeout=600)
    for tab in tabs:  # tabs opened at different moments poll at different moments of each second
        tab.job_id = job_id
        tab.start()
        time.sleep(1.0 / VIEWERS)
    stop.wait()
    halt.set()
    for tab in tabs:
        tab.join(timeout=60)
    results.put(([t for tab in tabs for t in tab.times], [e for tab in tabs for e in tab.errors]))


def run_job(bench: BenchEnv, base: str | None) -> tuple[float, list[float], list[str]]:
    """Seconds the 5,000-record job takes, watched by VIEWERS viewers of ``base`` (or nobody), with
    the viewers' request times (ms) and errors."""
    from webapp.jobs.launch import launch_job

    bench.reset_tables()
    logged_in_client(bench.app)  # (re)creates the operator the viewers log in as
    keys = [f"P-{10_000 + i}" for i in range(RECORDS)]
    spawn = multiprocessing.get_context("spawn")
    stop, jobs, results = spawn.Event(), spawn.Queue(), spawn.Queue()
    watchers = None
    if base is not None:  # the viewers log in before the clock starts: what is measured is their polling
        watchers = spawn.Process(target=watch, args=(base, jobs, stop, results), daemon=True)
        watchers.start()
        results.get(timeout=600)
    start = time.perf_counter()
    with bench.app.app_context():
        job_id = launch_job("bills_of_materials", "bench", keys, None, input_name="bench").id
    if watchers is not None:
        jobs.put(job_id)
    status = bench.wait_job(job_id)
    elapsed = time.perf_counter() - start
    times, errors = [], []
    if watchers is not None:
        stop.set()
        times, errors = results.get(timeout=120)
        watchers.join(timeout=30)
    if status != "succeeded":
        raise RuntimeError(f"the benchmark job ended {status}")
    return elapsed, times, errors


def viewers(repeat: int) -> list[Row]:
    """Throughput alone and watched (median of the repetitions), viewers' errors and fragment p95."""
    alone, watched, times, errors = [], [], [], []
    with bench_env(ERP_TIMEOUT="10") as bench, gunicorn(bench) as base:
        bench.set_chaos(latency_ms=ERP_LATENCY_MS)
        bench.start_workers(CELERIAC_WORKERS)
        for _ in range(repeat):  # interleaved, so drift in the machine's load hits both alike
            alone.append(run_job(bench, None)[0])
            seconds, tab_times, tab_errors = run_job(bench, base)
            watched.append(seconds)
            times += tab_times
            errors += tab_errors
    alone_s, watched_s = statistics.median(alone), statistics.median(watched)
    ratio = alone_s / watched_s
    p95 = percentile(times, 0.95)
    return [
        (f"{RECORDS:,}-product BOM job, nobody watching (baseline)", f"{RECORDS / alone_s:,.1f} rec/s", "1.00×", f"{alone_s:.1f} s"),
        (f"same job, {VIEWERS} viewers polling the page every second", f"{RECORDS / watched_s:,.1f} rec/s",
         f"{ratio:.2f}×", f"{watched_s:.1f} s; goal ≥ 0.90× ({verdict(ratio >= 0.9)})"),
        ("fragment requests of the viewers", f"p95 {p95:.0f} ms", "",
         f"p50 {statistics.median(times):.0f} ms; {len(times):,} requests, {len(errors)} errors; "
         f"goals p95 ≤ 100 ms ({verdict(p95 <= 100)}), 0 errors ({verdict(not errors)})"),
    ]
