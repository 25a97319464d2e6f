"""Screenshots of the console for the README: ``make screenshots`` writes docs/screenshots/*.png.

It starts Celeriac as ``make run`` does (the Procfile's web, worker, io, beat and sandbox under
honcho, with scripts/run_local.py's settings), but on a private Redis and a fresh SQLite database
in a temporary directory, so instance/ is never touched. It logs in as an operator of its own,
starts jobs from samples/ through the dashboard's forms, slows the sandbox ERP so that one PO job
is still running, and photographs each page of PAGES at 1366×900 in Debian's chromium
(Playwright). A page that does not answer 200, or does not show what it should, fails the run:
nothing is skipped. The PNGs are reduced to a palette (Pillow) to keep the repository small.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from devtools.localredis import start_private_redis  # noqa: E402
from devtools.ports import free_port  # noqa: E402
from devtools.waiting import wait_for  # noqa: E402
from scripts.run_local import (  # noqa: E402
    PROCESSES,
    SANDBOX,
    flask_command,
    local_defaults,
    login_page_answers,
    run_step,
    with_venv_on_path,
    workers_answer,
)


@dataclass(frozen=True)
class Shot:
    """One screenshot: its file, the page's path ({job}, {record} and {task} are filled in), and a
    CSS selector the page must show before it is taken."""

    name: str
    path: str
    shows: str


# The pages photographed, in this order, while the PO job is running. Add a page here; {task} is the
# Celery task id of a make-PO step of the running job that has ended.
PAGES = (
    Shot("job-running.png", "/jobs/{job}", 'tr.record[data-state="succeeded"]'),
    Shot("dashboard.png", "/", "table.jobs .badge.status-running"),
    Shot("workers.png", "/ops/workers", "table.workers tr.worker-online"),
    Shot("task.png", "/tasks/{task}", "table.task-states td.backend-state"),
)

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 900}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USERNAME = "olga"
RUNNING_POS = [f"PO-{n}" for n in range(100500, 101100)]  # 600 POs at 1.5 s each: half a minute on 32 threads
SLOW_ERP = {"latency_ms": "1500", "error_rate": "0.15"}
COLOURS = 256  # a palette of 256 keeps text sharp at a third of the PNG's size
TIMEOUT_MS = 120_000
RUNNING_NOT_DONE = """() => {
  const done = document.querySelectorAll('tr.record[data-state="succeeded"]').length;
  return done >= 3 && document.querySelector('[data-status="running"]') !== null;
}"""


def environment(work: Path, redis_url: str) -> dict[str, str]:
    """``make run``'s environment for a run of its own: SQLite and Redis private to ``work``."""
    port, sandbox_port = free_port(), free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DATABASE_", "REDIS_", "SANDBOX_"))}
    env.pop("ERP_API_URL", None)
    env.pop("PORT", None)
    env.update(DATABASE_URL=f"sqlite:///{work / 'celeriac.db'}", REDIS_URL=redis_url, SECRET_KEY=secrets.token_urlsafe(32))
    env.update(local_defaults(env, port, sandbox_port, work))
    return with_venv_on_path(env)


