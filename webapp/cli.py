"""Command-line tools: ``flask operators create|ensure-admin|token`` and ``flask demo seed``."""

import secrets

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.jobs.launch import launch_job
from webapp.models import ApiToken, Job, Operator
from webapp.models.jobs import DEMO_INPUT_NAME

operators = AppGroup("operators", help="Manage the operators who use the console.")
demo = AppGroup("demo", help="Demo data for a first look.")

DEMO_PO_NUMBERS = [f"PO-{n}" for n in range(100000, 100040)]


def find_operator(username: str) -> Operator | None:
    """The operator with this username, if any."""
    return db.session.execute(db.select(Operator).filter_by(username=username)).scalar_one_or_none()


@operators.command("create")
@click.argument("username")
@click.password_option(help="The password (prompted for if not given).")
def create_operator(username: str, password: str) -> None:
    """Create an operator account."""
    if find_operator(username) is not None:
        raise click.ClickException(f"operator {username!r} already exists")
    if len(password) < 8:
        raise click.ClickException("the password must have at least 8 characters")
    operator = Operator(username=username)
    operator.set_password(password)
    db.session.add(operator)
    db.session.commit()
    click.echo(f"Operator {username!r} created.")


@operators.command("ensure-admin")
def ensure_admin() -> None:
    """Create operator 'admin' with a random password if there is no operator at all (prints it once)."""
    if db.session.execute(db.select(Operator.id).limit(1)).first() is not None:
        return
    password = secrets.token_urlsafe(12)
    operator = Operator(username="admin")
    operator.set_password(password)
    db.session.add(operator)
    db.session.commit()
    click.echo(f"Created operator 'admin' with password: {password}  (shown once; keep it)")


@operators.command("token")
@click.argument("username")
def issue_token(username: str) -> None:
    """Print a new API token for USERNAME (shown once; only its hash is stored)."""
    operator = find_operator(username)
    if operator is None:
        raise click.ClickException(f"no operator named {username!r}")
    row, token = ApiToken.issue(operator)
    db.session.add(row)
    db.session.commit()
    click.echo(token)


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
