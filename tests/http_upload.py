"""Uploads over real HTTP: gunicorn as the Procfile runs it, a logged-in session, a multipart body
streamed from disk, and the peak memory of the web process while it receives it.

Used by tests/test_upload_http.py and by the ingest benchmark (scripts/bench_ingest.py).
"""

import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests

from tests.helpers import ROOT, free_port, wait_for

CHUNK = 1 << 20


def date_range_report(path: Path, rows: int, seed: int) -> Path:
    """A generated Date Range report of ``rows`` transactions at ``path`` (the benchmark's generator)."""
    from scripts.make_date_range_report import write_report

    with open(path, "wb") as out:
        write_report(out, rows, seed=seed)
    return path


def csrf_token(html: str) -> str:
    """The CSRF token a page carries."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    if match is None:
        raise AssertionError("no CSRF token in the page")
    return match.group(1)


@contextmanager
def gunicorn(env: dict[str, str], log: Path, cwd: Path = ROOT) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``gunicorn wsgi:app`` with the Procfile's web settings on a free port, started in ``cwd``
    (another directory than the project's needs PYTHONPATH in ``env``); yields (base URL, process)."""
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", "--access-logfile", "-",
            "--worker-class", "gthread", "--threads", "8", "--workers", "1"]
    with open(log, "wb") as out:
        process = subprocess.Popen(args, cwd=cwd, env=dict(env, PORT=str(port)), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            return requests.get(f"{base}/login", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(answers, timeout=60, interval=0.2, message="gunicorn to answer")
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def logged_in(base: str, username: str, password: str) -> requests.Session:
    """A session logged in through the login form and its CSRF token."""
    session = requests.Session()
    token = csrf_token(session.get(f"{base}/login", timeout=30).text)
    response = session.post(f"{base}/login", data={"username": username, "password": password, "csrf_token": token},
                            allow_redirects=False, timeout=30)
    if response.status_code != 302:
        raise AssertionError(f"login answered {response.status_code}")
    return session


class MultipartFile:
    """A multipart/form-data body of text fields and one file, read from disk as it is sent.

    It has a length, so requests sends a Content-Length (no chunked encoding) and reads the
    body with ``read(n)``: the sender never holds more than one block of the file.
    """

    def __init__(self, fields: dict[str, str], name: str, path: Path) -> None:
        self.boundary = uuid.uuid4().hex
        head = "".join(f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n{value}\r\n"
                       for key, value in fields.items())
        head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{path.name}\"\r\n"
                 "Content-Type: text/csv\r\n\r\n")
        self.parts = [head.encode(), path, f"\r\n--{self.boundary}--\r\n".encode()]
        self.size = len(self.parts[0]) + path.stat().st_size + len(self.parts[2])
        self.chunks = self.stream()

    @property
    def content_type(self) -> str:
        """The Content-Type header of the body."""
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self.size

    def stream(self) -> Iterator[bytes]:
        """The body's bytes, the file's a megabyte at a time."""
        yield self.parts[0]
        with open(self.parts[1], "rb") as handle:
            while block := handle.read(CHUNK):
                yield block
        yield self.parts[2]

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (at least one block unless the body is done)."""
        return next(self.chunks, b"")


class PeakRss(threading.Thread):
    """Samples the summed RSS of a process and its children every 20 ms; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.stopped = threading.Event()

    def now(self) -> int:
        """The family's RSS in bytes right now."""
        total = 0
        for process in (self.root, *self.root.children(recursive=True)):
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, self.now())
            self.stopped.wait(0.02)  # the sampling period; stop() ends it at once

    def stop(self) -> int:
        """Stop sampling; return the peak."""
        self.stopped.set()
        self.join()
        return self.peak


def post_upload(session: requests.Session, base: str, path: Path, timeout: float = 1800) -> requests.Response:
    """POST ``path`` through the dashboard's reconciliation form (CSRF token included), streamed from disk."""
    token = csrf_token(session.get(f"{base}/", timeout=30).text)
    body = MultipartFile({"csrf_token": token}, "file", path)
    return session.post(f"{base}/jobs/reconciliation", data=body, headers={"Content-Type": body.content_type},
                        allow_redirects=False, timeout=timeout)


def confirm(session: requests.Session, base: str, job_id: int) -> requests.Response:
    """Press Confirm on the job page (its form's CSRF token included)."""
    token = csrf_token(session.get(f"{base}/jobs/{job_id}", timeout=30).text)
    return session.post(f"{base}/jobs/{job_id}/confirm", data={"csrf_token": token}, allow_redirects=False, timeout=60)
