"""Nothing assumes one host: web, `worker`, `io` and `beat` each run in a directory of their own
(working directory, TMPDIR, HOME, instance folder, UPLOAD_FOLDER), on RabbitMQ (a virtual host
of this module's own) and the tests' database and Redis, which are all they share. A PO, a BOM and
a reconciliation job, started over HTTP as an operator would, run to the end with every ERP row
written once, and each process leaves nothing on its disk but beat's own schedule file.

On SQLite (no DATABASE_URL) the processes still share its one file: SQLite is for one machine.
"""

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from celery import Celery
from flask import Flask

from devtools.localrabbit import Vhosts
from devtools.uploads import confirm, post_upload
from devtools.waiting import wait_for
from devtools.web import csrf_token, gunicorn, logged_in
from devtools.workers import broker_probe
from tests.jobs import bom_ledger, finished_job
from tests.machines import Machine
from tests.procfile import procfile_process
from tests.recon_jobs import DATE_RANGE, job_id_of, job_in
from webapp.extensions import db
from webapp.models import OutboxMessage, PurchaseOrder, PurchaseOrderLine, SalesOrder
from webapp.sandbox.data import bill_of_materials, purchase_order

PO_NUMBERS = [f"PO-{n}" for n in range(100300, 100312)]
CODES = [f"P-{n}" for n in range(10300, 10310)]
PROCESSES = ("web", "worker", "io", "beat")
# Unset here so the Procfile's own default applies: beat's schedule file in its working directory.
PROCFILE_DEFAULTS = ("BEAT_SCHEDULE_FILE",)


@pytest.fixture(scope="module")
def rabbitmq_broker(rabbitmq_server: Vhosts) -> Iterator[str]:
    """RabbitMQ (RABBITMQ_URL's, else the session's private node), on a virtual host of this module's own (deleted after)."""
    name = f"celeriac_test_multihost_{os.getpid()}"
    yield rabbitmq_server.add(name)
    rabbitmq_server.delete(name)


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Machine]:
    """A machine of its own for each process, and a directory for their logs."""
    base = tmp_path_factory.mktemp("hosts")
    (base / "logs").mkdir()
    return {name: Machine.make(base / name) for name in PROCESSES}


def process_env(worker_env: dict[str, str], broker: str, machine: Machine) -> dict[str, str]:
    """The tests' settings on RabbitMQ, in ``machine``'s directories, with the Procfile's defaults."""
    env = {name: value for name, value in worker_env.items() if name not in PROCFILE_DEFAULTS}
    return machine.env(dict(env, BROKER_URL=broker, COOKIE_SECURE="0", WORKER_CONCURRENCY="2", IO_CONCURRENCY="8"))


def answers_ping(probe: Celery, prefix: str) -> bool:
    """Whether a worker whose node name starts with ``prefix`` answers a ping over the broker."""
    replies = probe.control.ping(timeout=0.5) or []
    return any(name.startswith(prefix) for reply in replies for name in reply)


def schedule_files(machine: Machine) -> list[Path]:
    """Beat's schedule file(s) in the machine's working directory (shelve may add a suffix)."""
    return sorted(machine.place("cwd").glob("celerybeat-schedule*"))


@pytest.fixture(scope="module")
def hosts(worker_env: dict[str, str], sandbox_server: str, rabbitmq_broker: str, machines: dict[str, Machine]) -> Iterator[str]:
    """The Procfile's worker, io and beat processes and gunicorn, each on its machine; yields the site's URL."""
    env = {name: process_env(worker_env, rabbitmq_broker, machine) for name, machine in machines.items()}
    logs = machines["web"].root.parent / "logs"
    probe = broker_probe(env["worker"])
    with ExitStack() as stack:
        stack.callback(probe.close)
        for name, ready in (
            ("worker", lambda: answers_ping(probe, "worker@")),
            ("io", lambda: answers_ping(probe, "io@")),
            ("beat", lambda: bool(schedule_files(machines["beat"]))),
        ):
            stack.enter_context(procfile_process(name, env[name], logs / f"{name}.log", ready, cwd=machines[name].place("cwd")))
        base, _ = stack.enter_context(gunicorn(env["web"], logs / "web.log", cwd=machines["web"].place("cwd")))
        yield base


def post_keys(
    session: requests.Session, base: str, path: str, files: dict[str, tuple[str, bytes, str]] | None = None, **fields: str
) -> int:
    """Post a launch form with the dashboard's CSRF token; return the id of the job it started."""
    token = csrf_token(session.get(f"{base}/", timeout=30).text)
    response = session.post(f"{base}{path}", data={"csrf_token": token, **fields}, files=files, allow_redirects=False, timeout=60)
    assert response.status_code == 302, response.text[:1000]
    return job_id_of(response.headers["Location"])


