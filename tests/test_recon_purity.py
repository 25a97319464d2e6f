"""The reconciliation reader is pure Python: importing any of it loads no web framework, database layer or Celery.

The worker's helper process imports the reader alone, and its memory is that of what it imports.
"""

import pkgutil
import subprocess
import sys
from pathlib import Path

import webapp.reconciliation.reader

FORBIDDEN = ("flask", "sqlalchemy", "flask_sqlalchemy", "celery", "kombu", "werkzeug")
ROOT = Path(__file__).resolve().parent.parent


def reader_modules() -> list[str]:
    """The name of every module of the reader package, those of its subpackages included."""
    package = webapp.reconciliation.reader
    return sorted(info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."))


def modules_loaded_by(names: list[str]) -> set[str]:
    """What ``sys.modules`` holds in a fresh interpreter once ``names`` are imported."""
    code = f"import importlib, sys\nfor name in {names!r}:\n    importlib.import_module(name)\nprint(*sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_importing_every_reader_module_loads_no_web_database_or_celery_package() -> None:
    names = reader_modules()
    assert {"webapp.reconciliation.reader.read", "webapp.reconciliation.reader.two_cores.later_part"} <= set(names)
    loaded = modules_loaded_by(names)
    assert set(names) <= loaded
    assert sorted(name for name in loaded if name.split(".")[0] in FORBIDDEN) == []