@contextmanager
def celeriac(work: Path) -> Iterator[tuple[str, str, int]]:
    """Migrate, add an operator and the demo job, run the Procfile's processes until the block ends;
    yield (the dashboard's URL, the operator's password, the demo job's id)."""
    redis = start_private_redis(workdir=str(work))
    env = environment(work, redis.url)
    password = secrets.token_urlsafe(12)
    log = work / "honcho.log"
    honcho = None
    try:
        run_step("Migrating a fresh database", flask_command("db", "upgrade"), env, echo=False)
        create = ("operators", "create", USERNAME, "--role", "admin", "--no-change-at-login", "--password", password)
        run_step("Creating the operator", flask_command(*create), env, echo=False)
        seeded = run_step("Seeding the demo job", flask_command("demo", "seed"), env, echo=False)
        demo = re.search(r"Demo job #(\d+)", seeded)
        if demo is None:
            raise RuntimeError(f"flask demo seed added no job: {seeded.strip()}")
        with open(log, "wb") as out:
            argv = [sys.executable, "-m", "honcho", "start", "-f", "Procfile", *PROCESSES, SANDBOX]
            honcho = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{env['PORT']}"

        def up() -> bool:
            if honcho.poll() is not None:
                raise RuntimeError(f"honcho exited with {honcho.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            return login_page_answers(url + "/") and workers_answer(env["REDIS_URL"], 2)

        print("==> Starting web, worker, io, beat and sandbox", flush=True)
        wait_for(up, timeout=180, interval=0.5, message="the dashboard and the workers to answer")
        yield url, password, int(demo[1])
    finally:
        if honcho is not None and honcho.poll() is None:
            honcho.send_signal(signal.SIGINT)
            try:
                honcho.wait(timeout=60)
            except subprocess.TimeoutExpired:
                honcho.kill()
                honcho.wait()
        redis.stop()


def upload(page: Page, action: str, file: Path) -> int:
    """Start a job from the dashboard's form for ``action``; return its id (from the job page's URL)."""
    page.goto("/")
    page.locator(f'form[action$="{action}"] input[name="file"]').set_input_files(str(file))
    page.locator(f'form[action$="{action}"] button[type="submit"]').click()
    page.wait_for_url("**/jobs/*")
    return int(page.url.rstrip("/").rsplit("/", 1)[-1])


def wait_until_ended(page: Page, job_id: int) -> None:
    """Wait on the job's page until it shows a terminal status."""
    page.goto(f"/jobs/{job_id}")
    expect(page.locator('.job-summary [data-status]:not([data-status="running"]):not([data-status="queued"])')).to_be_visible()


def slow_the_erp(page: Page) -> None:
    """Set the sandbox ERP's latency and error rate from its settings page, as an operator would."""
    page.goto("/sandbox/settings")
    for field, value in SLOW_ERP.items():
        page.locator(f"#{field}").fill(value)
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash-success")).to_be_visible()


def first_task_id(database: Path, job_id: int) -> str:
    """The Celery task id of the job's first ended make-PO step (what a task view is opened with): a
    chain's last step, which keeps its result in the backend, with a previous step and a group."""
    query = "SELECT task_id FROM task_runs WHERE job_id = ? AND task_name LIKE '%make_po' AND state = 'SUCCESS' ORDER BY id LIMIT 1"
    with sqlite3.connect(database) as connection:
        row = connection.execute(query, (job_id,))
        found = row.fetchone()
    if found is None:
        raise RuntimeError(f"job #{job_id} has no task run yet")
    return str(found[0])


def small_png(png: bytes) -> bytes:
    """The screenshot as a palette PNG (no dithering: flat colours compress, text stays crisp)."""
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def photograph(page: Page, values: dict[str, object]) -> list[tuple[Path, int]]:
    """Take every shot of PAGES; fail on a page that does not answer 200 or lacks what it shows."""
    OUT.mkdir(parents=True, exist_ok=True)
    written = []
    for shot in PAGES:
        path = shot.path.format(**values)
        response = page.goto(path)
        if response is None or response.status != 200:
            raise RuntimeError(f"{path} answered {response.status if response else 'nothing'}: no screenshot {shot.name}")
        expect(page.locator(shot.shows).first).to_be_visible()
        target = OUT / shot.name
        target.write_bytes(small_png(page.screenshot()))
        written.append((target, target.stat().st_size))
    return written


def take_screenshots(url: str, password: str, demo_job: int, work: Path) -> list[tuple[Path, int]]:
    """Drive the console in chromium: jobs from samples/, a slow ERP, then every shot of PAGES."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".who")).to_have_text(USERNAME)
        print("==> Running the sample jobs, then a PO job against a slow ERP", flush=True)
        wait_until_ended(page, upload(page, "/jobs/bills-of-materials", ROOT / "samples" / "product-codes.csv"))
        wait_until_ended(page, demo_job)
        slow_the_erp(page)
        running = work / "purchase-orders-week-49.csv"
        running.write_text("po_number\n" + "\n".join(RUNNING_POS) + "\n")
        job_id = upload(page, "/jobs/purchase-orders", running)
        page.wait_for_function(RUNNING_NOT_DONE, timeout=TIMEOUT_MS, polling=200)
        record = page.locator("tr.record a").first.get_attribute("href") or ""
        values = {"job": job_id, "record": record.rsplit("/", 1)[-1], "task": first_task_id(work / "celeriac.db", job_id)}
        print("==> Taking the screenshots", flush=True)
        written = photograph(page, values)
        browser.close()
    return written


def main() -> int:
    """Run Celeriac privately, take the screenshots, stop everything; print what was written."""
    if not Path(CHROMIUM).exists():
        print(f"screenshots: {CHROMIUM} is missing; install Debian's chromium (make chromium)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="celeriac-screenshots-"))
    try:
        with celeriac(work) as (url, password, demo_job):
            written = take_screenshots(url, password, demo_job, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for path, size in written:
        print(f"{path.relative_to(ROOT)}: {size / 1024:.0f} KiB")
    print(f"in all: {sum(size for _, size in written) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
