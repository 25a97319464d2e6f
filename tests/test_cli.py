"""The command-line tools (webapp/cli.py): the demo job, and who the pages say started it."""

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.forms import csrf_token
from tests.jobs import start
from tests.schedules import add_schedule
from webapp.extensions import db
from webapp.jobs import schedule_fires
from webapp.models import Job, utcnow

STARTED_BY = re.compile(r"<dt>Started by</dt><dd>([^<]*)</dd>")


def started_by_on_the_page(client: FlaskClient, job_id: int) -> str:
    """What the job page says under "Started by"."""
    match = STARTED_BY.search(client.get(f"/jobs/{job_id}").get_data(as_text=True))
    assert match is not None, "the job page has no Started by"
    return match.group(1)


def test_the_demo_job_says_the_demo_seed_started_it(app: Flask, client: FlaskClient, no_relay: None) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0 and "Demo job #" in result.output
    with app.app_context():
        job = db.session.execute(db.select(Job)).scalar_one()
        assert job.created_by is None and job.total == 40
    assert started_by_on_the_page(client, job.id) == "demo seed (flask demo seed)"
    dashboard = client.get("/").get_data(as_text=True)
    assert "<td>demo seed (flask demo seed)</td>" in dashboard and "<td>schedule</td>" not in dashboard
    again = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert "no demo job added" in again.output


def test_a_schedules_job_and_an_operators_job_say_who_started_them(app: Flask, client: FlaskClient, no_relay: None) -> None:
    with app.app_context():
        schedule_id = add_schedule()
        scheduled = schedule_fires.fire(schedule_id, utcnow(), "schedule").job_id
    unattended = start(app, ["PO-100001"])
    upload = client.post("/jobs/bills-of-materials", data={"csrf_token": csrf_token(client.get("/").data), "keys": "P-10001"})
    own = int(upload.headers["Location"].rsplit("/", 1)[-1])
    assert started_by_on_the_page(client, scheduled) == "schedule"
    assert started_by_on_the_page(client, unattended) == "no operator (command line)"
    assert started_by_on_the_page(client, own) == "olga"
