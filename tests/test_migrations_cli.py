"""``flask db …`` (webapp/migrations.py): Flask-Migrate's commands work, and only the process that
runs one loads Flask-Migrate and Alembic; web and worker processes never do."""

import os
import subprocess
import sys
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("flask_migrate", "alembic", "mako")


def run_python(code: str, env: dict[str, str]) -> str:
    """What ``code`` prints in a fresh interpreter at the project's root."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def app_env(tmp_path: Path) -> dict[str, str]:
    """What the app needs to load, on a SQLite file of its own."""
    return dict(
        os.environ,
        SECRET_KEY="test-secret",
        ERP_API_URL="http://127.0.0.1:9/api",
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
    )


def test_a_process_that_loads_the_app_as_web_and_workers_do_loads_no_alembic(tmp_path: Path) -> None:
    code = "import sys, wsgi\nwsgi.celery_app.loader.import_default_modules()\nprint(*sys.modules)"
    loaded = set(run_python(code, app_env(tmp_path)).split())
    assert "tasks.workflows" in loaded  # the worker's tasks were imported
    assert sorted(name for name in loaded if name.split(".")[0] in HEAVY) == []


def test_flask_db_upgrade_then_current_through_the_command_line(tmp_path: Path) -> None:
    env = app_env(tmp_path)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "db"]
    upgrade = subprocess.run([*flask, "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    assert "Running upgrade" in upgrade.stderr and "setup plugin" not in upgrade.stderr + upgrade.stdout
    heads = subprocess.run([*flask, "heads"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    head = heads.stdout.split()[0]
    current = subprocess.run([*flask, "-d", "migrations", "current"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert current.returncode == 0 and f"{head} (head)" in current.stdout


def test_the_db_group_takes_its_options_and_says_a_wrong_folder(app: Flask) -> None:
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["db", "--help"])
    assert listed.exit_code == 0 and "upgrade" in listed.output and "--directory" in listed.output
    wrong = runner.invoke(args=["db", "-d", "no-such-folder", "current"])
    assert wrong.exit_code == 1
