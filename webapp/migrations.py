"""``flask db …``: Flask-Migrate's commands, set up only in the process that runs one of them.

Flask-Migrate imports Alembic, Mako and Pygments when it is imported: about 11 MB of memory in
every process that loads the app. Web and worker processes never migrate, and a worker pays it
twice (its prefork parent and each child), so they no longer import it. The ``db`` command group
is registered on every app and loads Flask-Migrate when a ``flask db`` command is looked up; code
that migrates without the command line (tests, the benchmark's set-up) calls enable() first.
"""

import logging
from pathlib import Path
from typing import Any

import click
from flask import Flask

from webapp.extensions import db

MIGRATIONS_FOLDER = str(Path(__file__).resolve().parent.parent / "migrations")


def enable(app: Flask) -> None:
    """Bind Flask-Migrate to the app (once), so that flask_migrate.upgrade() and the ``db``
    commands find its settings in ``app.extensions["migrate"]``."""
    if "migrate" in app.extensions:
        return
    # Alembic logs a line per plugin at INFO when it is imported; imported at start-up, before any
    # logging was set up, they were never shown, and a `flask db` command should not print them now.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from flask_migrate import Migrate  # heavy (Alembic): imported only where migrations run

    Migrate(app, db, directory=MIGRATIONS_FOLDER, render_as_batch=True)


def upgrade(app: Flask) -> None:
    """Bring the app's database to the latest migration, as ``flask db upgrade`` does."""
    enable(app)
    from flask_migrate import upgrade as upgrade_to_head  # see enable()

    with app.app_context():
        upgrade_to_head(directory=MIGRATIONS_FOLDER)


class MigrationCommands(click.Group):
    """The ``db`` group whose commands are Flask-Migrate's, loaded on first use."""

    def __init__(self, app: Flask) -> None:
        super().__init__("db", help="Database migrations (Flask-Migrate, with Alembic).")
        self.app = app

    def commands_of_flask_migrate(self) -> click.Group:
        enable(self.app)
        from flask_migrate.cli import db as commands  # see enable()

        return commands

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Take the group's own options (-d, -x) and callback from Flask-Migrate's group before
        parsing: its commands read what that callback keeps."""
        commands = self.commands_of_flask_migrate()
        self.params, self.callback = commands.params, commands.callback
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self.commands_of_flask_migrate().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Any:
        return self.commands_of_flask_migrate().get_command(ctx, cmd_name)


def register(app: Flask) -> None:
    """Give the app its ``flask db`` group without importing Flask-Migrate."""
    app.cli.add_command(MigrationCommands(app))
