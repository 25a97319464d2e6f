"""The site over real HTTP: gunicorn as the Procfile runs it, and a session logged in through its form."""

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from devtools import ROOT
from devtools.ports import free_port
from devtools.waiting import wait_for


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
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "wsgi:app",
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        "-",
        "--worker-class",
        "gthread",
        "--threads",
        "8",
        "--workers",
        "1",
        "--no-control-socket",
    ]
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
    response = session.post(
        f"{base}/login", data={"username": username, "password": password, "csrf_token": token}, allow_redirects=False, timeout=30
    )
    if response.status_code != 302:
        raise AssertionError(f"login answered {response.status_code}")
    return session
