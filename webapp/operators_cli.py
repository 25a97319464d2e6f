"""``flask operators …``: list, create, roles, deactivate and reactivate, passwords, API tokens.

Every change goes through webapp.accounts, which audits it with the actor "cli".
"""

from datetime import timedelta

import click
from flask.cli import AppGroup

from webapp.accounts import operators as accounts
from webapp.accounts import tokens
from webapp.models import ApiToken, Operator, utcnow
from webapp.models.operators import OPERATOR, ROLES

operators = AppGroup("operators", help="Manage the operators who use the console, and their API tokens.")
CLI = "cli"


def named(username: str) -> Operator:
    """The operator named ``username``, or a click error."""
    operator = accounts.find(username)
    if operator is None:
        raise click.ClickException(f"no operator named {username!r}")
    return operator


def token_row(token_id: int) -> ApiToken:
    """The token with this id, or a click error."""
    try:
        return tokens.find_token(token_id)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc


def when(value: object) -> str:
    """A timestamp for the terminal (UTC), or '-'."""
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


@operators.command("list")
def list_operators() -> None:
    """List operators: username, role, whether active, whether their password must change."""
    for operator in accounts.all_operators():
        flags = ("" if operator.active else " inactive") + (" must-change-password" if operator.must_change_password else "")
        click.echo(f"{operator.username}\t{operator.role}{flags}")


@operators.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default=OPERATOR, show_default=True)
@click.option("--change-at-login/--no-change-at-login", default=True, help="Whether they must change this password when they log in.")
@click.password_option(help="The password (prompted for if not given).")
def create_operator(username: str, role: str, change_at_login: bool, password: str) -> None:
    """Create an operator account with a role."""
    try:
        accounts.create(username, role, password, CLI, must_change_password=change_at_login)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Operator {username!r} created with role {role}.")


@operators.command("ensure-admin")
def ensure_admin() -> None:
    """Create the admin 'admin' with a random password if there is no operator at all (prints it once)."""
    password = accounts.ensure_first_admin()
    if password is not None:
        click.echo(f"Created admin 'admin' with password: {password}  (shown once; you will be asked to change it at first login)")


def change(action: str, username: str, apply) -> None:  # type: ignore[no-untyped-def]
    """Apply a change to the operator named ``username``; refusals become click errors."""
    try:
        apply(named(username))
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Operator {username!r}: {action}.")


@operators.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
def set_role(username: str, role: str) -> None:
    """Give USERNAME another role."""
    change(f"role {role}", username, lambda operator: accounts.set_role(operator, role, CLI))


@operators.command("deactivate")
@click.argument("username")
def deactivate(username: str) -> None:
    """Stop USERNAME: sessions end, API tokens are revoked."""
    change("deactivated, sessions ended, tokens revoked", username, lambda operator: accounts.deactivate(operator, CLI))


@operators.command("reactivate")
@click.argument("username")
def reactivate(username: str) -> None:
    """Let USERNAME log in again (old tokens stay revoked)."""
    change("reactivated", username, lambda operator: accounts.reactivate(operator, CLI))


@operators.command("reset-password")
@click.argument("username")
def reset_password(username: str) -> None:
    """Print a new random password for USERNAME (to change at their next login); their sessions end."""
    password = accounts.reset_password(named(username), CLI)
    click.echo(f"New password of {username!r}: {password}  (shown once; to be changed at the next login)")


@operators.command("token")
@click.argument("username")
@click.option("--name", default="", help="What the token is for.")
@click.option("--expires-days", type=click.IntRange(min=1), default=None, help="Stop working after this many days.")
def issue_token(username: str, name: str, expires_days: int | None) -> None:
    """Print a new API token for USERNAME (shown once; only its hash is stored)."""
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
    try:
        _, token = tokens.issue(named(username), name, expires_at, CLI)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(token)


@operators.command("tokens")
@click.argument("username", required=False)
def list_tokens(username: str | None) -> None:
    """List API tokens (of USERNAME, or everyone's): id, operator, name, created, expires, revoked, last used at and from."""
    people = [named(username)] if username else accounts.all_operators()
    click.echo("id\toperator\tname\tcreated\texpires\trevoked\tlast used\tfrom")
    for operator in people:
        for row in tokens.tokens_of(operator):
            fields = (row.id, operator.username, row.name or "-", when(row.created_at), when(row.expires_at), when(row.revoked_at))
            click.echo("\t".join(map(str, fields)) + f"\t{when(row.last_used_at)}\t{row.last_used_from or '-'}")


@operators.command("name-token")
@click.argument("token_id", type=int)
@click.argument("name")
def name_token(token_id: int, name: str) -> None:
    """Name token TOKEN_ID."""
    tokens.rename(token_row(token_id), name, CLI)
    click.echo(f"Token #{token_id} named {name!r}.")


@operators.command("expire-token")
@click.argument("token_id", type=int)
@click.option("--days", type=click.IntRange(min=0), default=0, help="Days from now (0: now).")
def expire_token(token_id: int, days: int) -> None:
    """Make token TOKEN_ID stop working now, or in --days days."""
    tokens.expire(token_row(token_id), utcnow() + timedelta(days=days), CLI)
    click.echo(f"Token #{token_id} expires in {days} day(s)." if days else f"Token #{token_id} expired.")


@operators.command("revoke-token")
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke token TOKEN_ID for good."""
    tokens.revoke(token_row(token_id), CLI)
    click.echo(f"Token #{token_id} revoked.")
