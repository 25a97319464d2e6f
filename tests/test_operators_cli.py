"""flask operators …: the first admin (changes the printed password at first login), roles,
deactivation, password resets and API tokens from the terminal, each change audited as "cli"."""

from flask import Flask

from tests.roles import log_in
from webapp.extensions import db
from webapp.models import ApiToken, AuditEvent, Operator


def cli(app: Flask, *args: str, input: str | None = None) -> tuple[int, str]:
    """Run ``flask operators ARGS``; return the exit code and what it printed."""
    result = app.test_cli_runner().invoke(args=["operators", *args], input=input)
    return result.exit_code, result.output


def row(app: Flask, username: str) -> Operator:
    """The operator's row now (detached)."""
    with app.app_context():
        found = db.session.execute(db.select(Operator).filter_by(username=username)).scalar_one()
        db.session.expunge(found)
        return found


def api_status(app: Flask, token: str) -> int:
    """The status of an API read with ``token``."""
    return app.test_client().get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code


def test_the_first_admin_is_an_admin_who_changes_the_printed_password(app: Flask) -> None:
    code, printed = cli(app, "ensure-admin")
    assert code == 0 and "Created admin 'admin' with password: " in printed
    password = printed.split("password: ")[1].split()[0]
    admin = row(app, "admin")
    assert admin.role == "admin" and admin.must_change_password
    assert cli(app, "ensure-admin") == (0, "")  # once only
    client = log_in(app, "admin", password)
    assert client.get("/").headers["Location"].endswith("/account/password")


def test_operators_from_the_terminal(app: Flask) -> None:
    assert cli(app, "create", "ada", "--role", "admin", "--no-change-at-login", "--password", "a long admin password")[0] == 0
    assert cli(app, "create", "vera", "--role", "viewer", "--password", "a long viewer password")[0] == 0
    code, printed = cli(app, "create", "shorty", "--password", "short")
    assert code == 1 and "at least 12 characters" in printed
    assert cli(app, "list")[1] == "ada\tadmin\nvera\tviewer must-change-password\n"
    assert cli(app, "set-role", "vera", "operator")[0] == 0 and row(app, "vera").role == "operator"
    code, printed = cli(app, "set-role", "ada", "viewer")
    assert code == 1 and "last active admin" in printed
    code, printed = cli(app, "reset-password", "vera")
    assert code == 0 and "New password of 'vera'" in printed and row(app, "vera").must_change_password
    version = row(app, "vera").session_version
    assert cli(app, "deactivate", "vera")[0] == 0
    assert not row(app, "vera").active and row(app, "vera").session_version > version
    assert cli(app, "reactivate", "vera")[0] == 0 and row(app, "vera").active
    with app.app_context():
        events = [(e.actor, e.action) for e in db.session.execute(db.select(AuditEvent).order_by(AuditEvent.id)).scalars()]
    assert events == [
        ("cli", "operator_create"),
        ("cli", "operator_create"),
        ("cli", "operator_role"),
        ("cli", "password_reset"),
        ("cli", "operator_deactivate"),
        ("cli", "operator_reactivate"),
    ]


def test_tokens_from_the_terminal(app: Flask) -> None:
    cli(app, "create", "ada", "--role", "admin", "--no-change-at-login", "--password", "a long admin password")
    code, token = cli(app, "token", "ada", "--name", "backup script", "--expires-days", "7")
    token = token.strip()
    assert code == 0 and api_status(app, token) == 200
    with app.app_context():
        token_id = db.session.execute(db.select(ApiToken.id)).scalar_one()
    listing = cli(app, "tokens", "ada")[1]
    assert f"{token_id}\tada\tbackup script\t" in listing and "127.0.0.1" in listing and token not in listing
    assert cli(app, "name-token", str(token_id), "backups")[0] == 0 and "\tbackups\t" in cli(app, "tokens")[1]
    assert cli(app, "expire-token", str(token_id))[0] == 0 and api_status(app, token) == 401
    assert cli(app, "revoke-token", str(token_id))[0] == 0
    code, printed = cli(app, "revoke-token", "999")
    assert code == 1 and "no API token #999" in printed
    with app.app_context():
        actions = list(db.session.execute(db.select(AuditEvent.action).order_by(AuditEvent.id)).scalars())
    assert actions == ["operator_create", "token_issue", "token_name", "token_expire", "token_revoke"]
