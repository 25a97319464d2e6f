"""Command-line tools: ``flask operators …`` (webapp.operators_cli) and ``flask demo seed``."""

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.jobs.launch import launch_job
from webapp.models import Job
from webapp.models.jobs import DEMO_INPUT_NAME
from webapp.operators_cli import operators

demo = AppGroup("demo", help="Demo data for a first look.")

DEMO_PO_NUMBERS = [f"PO-{n}" for n in range(100000, 100040)]


@demo.command("seed")
def seed() -> None:
    """Start one small demo PO job, unless a job exists already."""
    if db.session.execute(db.select(Job.id).limit(1)).first() is not None:
        click.echo("Jobs exist already; no demo job added.")
        return
    text = "po_number\n" + "\n".join(DEMO_PO_NUMBERS) + "\n"
    job = launch_job("purchase_orders", "upload", DEMO_PO_NUMBERS, None, input_name=DEMO_INPUT_NAME, input_text=text)
    click.echo(f"Demo job #{job.id} queued with {job.total} purchase orders.")


def register(app: Flask) -> None:
    """Attach the command groups to the app."""
    app.cli.add_command(operators)
    app.cli.add_command(demo)
