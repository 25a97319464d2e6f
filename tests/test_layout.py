"""The layout keeps its rules: small modules, layers that import one way, a document that names real files."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = [
    *sorted((ROOT / "webapp").rglob("*.py")),
    *sorted((ROOT / "tasks").rglob("*.py")),
    ROOT / "wsgi.py",
    ROOT / "wsgi_sandbox.py",
    ROOT / "celeryconfig.py",
]
MOST_LINES = 250
DOMAIN_PACKAGES = ("webapp/jobs", "webapp/reconciliation", "webapp/monitoring", "webapp/erp_writes")


def module_name(path: Path) -> str:
    """webapp/jobs/launch.py → webapp.jobs.launch (a package's __init__ is the package)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PRODUCT}


def imported_modules(path: Path, *, nested_only: bool = False) -> set[str]:
    """The project modules ``path`` imports (``from pkg import sub`` counts as pkg.sub when sub is a module)."""
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if nested_only and node in tree.body:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in MODULES}


def is_blueprint(path: Path) -> bool:
    """A module that makes a blueprint of its own at import time."""
    return re.search(r"^bp = Blueprint\(", path.read_text(), re.M) is not None


def is_celery_entry_point(path: Path) -> bool:
    """A module that declares Celery tasks."""
    return "@shared_task" in path.read_text()


def test_no_product_module_is_longer_than_the_limit() -> None:
    long = {str(path.relative_to(ROOT)): n for path in PRODUCT if (n := len(path.read_text().splitlines())) > MOST_LINES}
    assert long == {}


def test_no_blueprint_imports_another_blueprint() -> None:
    blueprints = {name for name, path in MODULES.items() if is_blueprint(path)}
    assert "webapp.views.job_page" in blueprints and "webapp.api.jobs" in blueprints  # the check sees them
    crossing = {
        name: sorted(imported_modules(MODULES[name]) & blueprints - {name})
        for name in blueprints
        if name != "webapp.api.blueprint"  # the /api parent registers its parts
    }
    assert {name: found for name, found in crossing.items() if found} == {}


def test_the_domain_imports_no_entry_point() -> None:
    entry_points = {name for name, path in MODULES.items() if is_blueprint(path) or is_celery_entry_point(path)}
    assert "tasks.workflows" in entry_points
    domain = {
        name: path for name, path in MODULES.items() if str(path.relative_to(ROOT)).startswith(DOMAIN_PACKAGES) or name == "webapp.audit"
    }
    assert "webapp.jobs.launch" in domain
    upward = {name: sorted(imported_modules(path) & entry_points) for name, path in domain.items()}
    assert {name: found for name, found in upward.items() if found} == {}


def test_webapp_imports_its_own_modules_at_the_top() -> None:
    nested = {
        name: sorted(found)
        for name, path in MODULES.items()
        if name.startswith("webapp") and (found := imported_modules(path, nested_only=True))
    }
    assert nested == {}


def architecture_paths() -> list[str]:
    """Every file or folder path docs/ARCHITECTURE.md writes in backticks."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    paths = set()
    for quoted in re.findall(r"`([^`\s]+)`", text):
        candidate = quoted.split(":")[0].rstrip(".,")
        if "/" in candidate and re.fullmatch(r"[\w./-]+", candidate) and not candidate.startswith(("/", "http")):
            paths.add(candidate)
    return sorted(paths)


def test_the_architecture_document_names_paths() -> None:
    assert len(architecture_paths()) > 20


@pytest.mark.parametrize("path", architecture_paths())
def test_every_path_in_the_architecture_document_exists(path: str) -> None:
    assert (ROOT / path).exists(), f"docs/ARCHITECTURE.md names {path}, which does not exist"