def all_dispatched(app: Flask, job_id: int) -> bool:
    """Whether every outbox message of the job was published."""
    with app.app_context():
        statuses = db.session.execute(db.select(OutboxMessage.status).where(OutboxMessage.job_id == job_id)).scalars().all()
    return bool(statuses) and set(statuses) == {"dispatched"}


def beats_tasks_reach_the_worker(machines: dict[str, Machine]) -> None:
    """This beat sends the outbox relay and the sweep over RabbitMQ, and both succeed on the worker."""
    logs = machines["web"].root.parent / "logs"

    def succeeded(task: str) -> bool:
        worker_log = (logs / "worker.log").read_text(errors="replace")
        return re.search(rf"Task tasks\.workflows\.{task}\[[^]]+\] succeeded", worker_log) is not None

    wait_for(lambda: succeeded("sweep") and succeeded("relay_outbox"), timeout=30, message="the sweep and relay to succeed")
    beat_log = (logs / "beat.log").read_text(errors="replace")
    assert "Sending due task relay-outbox" in beat_log and "Sending due task sweep" in beat_log


def nothing_left_but_beats_schedule(machines: dict[str, Machine]) -> None:
    """No process left a file on its machine, but beat its schedule (in its working directory)."""
    left = {name: machine.files() for name, machine in machines.items()}
    expected = [str(path.relative_to(machines["beat"].root)) for path in schedule_files(machines["beat"])]
    assert expected, "beat keeps its schedule in its own working directory"
    assert left == {"web": [], "worker": [], "io": [], "beat": expected}


def test_a_po_job_runs_to_the_end_on_processes_that_share_no_disk(
    app: Flask, hosts: str, machines: dict[str, Machine], operator: tuple[str, str]
) -> None:
    """A CSV of 12 PO numbers through the form: every PO and line written once; this beat relays and sweeps."""
    session = logged_in(hosts, *operator)
    content = ("po_number\n" + "\n".join(PO_NUMBERS) + "\n").encode()
    job_id = post_keys(session, hosts, "/jobs/purchase-orders", files={"file": ("pos.csv", content, "text/csv")})
    job = finished_job(app, job_id)
    assert job.status == "succeeded"
    with app.app_context():
        numbers = db.session.execute(db.select(PurchaseOrder.po_number)).scalars().all()
        lines = db.session.execute(db.select(db.func.count()).select_from(PurchaseOrderLine)).scalar_one()
    assert sorted(numbers) == PO_NUMBERS
    assert lines == sum(len(purchase_order(number)["lines"]) for number in PO_NUMBERS)
    assert all_dispatched(app, job_id)
    beats_tasks_reach_the_worker(machines)
    nothing_left_but_beats_schedule(machines)


def test_a_bom_job_runs_to_the_end_on_processes_that_share_no_disk(
    app: Flask, hosts: str, machines: dict[str, Machine], operator: tuple[str, str]
) -> None:
    """10 typed product codes: every product and component written once."""
    session = logged_in(hosts, *operator)
    job = finished_job(app, post_keys(session, hosts, "/jobs/bills-of-materials", keys="\n".join(CODES)))
    assert job.status == "succeeded"
    products, components, pairs = bom_ledger(app)
    assert products == CODES
    assert components == pairs == sum(len(bill_of_materials(code)["components"]) for code in CODES)
    nothing_left_but_beats_schedule(machines)


def test_a_reconciliation_reads_on_the_worker_and_confirms_through_the_web(
    app: Flask, hosts: str, machines: dict[str, Machine], operator: tuple[str, str], tmp_path: Path
) -> None:
    """A report uploaded to the web process is read on the worker (from the stored bytes, not a
    disk they share), previewed, confirmed over HTTP, and its two sales orders written once."""
    report = tmp_path / "date-range.csv"
    report.write_bytes(DATE_RANGE)
    session = logged_in(hosts, *operator)
    response = post_upload(session, hosts, report)
    assert response.status_code == 302, response.text[:1000]
    job_id = job_id_of(response.headers["Location"])
    job_in(app, job_id, "awaiting_confirmation")
    assert confirm(session, hosts, job_id).status_code == 302
    assert job_in(app, job_id, "succeeded", "completed_with_failures", "failed").status == "succeeded"
    with app.app_context():
        assert sorted(db.session.execute(db.select(SalesOrder.state)).scalars()) == ["CA", "WA"]
    nothing_left_but_beats_schedule(machines)
